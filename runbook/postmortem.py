"""The post-mortem of a resolved incident, rendered from the workflow's own timeline, so it says
exactly what happened, when, and who did it."""

from __future__ import annotations

from datetime import datetime

from runbook.config import IncidentsConfig
from runbook.incident import IncidentState
from runbook.messages.action_items import FOLLOWED_UP, described
from runbook.messages.incident import duration_minutes, elapsed, minutes_text, service_label
from runbook.models import TimelineEntry
from runbook.severity import local_time

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
    items = [f"- [ ] {described(item, policy.timezone)}" for item in resolution.follow_up] or ["- none recorded"]
    if any(item.id for item in resolution.follow_up):
        items += ["", FOLLOWED_UP]
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


def _what_happened(entry: TimelineEntry) -> str:
    return entry.event + (": " + entry.detail if entry.detail else "")
