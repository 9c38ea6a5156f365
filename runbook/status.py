"""What every procedure answers: its status (the `status` query) and the outcome of a decision
(an update), and which decisions may carry a proof. Plain dataclasses, not pydantic models, so that
`runbook status` and `runbook approve` read them with the SDK's own JSON converter and start without
pydantic (within 1.3× of a bare SDK client: bench/cli_speed.py). The worker's pydantic converter writes them,
and validates them wherever they are read back (a continued incident carries its status), as it
does its models."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    RESOLVED = "RESOLVED"


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class StepRecord:
    name: str
    state: StepState = StepState.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: str = ""


@dataclass
class TimelineEntry:
    at: datetime
    actor: str
    event: str
    detail: str = ""
    # A person's decision: how they were verified ("SSH key SHA256:…", "Slack U…", "unverified").
    verified: str = ""


@dataclass
class Refusal:
    at: datetime
    handler: str
    payload: str
    reason: str


@dataclass
class ProcedureStatus:
    """What the `status` query returns for every procedure: the whole state, for the CLI and UI."""

    id: str
    kind: str
    state: State = State.RUNNING
    environment: str = ""
    requested_by: str = ""
    step: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None


@dataclass
class HandlerOutcome:
    """What an update handler answers the CLI at once: accepted, or refused and why."""

    accepted: bool
    reason: str = ""


# The decisions that may carry a proof of who made them (runbook/proof.py); the others (check,
# update, resolve, done, ...) are not four eyes.
DECISIONS_WITH_PROOF = ("approve", "reject", "decide", "acknowledge", "mitigate")


def jsonable(value: Any) -> Any:
    """A status or an outcome as JSON writes it, as the worker's converter wrote it: states by
    their value, times in ISO 8601 with Z for UTC."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: jsonable(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
