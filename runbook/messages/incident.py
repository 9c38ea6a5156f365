"""What an incident says in Slack, on the status page and to the pager: RUNBOOK.md's three
templates word for word, and the other messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from runbook.config import IncidentsConfig
from runbook.decision import Action
from runbook.durations import elapsed, format_duration
from runbook.incident import (
    Acknowledgement,
    AssessmentRecord,
    IncidentState,
    Mitigation,
    PhaseTime,
    Resolution,
)
from runbook.incident_terms import MITIGATIONS
from runbook.messages.escape import slack_line, status_page_line
from runbook.people import People
from runbook.severity import DESCRIPTIONS, Severity, local_time

# What the commander is asked to send when an update is due and nothing new was said.
UPDATE_HINT = "runbook incident update {id} --status Mitigating|Identified|Monitoring --action TEXT --eta TEXT"


# The three templates of RUNBOOK.md, word for word ----------------------------------------------
# For Slack unless `line` fits what people typed to another destination.


def service_label(services: list[str]) -> str:
    return ", ".join(services) if services else "Skillancer"


def initial_alert(services: list[str], impact: str, line: Callable[[str], str] = slack_line) -> str:
    return (
        f"🚨 INCIDENT: {service_label(services)} experiencing issues\n"
        f"- Impact: {line(impact)}\n- Status: Investigating\n- ETA: Unknown"
    )


def update_message(
    services: list[str],
    status: str,
    action: str,
    eta: str,
    line: Callable[[str], str] = slack_line,
    done: Sequence[str] = (),
) -> str:
    """The runbook's Update template; `done`, what the runbook itself did since the last one, on
    lines of their own after the commander's action."""
    done_lines = "".join(f"- Done: {line(item)}\n" for item in done)
    return (
        f"📍 UPDATE: {service_label(services)} incident\n- Status: {status}\n- Action: {line(action)}\n"
        f"{done_lines}- ETA: {line(eta)}"
    )


def resolved_message(
    services: list[str],
    minutes: int,
    impact: str,
    resolution: str,
    follow_up: list[str],
    line: Callable[[str], str] = slack_line,
) -> str:
    items = "; ".join(line(item) for item in follow_up) if follow_up else "post-mortem to follow"
    return (
        f"✅ RESOLVED: {service_label(services)} incident\n- Duration: {minutes_text(minutes)}\n"
        f"- Impact: {line(impact)}\n- Resolution: {line(resolution)}\n- Follow-up: {items}"
    )


def duration_minutes(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() / 60)


def minutes_text(minutes: int) -> str:
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


# The public status page: the same templates as plain text, only what customers may read ------


def status_page_name(services: list[str], summary: str) -> str:
    return status_page_line(f"{service_label(services)}: {summary}")


def status_page_opened(services: list[str], summary: str) -> str:
    return initial_alert(services, summary, status_page_line)


def status_page_update(services: list[str], status: str, action: str, eta: str) -> str:
    return update_message(services, status, action, eta, status_page_line)


def status_page_resolved(services: list[str], minutes: int, resolution: Resolution, internal: bool) -> str:
    """Follow-ups and the root cause are internal: on the page only where the configuration says
    so ([statuspage] public_details); otherwise it promises the post-mortem."""
    follow_up = [item.text for item in resolution.follow_up] if internal else []
    text = resolved_message(services, minutes, resolution.impact, resolution.resolution, follow_up, status_page_line)
    return f"{text}\n- Root cause: {status_page_line(resolution.root_cause)}" if internal else text


# The other messages ----------------------------------------------------------------------------


# What the pager says: one plain line each (activities/pager.py bounds it to PagerDuty's 1,024).


def page_declared(incident_id: str, state: IncidentState) -> str:
    return f"{incident_id} {state.severity.value}: {state.summary}"


def page_escalated(incident_id: str, state: IncidentState, target: str) -> str:
    return f"{incident_id} {state.severity.value} escalated to {target}: {state.summary}"


def page_regraded(incident_id: str, state: IncidentState) -> str:
    return f"{incident_id} regraded to {state.severity.value}: {state.summary}"


def war_room_name(incident_id: str) -> str:
    # Slack channel names: lower case, no spaces, at most 80 characters.
    return incident_id.lower()[:80]


def war_room_opened(
    incident_id: str, state: IncidentState, window: str, interval: timedelta | None, people: People
) -> str:
    lines = [
        f":rotating_light: War room for {incident_id} ({state.severity.value}: {DESCRIPTIONS[state.severity]})",
        f"- Summary: {slack_line(state.summary)}",
        f"- Services: {service_label(state.services)}",
        f"- Commander: {people.mention(state.commander)}",
        f"- Acknowledge within {window}: runbook incident ack {incident_id}",
    ]
    if interval:
        lines.append(f"- Updates every {format_duration(interval)}: {UPDATE_HINT.format(id=incident_id)}")
    return "\n".join(lines)


def assessment_message(incident_id: str, assessment: AssessmentRecord) -> str:
    lines = [f":mag: Assessment of {incident_id} ({service_label(assessment.services)})"]
    health = "failing: " + ", ".join(assessment.unhealthy) if assessment.unhealthy else "every service answers"
    lines.append(f"- Health: {health}")
    for ecs in assessment.ecs:
        rollout = ecs.rollout or "unknown"
        lines.append(f"- ECS {ecs.service}: {ecs.running}/{ecs.desired} running {ecs.version} (rollout {rollout})")
    for decision in assessment.decisions:
        if decision.action != Action.NONE:
            why = f"{decision.rule}: {decision.evidence}"
            lines.append(f"- Decision matrix, {decision.service}: {decision.action.value} ({why})")
    lines += [f"- Not observed: {slack_line(problem)}" for problem in assessment.problems]
    if assessment.deployment_related:
        names = "; ".join(related.describe() for related in assessment.related)
        then = (
            "DO NOT roll back: database errors (the commander decides)"
            if assessment.vetoed
            else "production is rolled back once acknowledged"
        )
        lines.append(f"- Deployment-related: {names}; {then}")
    else:
        command = f"runbook incident mitigate {incident_id} {'|'.join(MITIGATIONS)}"
        lines.append(f"- Not deployment-related: the commander chooses: {command}")
    return "\n".join(lines)


def escalation_message(incident_id: str, severity: Severity, target: str, window: str, people: People) -> str:
    return (
        f":rotating_light: {people.mention(target)}: {incident_id} ({severity.value}) is not acknowledged"
        f" within {window}; escalated to you. Acknowledge: runbook incident ack {incident_id}"
    )


def acknowledged_message(
    incident_id: str, acknowledgement: Acknowledgement, declared_at: datetime, people: People
) -> str:
    verdict = "within" if acknowledgement.within_target else "outside"
    after = elapsed(acknowledgement.at - declared_at)
    return (
        f":eyes: {incident_id} acknowledged by {people.mention(acknowledgement.by)} {after} after it was declared"
        f" ({verdict} the response time)"
    )


def regraded_message(incident_id: str, before: Severity, after: Severity, by: str, reason: str, people: People) -> str:
    because = f": {slack_line(reason)}" if reason else ""
    regraded = f"{incident_id} regraded {before.value} → {after.value}"
    return f":arrows_counterclockwise: {regraded} by {people.mention(by)}{because}"


def reminder_message(incident_id: str, commander: str, since: datetime, policy: IncidentsConfig, people: People) -> str:
    at = local_time(since, policy).strftime("%H:%M %Z")
    return (
        f":bell: {people.mention(commander)}: the {incident_id} update is due and nothing new was said since {at}."
        f" {UPDATE_HINT.format(id=incident_id)}"
    )


def mitigation_message(incident_id: str, mitigation: Mitigation, people: People) -> str:
    detail = f": {slack_line(mitigation.detail)}" if mitigation.detail else ""
    services = service_label(mitigation.services)
    return (
        f":hammer_and_wrench: {incident_id} mitigation {mitigation.number} {mitigation.action} of {services}"
        f" by {people.mention(mitigation.by)} {mitigation.state}{detail}"
    )


def clock_missed_message(
    incident_id: str, commander: str, phase: PhaseTime, declared_at: datetime, people: People
) -> str:
    """The P1 clock: a phase not reached by its target, and what the commander can do about it."""
    what = {
        "acknowledged": f"acknowledge: runbook incident ack {incident_id}",
        "assessed": f"the assessment has not finished: runbook status {incident_id}",
        "mitigating": f"mitigate: runbook incident mitigate {incident_id} {'|'.join(MITIGATIONS)}",
    }[phase.phase]
    missed = {"acknowledged": "is not acknowledged", "assessed": "is not assessed", "mitigating": "has no mitigation"}
    return (
        f":alarm_clock: {people.mention(commander)}: {incident_id} {missed[phase.phase]}"
        f" {elapsed(phase.due - declared_at)} after it was declared (the P1 procedure's target); {what}"
    )


def resolve_refused_message(incident_id: str, by: str, unverified: list[str], people: People) -> str:
    """A resolve the verification refused: why, one line each, and how to resolve anyway."""
    lines = [f":no_entry: {incident_id} not resolved: {people.mention(by)} asked, but the resolution is not verified"]
    lines += [f"- {slack_line(reason)}" for reason in unverified]
    lines.append(f"- Resolve anyway: runbook incident resolve {incident_id} ... --force --reason TEXT")
    return "\n".join(lines)


def postmortem_message(incident_id: str, url: str) -> str:
    return f":memo: Post-mortem for {incident_id}: {url}"
