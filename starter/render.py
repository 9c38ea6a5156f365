"""How procedures look on a terminal: the status of one, a list of many. Every string in a status
came from outside (people's notes and names, workflow IDs, the fleet's answers): each is shown
through console.visible, so that none can steer the terminal."""

from __future__ import annotations

from datetime import datetime

from runbook.durations import format_elapsed
from runbook.status import ProcedureStatus, StepRecord, StepState, TimelineEntry
from starter.console import painted, visible_lines
from starter.console import visible as v

# The timeline entries a status shows, the newest (`status --json` has them all).
TIMELINE_TAIL = 15


def clock(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"


def _day(moment: str) -> str:
    """A moment days or weeks away, with its date (a status's JSON holds it as ISO 8601)."""
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M %Z")


def elapsed(step: StepRecord, now: datetime | None) -> str:
    """How long the step took, or has been running until `now`: 42s, 3m 05s, 1h 02m."""
    end = step.ended_at or now
    return format_elapsed(end - step.started_at) if step.started_at and end else ""


def _author(entry: TimelineEntry) -> str:
    """Who did it, and for a person's decision how they were verified: "bob, SSH key SHA256:…"."""
    return f"{entry.actor}, {entry.verified}" if entry.verified else entry.actor


def timeline_line(entry: TimelineEntry) -> str:
    return f"{clock(entry.at)} {v(_author(entry)):<12} {v(entry.event)}" + (
        f": {v(entry.detail)}" if entry.detail else ""
    )


def closing_lines(status: ProcedureStatus) -> list[str]:
    """What a procedure ends with: its result, the reasons, an incident's post-mortem."""
    lines = []
    result = status.result or {}
    if "passed" in result:
        lines += ["", "result: " + ("PASSED" if result["passed"] else "FAILED")]
    if result.get("reasons"):
        lines += ["", "reasons:"] + [f"  - {v(str(reason))}" for reason in result["reasons"]]
    postmortem = status.details.get("postmortem")
    if postmortem:
        lines += ["", visible_lines(postmortem.rstrip())]
    return lines


def render_status(
    status: ProcedureStatus, now: datetime | None = None, timeline_tail: int = TIMELINE_TAIL, colour: bool = False
) -> str:
    state = status.state.value
    lines = [
        f"{v(status.id)}  {v(status.kind)}  {painted(state, state, colour)}"
        + (f"  step: {v(status.step)}" if status.step else "")
    ]
    if status.environment:
        lines.append(f"environment: {v(status.environment)}   requested by: {v(status.requested_by)}")
    lines.append("")
    for step in status.steps:
        times = f"{clock(step.started_at):>8} {elapsed(step, now):>8}"
        line = f"{v(step.name):<22} {times}  {v(step.detail)}".rstrip()
        # A failed step in red whole, its detail saying why; otherwise its state word alone.
        if step.state is StepState.FAILED:
            lines.append("  " + painted(f"{step.state.value:<8} {line}", step.state.value, colour))
        else:
            lines.append(f"  {painted(f'{step.state.value:<8}', step.state.value, colour)} {line}")
    item = status.details.get("action_item")
    if item:
        last = item.get("last_reminded_at")
        reminded = f", the last {_day(last)}" if last else ""
        lines += [
            "",
            f"action item of {v(item['incident'])}: {v(item['text'])}",
            f"  owner: {v(item['owner'])}   due: {_day(item['due'])}   reminders: {item['reminders']}{reminded}",
        ]
    checklist = status.details.get("checklist") or []
    if checklist:
        lines += ["", "checklist:"]
        lines += [
            f"  {v(item['state']):<8} {v(item['name']):<32} {v(item.get('by', ''))} {v(item.get('note', ''))}".rstrip()
            for item in checklist
        ]
    if status.refusals:
        lines += ["", "refused:"]
        lines += [f"  {clock(r.at)} {v(r.handler)}: {v(r.reason)}" for r in status.refusals]
    if status.timeline:
        lines += ["", "timeline:"]
        hidden = len(status.timeline) - timeline_tail
        if hidden > 0:
            lines.append(f"  ({hidden} earlier entries: `runbook status {v(status.id)} --json` has them all)")
        lines += ["  " + timeline_line(entry) for entry in status.timeline[-timeline_tail:]]
    return "\n".join(lines + closing_lines(status))
