"""Incident Response (RUNBOOK.md) as data: the request, the state an incident keeps, its result,
and what its activities take and give. The signals' payloads are in runbook/incident_payloads.py,
the messages in runbook/messages/incident.py, the post-mortem in runbook/postmortem.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from runbook import limits
from runbook.action_items import ActionItems
from runbook.base import Model
from runbook.config import IncidentsConfig, ThresholdsConfig
from runbook.decision import Action, Decision
from runbook.incident_payloads import ResolvePayload
from runbook.incident_terms import UpdateStatus
from runbook.models import SlackSettled
from runbook.people import People
from runbook.proof import ApprovalPolicy
from runbook.severity import ComponentStatus, PagerSeverity, Severity, StatusPageImpact
from runbook.status import HandlerOutcome, ProcedureStatus

MitigationAction = Literal["rollback", "scale_up", "rate_limit", "maintenance_page"]

# Statuspage knows four states of an open incident; "Mitigating" is still "identified" to customers.
StatusPageStatus = Literal["investigating", "identified", "monitoring", "resolved"]
STATUSPAGE_STATUS: dict[UpdateStatus, StatusPageStatus] = {
    "Investigating": "investigating",
    "Identified": "identified",
    "Mitigating": "identified",
    "Monitoring": "monitoring",
}


# State -----------------------------------------------------------------------------------------


class Acknowledgement(Model):
    by: str
    at: datetime
    note: str = ""
    within_target: bool
    # How `by` was verified: "PagerDuty P…", "Slack U…", "SSH key SHA256:…", "unverified".
    verified: str = ""


class Escalation(Model):
    level: int
    to: str
    at: datetime


class CommanderUpdate(Model):
    by: str
    at: datetime
    status: UpdateStatus
    action: str
    eta: str


class Mitigation(Model):
    number: int
    action: MitigationAction
    services: list[str]
    by: str
    reason: str = ""
    requested_at: datetime
    started_at: datetime | None = None
    state: Literal["pending", "running", "done", "failed"] = "pending"
    detail: str = ""
    ended_at: datetime | None = None


class EcsServiceState(Model):
    service: str
    desired: int
    running: int
    pending: int = 0
    version: str = ""
    rollout: str = ""


class RelatedDeployment(Model):
    id: str
    kind: str
    version: str = ""
    services: list[str] = Field(default_factory=list)
    stage: str = ""
    running: bool
    started_at: datetime
    closed_at: datetime | None = None
    # Where it was found: "runbook" (a workflow of this program) or "ecs" (the service's own
    # deployment list, so CI and console deploys count too).
    source: str = "runbook"
    task_definition: str = ""

    def describe(self) -> str:
        what = " ".join(part for part in (self.kind, self.version) if part)
        when = "running" if self.running else "finished" + (f" ({self.stage})" if self.stage else "")
        found = f", found in {self.source}" if self.source != "runbook" else ""
        return f"{self.id} ({what} of {', '.join(self.services)}, {when}{found})"


class AssessmentRecord(Model):
    at: datetime
    services: list[str]
    unhealthy: list[str] = Field(default_factory=list)
    ecs: list[EcsServiceState] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    worst: Action = Action.NONE
    vetoed: bool = False
    related: list[RelatedDeployment] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    @property
    def deployment_related(self) -> bool:
        return bool(self.related)


class Resolution(Model):
    by: str
    at: datetime
    resolution: str
    root_cause: str
    impact: str
    follow_up: ActionItems = Field(default_factory=list)
    improvements: list[str] = Field(default_factory=list)
    # What the verification of the resolution found wrong; resolved all the same only by force.
    unverified: list[str] = Field(default_factory=list)
    forced_reason: str = ""


class ResolveRequest(Model):
    """A resolve being verified: the main loop checks the services before it is taken or refused."""

    number: int
    at: datetime
    payload: ResolvePayload


@dataclass
class ResolveOutcome(HandlerOutcome):
    """The answer to `resolve`: refused with `unverified` when the services are not seen healthy."""

    unverified: list[str] = field(default_factory=list)


ClockPhase = Literal["acknowledged", "assessed", "mitigating"]
CLOCK_PHASES: dict[ClockPhase, str] = {
    "acknowledged": "acknowledged",
    "assessed": "assessed",
    "mitigating": "mitigation under way",
}


class PhaseTime(Model):
    """One phase of the P1 clock: when it was due, and when (if ever) it was reached."""

    phase: ClockPhase
    due: datetime
    reached: datetime | None


class Notice(Model):
    """Something a handler accepted that the outside world must still be told (by the main loop)."""

    kind: Literal["acknowledged", "regraded", "updated"]
    by: str
    text: str


class WarRoom(Model):
    id: str
    name: str


class StatusPageIncident(Model):
    id: str
    shortlink: str = ""


class IncidentState(Model):
    severity: Severity
    declared_severity: Severity
    summary: str
    services: list[str]
    commander: str
    declared_at: datetime
    # The response-time target, and the deadline that escalates next while nobody acknowledged.
    target_respond_by: datetime
    respond_by: datetime | None
    status: UpdateStatus = "Investigating"
    action: str = "Investigating"
    eta: str = "Unknown"
    updates: list[CommanderUpdate] = Field(default_factory=list)
    acknowledged: Acknowledgement | None = None
    escalations: list[Escalation] = Field(default_factory=list)
    war_room: WarRoom | None = None
    status_page: StatusPageIncident | None = None
    assessment: AssessmentRecord | None = None
    mitigations: list[Mitigation] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
    # Messages whose Acknowledge button waits: settled with the outcome once acknowledged.
    asking: list[SlackSettled] = Field(default_factory=list)
    next_update_at: datetime | None = None
    posted_updates: int = 0
    last_posted_at: datetime | None = None
    commander_news: bool = False
    # What the runbook itself did since the last update (a rollback done, a scale-up): told on
    # lines of their own beside the commander's words.
    done_since_update: list[str] = Field(default_factory=list)
    resolve_request: ResolveRequest | None = None
    resolve_requests: int = 0
    # The P1 clock's phases whose miss the commander was reminded of (once each).
    clock_missed: list[ClockPhase] = Field(default_factory=list)
    resolution: Resolution | None = None
    postmortem_url: str = ""
    runs: int = 1

    def last_update(self) -> CommanderUpdate | None:
        return self.updates[-1] if self.updates else None

    def clock(self, policy: IncidentsConfig) -> list[PhaseTime]:
        """The P1 clock from the declaration: acknowledged within the severity's response time,
        assessed and a mitigation under way within [incidents] assess_within, mitigate_within."""
        # A mitigation started before started_at was kept: the moment it was asked for.
        legacy = [m.requested_at for m in self.mitigations if not m.started_at and m.state in ("running", "done")]
        started = [m.started_at for m in self.mitigations if m.started_at] + legacy
        return [
            PhaseTime(
                phase="acknowledged",
                due=self.target_respond_by,
                reached=self.acknowledged.at if self.acknowledged else None,
            ),
            PhaseTime(
                phase="assessed",
                due=self.declared_at + policy.assess_within,
                reached=self.assessment.at if self.assessment else None,
            ),
            PhaseTime(
                phase="mitigating", due=self.declared_at + policy.mitigate_within, reached=min(started, default=None)
            ),
        ]


# Request and result ----------------------------------------------------------------------------


class CarriedIncident(Model):
    """Everything continue-as-new hands to the next run: the state and the whole record."""

    state: IncidentState
    status: ProcedureStatus


class IncidentRequest(Model):
    severity: Severity
    summary: str = Field(min_length=1, max_length=limits.SUMMARY)
    services: list[str] = Field(default_factory=list)
    declared_by: str
    channel: str
    known_services: list[str]
    policy: IncidentsConfig
    thresholds: ThresholdsConfig
    # A drill's shorter windows, for whatever severity the incident has.
    ack_within: timedelta | None = None
    update_every: timedelta | None = None
    carried: CarriedIncident | None = None
    # [people]: whom a name mentions in Slack, invites, and adds in PagerDuty.
    people: People = People({})
    # [approvals]: whether acknowledge and mitigate need a proof, and the attesters' public keys.
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)

    @property
    def environment(self) -> str:
        return self.policy.environment

    @property
    def affected(self) -> list[str]:
        return self.services or self.known_services


class IncidentResult(Model):
    id: str
    severity: Severity
    duration_minutes: int
    acknowledged_by: str = ""
    escalated_to: list[str] = Field(default_factory=list)
    mitigations: list[str] = Field(default_factory=list)
    postmortem_url: str = ""


# What the activities exchange ------------------------------------------------------------------


class ChannelRequest(Model):
    name: str


class SlackChannel(Model):
    id: str
    name: str


class InviteRequest(Model):
    channel: str
    # Slack user IDs: conversations.invite takes nothing else.
    users: list[str]


class PageRequest(Model):
    """A PagerDuty Events v2 trigger; the incident ID is the dedup key, so re-sending is harmless."""

    dedup_key: str
    summary: str
    severity: PagerSeverity
    component: str = ""
    custom_details: dict[str, str] = Field(default_factory=dict)
    # The affected environment: the alert's `source` is its host, as the Events API asks.
    environment: str = ""


class PageAction(Model):
    dedup_key: str


class PageAccepted(Model):
    dedup_key: str


class StatusPageOpen(Model):
    name: str
    body: str
    impact: StatusPageImpact
    # The services whose components ([statuspage] components) the incident marks, and how.
    services: list[str] = Field(default_factory=list)
    component_status: ComponentStatus | None = None


class StatusPageChange(Model):
    incident_id: str
    status: StatusPageStatus
    body: str
    # The body with internal details (root cause, follow-ups): sent instead of it only where
    # [statuspage] public_details says so.
    internal_body: str = ""
    services: list[str] = Field(default_factory=list)
    component_status: ComponentStatus | None = None


class ServiceStatesRequest(Model):
    environment: str
    services: list[str]


class RelatedDeploymentsQuery(Model):
    environment: str
    services: list[str]
    since: datetime


class ScaleUpRequest(Model):
    """Each service goes from the desired count observed just before to the scaled-up target, so a
    retried activity sets the same count instead of adding the step twice."""

    environment: str
    desired_before: dict[str, int]


class ScaleChange(Model):
    service: str
    before: int
    after: int


class OpsRequest(Model):
    environment: str
    services: list[str]
    incident_id: str


class OpsApplied(Model):
    action: str
    detail: str


class PostmortemDocument(Model):
    incident_id: str
    markdown: str


class StoredDocument(Model):
    url: str
