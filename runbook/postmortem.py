"""The post-mortem of a resolved incident, rendered from the workflow's own timeline, so it says
exactly what happened, when, and who did it."""

from __future__ import annotations

from datetime import datetime

from runbook.config import IncidentsConfig
from runbook.diagrams import Task, gantt
from runbook.durations import elapsed
from runbook.incident import CLOCK_PHASES, IncidentState, PhaseTime
from runbook.messages.action_items import FOLLOWED_UP, described
from runbook.messages.incident import duration_minutes, minutes_text, service_label
from runbook.severity import local_time, opens_war_room
from runbook.status import TimelineEntry

# The post-mortem -------------------------------------------------------------------------------


def render_postmortem(
    incident_id: str, state: IncidentState, timeline: list[TimelineEntry], policy: IncidentsConfig
) -> str:
    """Markdown: the P1 clock, the facts, the timeline entry by entry, impact, root cause,
    resolution, improvements, action items."""
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
        after = elapsed(ack.at - state.declared_at)
        facts.append(f"- Acknowledged: {clock(ack.at)} by {ack.by}, {after} after declaration (response time {met})")
    else:
        facts.append("- Acknowledged: never")
    if state.escalations:
        facts.append("- Escalated to: " + ", ".join(f"{e.to} ({clock(e.at)})" for e in state.escalations))
    facts += [
        f"- Resolved: {clock(resolution.at)} by {resolution.by}",
        f"- Duration: {minutes_text(duration_minutes(state.declared_at, resolution.at))}",
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

    rows = [f"| {clock(entry.at)} | {_cell(entry.actor)} | {_cell(_what_happened(entry))} |" for entry in timeline]
    resolved = [resolution.resolution]
    if resolution.forced_reason:
        resolved += ["", f"Resolved by force by {resolution.by}: {resolution.forced_reason}", "", "Not verified:"]
        resolved += [f"- {_line(reason)}" for reason in resolution.unverified]
    improvements = [f"- {_line(improvement)}" for improvement in resolution.improvements] or ["- none recorded"]
    phases = _clock_section(state, policy) if opens_war_room(state.severity, policy) else []
    items = [f"- [ ] {_line(described(item, policy.timezone))}" for item in resolution.follow_up] or ["- none recorded"]
    if any(item.id for item in resolution.follow_up):
        items += ["", FOLLOWED_UP]
    return "\n".join(
        [
            f"# Post-mortem: {incident_id}, {_line(state.summary)}",
            "",
            *phases,
            *facts,
            "",
            "## Timeline",
            "",
            *_phases_chart(incident_id, state, policy),
            f"| Time ({policy.timezone}) | Who | What |",
            "|---|---|---|",
            *rows,
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
            *resolved,
            "",
            "## Improvements",
            "",
            *improvements,
            "",
            "## Action items",
            "",
            *items,
            "",
        ]
    )


def _clock_section(state: IncidentState, policy: IncidentsConfig) -> list[str]:
    """The P1 procedure's phases against their targets, counted from the declaration."""
    rows = [_phase_row(phase, state.declared_at) for phase in state.clock(policy)]
    return ["## P1 clock", "", "| Phase | Target | Reached | |", "|---|---|---|---|", *rows, ""]


def _phases_chart(incident_id: str, state: IncidentState, policy: IncidentsConfig) -> list[str]:
    """The incident's phases as a Mermaid gantt, in the zone of the timeline below: from the
    declaration, each phase reached in turn, to the resolve. A phase the clock times (acknowledged
    at any severity; assessed and mitigation under way where a war room opens) is marked crit when
    reached late; one never reached is drawn from when it was due to the resolve, if it was due by then."""
    resolution = state.resolution
    assert resolution is not None, "rendered once resolved"
    clock = state.clock(policy)
    timed = clock if opens_war_room(state.severity, policy) else clock[:1]
    milestones = [("declared", state.declared_at, False), ("resolved", resolution.at, False)]
    for phase in clock:
        if phase.reached is not None:
            milestones.append((CLOCK_PHASES[phase.phase], phase.reached, phase in timed and phase.reached > phase.due))
    milestones.sort(key=lambda milestone: milestone[1])

    def local(moment: datetime) -> datetime:
        return local_time(moment, policy).replace(tzinfo=None)

    phases = [
        Task(f"{before.capitalize()} → {name}", local(start), end - start, ("crit",) if late else ("done",))
        for (before, start, _), (name, end, late) in zip(milestones, milestones[1:], strict=False)
    ]
    never = [
        Task(f"{CLOCK_PHASES[p.phase].capitalize()}, never", local(p.due), resolution.at - p.due, ("crit",))
        for p in timed
        if p.reached is None and p.due < resolution.at
    ]
    title = f"{incident_id}, {state.summary} (times in {policy.timezone})"
    chart = gantt(title, {"Phases": phases, "Due, never reached": never})
    return ["```mermaid", chart, "```", ""]


def _phase_row(phase: PhaseTime, declared_at: datetime) -> str:
    name, target = CLOCK_PHASES[phase.phase].capitalize(), f"by {elapsed(phase.due - declared_at)}"
    if phase.reached is None:
        return f"| {name} | {target} | never | missed |"
    verdict = "met" if phase.reached <= phase.due else f"missed by {elapsed(phase.reached - phase.due)}"
    return f"| {name} | {target} | {elapsed(phase.reached - declared_at)} | {verdict} |"


def _line(text: str) -> str:
    """What people wrote, as one line of a Markdown list."""
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _what_happened(entry: TimelineEntry) -> str:
    return entry.event + (": " + entry.detail if entry.detail else "")
