"""Incident Response (RUNBOOK.md) as data: the request, the signals' payloads, the state an incident
keeps, the three communication templates word for word, the other messages, and the post-mortem.

Pure: the Incident workflow and the CLI build on these; the post-mortem is rendered from the
workflow's own timeline, so it says exactly what happened, when, and who did it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, Field

from runbook.config import IncidentsConfig, ThresholdsConfig
from runbook.decision import Action, Decision
from runbook.durations import format_duration
from runbook.models import ProcedureStatus, TimelineEntry
from runbook.severity import DESCRIPTIONS, Severity, local_time

UpdateStatus = Literal["Investigating", "Identified", "Mitigating", "Monitoring"]
CommanderMitigation = Literal["scale_up", "rate_limit", "maintenance_page"]
MITIGATIONS: tuple[str, ...] = get_args(CommanderMitigation)
MitigationAction = Literal["rollback", "scale_up", "rate_limit", "maintenance_page"]

# Statuspage knows four states of an open incident; "Mitigating" is still "identified" to customers.
STATUSPAGE_STATUS = {
    "Investigating": "investigating",
    "Identified": "identified",
    "Mitigating": "identified",
    "Monitoring": "monitoring",
}

# What the commander is asked to send when an update is due and nothing new was said.
UPDATE_HINT = "runbook incident update {id} --status Mitigating|Identified|Monitoring --action TEXT --eta TEXT"


# Signals (and updates of the same name) -------------------------------------------------------


class AcknowledgePayload(BaseModel):
    """`acknowledge`: `{"user": "bob", "note": "on it"}`."""

    user: str = Field(min_length=1, max_length=100)
    note: str = Field("", max_length=2000)


class UpdatePayload(BaseModel):
    """`update`: `{"user": "alice", "status": "Mitigating", "action": "rolling back market-svc", "eta": "30 minutes"}`."""

    user: str = Field(min_length=1, max_length=100)
    status: UpdateStatus
    action: str = Field(min_length=1, max_length=2000)
    eta: str = Field("Unknown", min_length=1, max_length=200)


class MitigatePayload(BaseModel):
    """`mitigate`: `{"user": "alice", "action": "scale_up", "services": ["market-svc"], "reason": "CPU at 97%"}`.

    No services: the incident's own (all services when it named none)."""

    user: str = Field(min_length=1, max_length=100)
    action: CommanderMitigation
    services: list[str] = Field(default_factory=list)
    reason: str = Field("", max_length=2000)


class ResolvePayload(BaseModel):
    """`resolve`: `{"user": "alice", "resolution": "rolled back", "root_cause": "...", "follow_up": ["..."]}`."""

    user: str = Field(min_length=1, max_length=100)
    resolution: str = Field(min_length=1, max_length=4000)
    root_cause: str = Field(min_length=1, max_length=4000)
    impact: str = Field("", max_length=4000)
    follow_up: list[str] = Field(default_factory=list)


class SeverityPayload(BaseModel):
    """`severity`: `{"user": "alice", "severity": "P1", "reason": "all checkouts fail now"}`."""

    user: str = Field(min_length=1, max_length=100)
    severity: Severity
    reason: str = Field("", max_length=2000)


# State -----------------------------------------------------------------------------------------


class Acknowledgement(BaseModel):
    by: str
    at: datetime
    note: str = ""
    within_target: bool


class Escalation(BaseModel):
    level: int
    to: str
    at: datetime


class CommanderUpdate(BaseModel):
    by: str
    at: datetime
    status: UpdateStatus
    action: str
    eta: str


class Mitigation(BaseModel):
    number: int
    action: MitigationAction
    services: list[str]
    by: str
    reason: str = ""
    requested_at: datetime
    state: Literal["pending", "running", "done", "failed"] = "pending"
    detail: str = ""
    ended_at: datetime | None = None


class EcsServiceState(BaseModel):
    service: str
    desired: int
    running: int
    pending: int = 0
    version: str = ""
    rollout: str = ""


class RelatedDeployment(BaseModel):
    id: str
    kind: str
    version: str = ""
    services: list[str] = Field(default_factory=list)
    stage: str = ""
    running: bool
    started_at: datetime
    closed_at: datetime | None = None

    def describe(self) -> str:
        what = " ".join(part for part in (self.kind, self.version) if part)
        when = "running" if self.running else "finished" + (f" ({self.stage})" if self.stage else "")
        return f"{self.id} ({what} of {', '.join(self.services)}, {when})"


class AssessmentRecord(BaseModel):
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


class Resolution(BaseModel):
    by: str
    at: datetime
    resolution: str
    root_cause: str
    impact: str
    follow_up: list[str] = Field(default_factory=list)


class Notice(BaseModel):
    """Something a handler accepted that the outside world must still be told (by the main loop)."""

    kind: Literal["acknowledged", "regraded", "updated"]
    by: str
    text: str


class WarRoom(BaseModel):
    id: str
    name: str


class StatusPageIncident(BaseModel):
    id: str
    shortlink: str = ""


class IncidentState(BaseModel):
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
    next_update_at: datetime | None = None
    posted_updates: int = 0
    last_posted_at: datetime | None = None
    commander_news: bool = False
    resolution: Resolution | None = None
    postmortem_url: str = ""
    runs: int = 1

    def last_update(self) -> CommanderUpdate | None:
        return self.updates[-1] if self.updates else None


# Request and result ----------------------------------------------------------------------------


class CarriedIncident(BaseModel):
    """Everything continue-as-new hands to the next run: the state and the whole record."""

    state: IncidentState
    status: ProcedureStatus


class IncidentRequest(BaseModel):
    severity: Severity
    summary: str = Field(min_length=1, max_length=500)
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

    @property
    def environment(self) -> str:
        return self.policy.environment

    @property
    def affected(self) -> list[str]:
        return self.services or self.known_services


class IncidentResult(BaseModel):
    id: str
    severity: Severity
    duration_minutes: int
    acknowledged_by: str = ""
    escalated_to: list[str] = Field(default_factory=list)
    mitigations: list[str] = Field(default_factory=list)
    postmortem_url: str = ""


# What the activities exchange ------------------------------------------------------------------


class ChannelRequest(BaseModel):
    name: str


class SlackChannel(BaseModel):
    id: str
    name: str


class InviteRequest(BaseModel):
    channel: str
    users: list[str]


class PageRequest(BaseModel):
    """A PagerDuty Events v2 trigger; the incident ID is the dedup key, so re-sending is harmless."""

    dedup_key: str
    summary: str
    severity: Literal["critical", "error", "warning", "info"]
    component: str = ""
    custom_details: dict[str, str] = Field(default_factory=dict)


class PageAction(BaseModel):
    dedup_key: str


class PageAccepted(BaseModel):
    dedup_key: str


class StatusPageOpen(BaseModel):
    name: str
    body: str
    impact: Literal["critical", "major", "minor", "none"]


class StatusPageChange(BaseModel):
    incident_id: str
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    body: str


class ServiceStatesRequest(BaseModel):
    environment: str
    services: list[str]


class RelatedDeploymentsQuery(BaseModel):
    environment: str
    services: list[str]
    since: datetime


class ScaleUpRequest(BaseModel):
    """Each service goes from the desired count observed just before to the scaled-up target, so a
    retried activity sets the same count instead of adding the step twice."""

    environment: str
    desired_before: dict[str, int]


class ScaleChange(BaseModel):
    service: str
    before: int
    after: int


class OpsRequest(BaseModel):
    environment: str
    services: list[str]
    incident_id: str


class OpsApplied(BaseModel):
    action: str
    detail: str


class PostmortemDocument(BaseModel):
    incident_id: str
    markdown: str


class StoredDocument(BaseModel):
    url: str


# The three templates of RUNBOOK.md, word for word ----------------------------------------------


def service_label(services: list[str]) -> str:
    return ", ".join(services) if services else "Skillancer"


def initial_alert(services: list[str], impact: str) -> str:
    return f"🚨 INCIDENT: {service_label(services)} experiencing issues\n- Impact: {impact}\n- Status: Investigating\n- ETA: Unknown"


def update_message(services: list[str], status: str, action: str, eta: str) -> str:
    return f"📍 UPDATE: {service_label(services)} incident\n- Status: {status}\n- Action: {action}\n- ETA: {eta}"


def resolved_message(services: list[str], minutes: int, impact: str, resolution: str, follow_up: list[str]) -> str:
    items = "; ".join(follow_up) if follow_up else "post-mortem to follow"
    return (
        f"✅ RESOLVED: {service_label(services)} incident\n- Duration: {_minutes(minutes)}\n- Impact: {impact}\n"
        f"- Resolution: {resolution}\n- Follow-up: {items}"
    )


def duration_minutes(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() / 60)


def elapsed(delta: timedelta) -> str:
    """How long, as people say it: 40 s, 11 min, 2 h 5 min, 3 d 4 h."""
    seconds = max(0, int(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _minutes(minutes: int) -> str:
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


# The other messages ----------------------------------------------------------------------------


def war_room_name(incident_id: str) -> str:
    # Slack channel names: lower case, no spaces, at most 80 characters.
    return incident_id.lower()[:80]


def war_room_opened(incident_id: str, state: IncidentState, window: str, interval: timedelta | None) -> str:
    lines = [
        f":rotating_light: War room for {incident_id} ({state.severity.value}: {DESCRIPTIONS[state.severity]})",
        f"- Summary: {state.summary}",
        f"- Services: {service_label(state.services)}",
        f"- Commander: @{state.commander}",
        f"- Acknowledge within {window}: runbook incident ack {incident_id}",
    ]
    if interval:
        lines.append(f"- Updates every {format_duration(interval)}: {UPDATE_HINT.format(id=incident_id)}")
    return "\n".join(lines)


def assessment_message(incident_id: str, assessment: AssessmentRecord) -> str:
    lines = [f":mag: Assessment of {incident_id} ({service_label(assessment.services)})"]
    lines.append(
        f"- Health: {'failing: ' + ', '.join(assessment.unhealthy) if assessment.unhealthy else 'every service answers'}"
    )
    for ecs in assessment.ecs:
        lines.append(
            f"- ECS {ecs.service}: {ecs.running}/{ecs.desired} running {ecs.version} (rollout {ecs.rollout or 'unknown'})"
        )
    for decision in assessment.decisions:
        if decision.action != Action.NONE:
            lines.append(
                f"- Decision matrix, {decision.service}: {decision.action.value} ({decision.rule}: {decision.evidence})"
            )
    lines += [f"- Not observed: {problem}" for problem in assessment.problems]
    if assessment.deployment_related:
        names = "; ".join(related.describe() for related in assessment.related)
        then = (
            "DO NOT roll back: database errors (the commander decides)"
            if assessment.vetoed
            else "production is rolled back once acknowledged"
        )
        lines.append(f"- Deployment-related: {names}; {then}")
    else:
        lines.append(
            f"- Not deployment-related: the commander chooses: runbook incident mitigate {incident_id} {'|'.join(MITIGATIONS)}"
        )
    return "\n".join(lines)


def escalation_message(incident_id: str, severity: Severity, target: str, window: str) -> str:
    return f":rotating_light: @{target}: {incident_id} ({severity.value}) is not acknowledged within {window}; escalated to you. Acknowledge: runbook incident ack {incident_id}"


def acknowledged_message(incident_id: str, acknowledgement: Acknowledgement, declared_at: datetime) -> str:
    verdict = "within" if acknowledgement.within_target else "outside"
    return f":eyes: {incident_id} acknowledged by @{acknowledgement.by} {elapsed(acknowledgement.at - declared_at)} after it was declared ({verdict} the response time)"


def regraded_message(incident_id: str, before: Severity, after: Severity, by: str, reason: str) -> str:
    because = f": {reason}" if reason else ""
    return f":arrows_counterclockwise: {incident_id} regraded {before.value} → {after.value} by @{by}{because}"


def reminder_message(incident_id: str, commander: str, since: datetime, policy: IncidentsConfig) -> str:
    at = local_time(since, policy).strftime("%H:%M %Z")
    return f":bell: @{commander}: the {incident_id} update is due and nothing new was said since {at}. {UPDATE_HINT.format(id=incident_id)}"


def mitigation_message(incident_id: str, mitigation: Mitigation) -> str:
    detail = f": {mitigation.detail}" if mitigation.detail else ""
    return f":hammer_and_wrench: {incident_id} mitigation {mitigation.number} {mitigation.action} of {service_label(mitigation.services)} by {mitigation.by} {mitigation.state}{detail}"


def postmortem_message(incident_id: str, url: str) -> str:
    return f":memo: Post-mortem for {incident_id}: {url}"


# The post-mortem -------------------------------------------------------------------------------


def render_postmortem(
    incident_id: str, state: IncidentState, timeline: list[TimelineEntry], policy: IncidentsConfig
) -> str:
    """Markdown: the facts, impact, root cause, resolution, the timeline entry by entry, action items."""
    resolution = state.resolution
    if resolution is None:
        raise ValueError("an incident is rendered as a post-mortem once it is resolved")

    def clock(moment: datetime) -> str:
        return local_time(moment, policy).strftime("%Y-%m-%d %H:%M:%S %Z")

    severity = state.severity.value + (
        f" (declared {state.declared_severity.value})" if state.declared_severity != state.severity else ""
    )
    facts = [
        f"- Severity: {severity}",
        f"- Services: {service_label(state.services)}",
        f"- Declared: {clock(state.declared_at)} by {state.commander} (incident commander)",
    ]
    if state.acknowledged:
        ack = state.acknowledged
        met = "met" if ack.within_target else f"missed, due {clock(state.target_respond_by)}"
        facts.append(
            f"- Acknowledged: {clock(ack.at)} by {ack.by}, {elapsed(ack.at - state.declared_at)} after declaration (response time {met})"
        )
    else:
        facts.append("- Acknowledged: never")
    if state.escalations:
        facts.append("- Escalated to: " + ", ".join(f"{e.to} ({clock(e.at)})" for e in state.escalations))
    facts += [
        f"- Resolved: {clock(resolution.at)} by {resolution.by}",
        f"- Duration: {_minutes(duration_minutes(state.declared_at, resolution.at))}",
    ]
    if state.war_room:
        facts.append(f"- War room: #{state.war_room.name}")
    if state.status_page:
        facts.append(f"- Status page: {state.status_page.shortlink or state.status_page.id}")
    if state.mitigations:
        facts.append(
            "- Mitigations: "
            + "; ".join(f"{m.action} of {service_label(m.services)} ({m.state})" for m in state.mitigations)
        )

    rows = [
        f"| {clock(entry.at)} | {_cell(entry.actor)} | {_cell(entry.event + (': ' + entry.detail if entry.detail else ''))} |"
        for entry in timeline
    ]
    items = [f"- [ ] {item}" for item in resolution.follow_up] or ["- none recorded"]
    return "\n".join(
        [
            f"# Post-mortem: {incident_id}, {state.summary}",
            "",
            *facts,
            "",
            "## Impact",
            "",
            resolution.impact,
            "",
            "## Root cause",
            "",
            resolution.root_cause,
            "",
            "## Resolution",
            "",
            resolution.resolution,
            "",
            "## Timeline",
            "",
            f"| Time ({policy.timezone}) | Who | What |",
            "|---|---|---|",
            *rows,
            "",
            "## Action items",
            "",
            *items,
            "",
        ]
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
