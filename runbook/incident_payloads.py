"""What people send an incident: one JSON object per signal (the UI) or update (the CLI) of the
same name. Bounded and strict: an unknown field is refused, never dropped."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from runbook import limits
from runbook.action_items import MOST_ITEMS, ActionItemPayload
from runbook.incident_terms import CommanderMitigation, UpdateStatus
from runbook.models import Payload, ProvablePayload
from runbook.severity import Severity

# Signals (and updates of the same name) -------------------------------------------------------


class AcknowledgePayload(ProvablePayload):
    """`acknowledge`: `{"user": "bob", "note": "on it"}`."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    note: str = Field("", max_length=limits.NOTE)


class UpdatePayload(Payload):
    """`update`: `{"user": "alice", "status": "Mitigating", "action": "rolling back", "eta": "30 minutes"}`."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    status: UpdateStatus
    action: str = Field(min_length=1, max_length=limits.NOTE)
    eta: str = Field("Unknown", min_length=1, max_length=limits.ETA)


class MitigatePayload(ProvablePayload):
    """`mitigate`: `{"user": "alice", "action": "scale_up", "services": ["market-svc"], "reason": "CPU at 97%"}`.

    No services: the incident's own (all services when it named none)."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    action: CommanderMitigation
    services: list[Annotated[str, Field(max_length=limits.NAME)]] = Field(default_factory=list)
    reason: str = Field("", max_length=limits.NOTE)


class ResolvePayload(Payload):
    """`resolve`: `{"user": "alice", "resolution": "rolled back", "root_cause": "...", "follow_up": ["..."]}`.

    Taken once the affected services are seen healthy; `"force": true` with a `force_reason`
    resolves all the same, on the record. `improvements`: what the post-mortem should improve."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    resolution: str = Field(min_length=1, max_length=limits.POSTMORTEM)
    root_cause: str = Field(min_length=1, max_length=limits.POSTMORTEM)
    impact: str = Field("", max_length=limits.POSTMORTEM)
    # Action items: plain texts as before, or {"text", "owner", "due"} (runbook/action_items.py).
    follow_up: list[ActionItemPayload] = Field(default_factory=list, max_length=MOST_ITEMS)
    improvements: list[Annotated[str, Field(min_length=1, max_length=limits.POSTMORTEM)]] = Field(default_factory=list)
    force: bool = False
    force_reason: str = Field("", max_length=limits.NOTE)

    @model_validator(mode="after")
    def _force_has_a_reason(self) -> ResolvePayload:
        if self.force and not self.force_reason.strip():
            raise ValueError("force needs a force_reason: why resolve what is not seen healthy")
        if self.force_reason and not self.force:
            raise ValueError('force_reason without "force": true')
        return self


class SeverityPayload(Payload):
    """`severity`: `{"user": "alice", "severity": "P1", "reason": "all checkouts fail now"}`."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    severity: Severity
    reason: str = Field("", max_length=limits.NOTE)
