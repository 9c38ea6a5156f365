"""The pydantic models that cross workflow, activity and CLI boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import AliasChoices, ConfigDict, Field

from runbook.base import Model
from runbook.proof import Proof
from runbook.status import State


class Payload(Model):
    """What a person sends with a signal (the UI) or an update of the same name (the CLI). A field
    the model does not know is refused, never dropped: a misspelt "passed" must not count as unsent."""

    model_config = ConfigDict(extra="forbid")
    # The field naming who acts: resolved to a person of [people] before the payload is taken.
    person_field: ClassVar[str] = ""

    @property
    def person(self) -> str:
        return str(getattr(self, self.person_field)) if self.person_field else ""


class ProvablePayload(Payload):
    """A decision that may carry a proof of who made it (runbook/proof.py); required when
    [approvals] require = "verified"."""

    proof: Proof | None = None


class Undecodable(Model):
    """What a handler receives in place of a payload that could not be read (undecryptable, not
    JSON, nested too deep): it is refused and recorded like any bad payload. Made only by the
    worker's converter, never from JSON, so a sender cannot forge one."""

    reason: str


# Health checks ---------------------------------------------------------------------------------

Verdict = Literal["pass", "fail"]


class CheckResult(Model):
    name: str
    url: str
    http_status: int | None = None
    latency_ms: float | None = None
    budget_ms: float | None = None
    verdict: Verdict
    reason: str = ""
    too_slow: bool = False

    @property
    def over_budget(self) -> bool:
        """Answered, but slower than its budget: a performance finding. A timeout is no answer at
        all, so a fleet that never answers is unhealthy, not merely slow."""
        return self.too_slow and self.http_status is not None


class HealthCheckRequest(Model):
    environment: str
    full: bool = False


class HealthReport(Model):
    environment: str
    full: bool
    checks: list[CheckResult]
    integrations: dict[str, str] = Field(default_factory=dict)
    wall_ms: float = 0.0

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if check.verdict == "fail"]

    @property
    def healthy(self) -> bool:
        return not self.failures


# Metrics ---------------------------------------------------------------------------------------


class MetricsRequest(Model):
    environment: str
    services: list[str]
    window: timedelta
    # A deployment judges only what happened since its change went live: the window starts no
    # earlier than this (and no earlier than `window` ago). None: the last `window`.
    since: datetime | None = None


class ServiceMetrics(Model):
    service: str
    requests: float = 0.0
    errors_5xx: float = 0.0
    avg_response_ms: float = 0.0
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    database_errors: float = 0.0
    # Unknown is not healthy: a figure that could not be observed keeps its 0.0 above and is named
    # here, by field, with the reason (metric, dimensions, window). Empty in results recorded before.
    no_data: dict[str, str] = Field(default_factory=dict)

    @property
    def error_rate_percent(self) -> float:
        return 100.0 * self.errors_5xx / self.requests if self.requests else 0.0


class MetricsReport(Model):
    environment: str
    window: timedelta
    services: list[ServiceMetrics]


class LogSearchRequest(Model):
    environment: str
    services: list[str]
    word: str
    window: timedelta
    # As MetricsRequest.since: lines logged before the change went live are not its lines.
    since: datetime | None = None


class LogMatches(Model):
    counts: dict[str, int]
    samples: list[str] = Field(default_factory=list)


# Slack -----------------------------------------------------------------------------------------


class SlackButton(Model):
    """A Block Kit button under a message: its action names the decision (runbook/buttons.py),
    its value the workflow the gateway sends it to."""

    action_id: str
    text: str
    value: str
    style: Literal["primary", "danger"] | None = None


class SlackMessage(Model):
    channel: str
    text: str
    buttons: list[SlackButton] = Field(default_factory=list)


class SlackSettled(Model):
    """A message whose buttons a decision made: its buttons give way to the outcome."""

    channel: str
    ts: str
    text: str


class SlackPosted(Model):
    channel: str
    ts: str


# ECS and rollbacks -----------------------------------------------------------------------------


class Revision(Model):
    arn: str
    family: str
    revision: int
    version: str


class ServiceTarget(Model):
    service: str
    current: Revision
    target: Revision
    desired_count: int = 0


class PlanRequest(Model):
    environment: str
    services: list[str]
    version: str | None = None
    # Exact revisions to return to, by service: a deployment knows what it replaced.
    targets: dict[str, str] = Field(default_factory=dict)
    # Every service, as `rollback.sh production all`: one with nothing earlier to return to stays as
    # it is, rather than failing the others' rollback.
    whole_environment: bool = False


class RollbackPlan(Model):
    environment: str
    targets: list[ServiceTarget] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    # Left as they are (a whole environment's rollback), each with why.
    unchanged: list[str] = Field(default_factory=list)


class UpdateServiceRequest(Model):
    environment: str
    service: str
    task_definition_arn: str


class UpdateServiceResult(Model):
    deployment_id: str
    already_applied: bool


class RolloutRequest(Model):
    environment: str
    service: str
    task_definition_arn: str
    # Histories from before the timeout was a duration carry it as seconds.
    timeout: timedelta = Field(timedelta(minutes=10), validation_alias=AliasChoices("timeout", "timeout_seconds"))


class RolloutResult(Model):
    service: str
    state: Literal["COMPLETED", "FAILED"]
    reason: str = ""
    seconds: float = 0.0


class ServiceHealthRequest(Model):
    environment: str
    service: str


class DesiredCountRequest(Model):
    environment: str
    service: str
    desired_count: int


# One change per environment --------------------------------------------------------------------


class LockRequest(Model):
    environment: str
    holder_id: str
    kind: str
    # A rollback may take the environment from a deployment in flight (DESIGN.md: pre-emption).
    take_over_from: str = ""
    reason: str = ""


class LockHolder(Model):
    id: str
    kind: str
    since: datetime
    # Whom the lock was taken from, and why: what a pre-empted deployment asks to be sure it was.
    taken_from: str = ""
    reason: str = ""


class LockQuery(Model):
    environment: str


class LockState(Model):
    holder: LockHolder | None = None


class LockGrant(Model):
    granted: bool
    holder: LockHolder | None = None


class PreemptRequest(Model):
    """Take an environment from a deployment in flight: the lock passes with the reason, then the
    deployment is cancelled and learns from the lock why."""

    environment: str
    holder_id: str
    kind: str
    reason: str


class LockRelease(Model):
    environment: str
    holder_id: str


class RollbackRequest(Model):
    environment: str
    services: list[str]
    version: str | None = None
    reason: str
    requested_by: str
    channel: str
    # Set when a deployment or incident that already holds the environment runs this as a child.
    lock_holder: str = ""
    targets: dict[str, str] = Field(default_factory=dict)
    whole_environment: bool = False
    # Histories from before the timeout was a duration carry it as seconds.
    rollout_timeout: timedelta = Field(
        timedelta(minutes=10), validation_alias=AliasChoices("rollout_timeout", "rollout_timeout_seconds")
    )


class ServiceRollback(Model):
    service: str
    from_version: str
    to_version: str
    from_revision: int
    to_revision: int
    # unhealthy: the revision is back, but the service still fails its health checks.
    outcome: Literal["rolled_back", "unchanged", "unhealthy", "failed"]
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.outcome in ("rolled_back", "unchanged")


class RollbackResult(Model):
    state: State
    reason: str
    services: list[ServiceRollback] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    # The environment's health checks that still fail after the rollback (RUNBOOK.md: verify it).
    unhealthy: list[str] = Field(default_factory=list)
