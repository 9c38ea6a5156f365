"""How procedures look on a terminal: the status of one, a list of many."""

from __future__ import annotations

from datetime import datetime

from runbook.models import ProcedureStatus, StepRecord


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"


def _elapsed(step: StepRecord, now: datetime | None) -> str:
    if not step.started_at:
        return ""
    end = step.ended_at or now
    return f"{(end - step.started_at).total_seconds():.1f}s" if end else ""


def render_status(status: ProcedureStatus, now: datetime | None = None, timeline_tail: int = 15) -> str:
    lines = [f"{status.id}  {status.kind}  {status.state.value}" + (f"  step: {status.step}" if status.step else "")]
    if status.environment:
        lines.append(f"environment: {status.environment}   requested by: {status.requested_by}")
    lines.append("")
    for step in status.steps:
        times = f"{_clock(step.started_at):>8} {_elapsed(step, now):>8}"
        lines.append(f"  {step.state.value:<8} {step.name:<22} {times}  {step.detail}".rstrip())
    checklist = status.details.get("checklist") or []
    if checklist:
        lines += ["", "checklist:"]
        lines += [
            f"  {item['state']:<8} {item['name']:<32} {item.get('by', '')} {item.get('note', '')}".rstrip()
            for item in checklist
        ]
    if status.refusals:
        lines += ["", "refused:"]
        lines += [f"  {_clock(r.at)} {r.handler}: {r.reason}" for r in status.refusals]
    if status.timeline:
        lines += ["", "timeline:"]
        lines += [
            f"  {_clock(e.at)} {e.actor:<12} {e.event}" + (f": {e.detail}" if e.detail else "")
            for e in status.timeline[-timeline_tail:]
        ]
    result = status.result or {}
    if "passed" in result:
        lines += ["", "result: " + ("PASSED" if result["passed"] else "FAILED")]
    if result.get("reasons"):
        lines += ["", "reasons:"] + [f"  - {reason}" for reason in result["reasons"]]
    postmortem = status.details.get("postmortem")
    if postmortem:
        lines += ["", postmortem.rstrip()]
    return "\n".join(lines)
