"""What a rollback says in Slack."""

from __future__ import annotations

from collections.abc import Sequence

from runbook.messages.escape import slack_line
from runbook.models import RollbackPlan


def rollback_started(environment: str, plan: RollbackPlan, reason: str, user: str) -> str:
    lines = [f":rewind: ROLLBACK started in {environment} by {slack_line(user)}", f"- Reason: {slack_line(reason)}"]
    lines += [
        f"- {t.service}: {t.current.version} (rev {t.current.revision}) → {t.target.version} (rev {t.target.revision})"
        for t in plan.targets
    ]
    return "\n".join(lines)


def rollback_finished(
    environment: str, outcomes: Sequence[tuple[str, str, str]], reason: str, user: str, unhealthy: Sequence[str] = ()
) -> str:
    failed = [service for service, outcome, _ in outcomes if outcome in ("failed", "unhealthy")]
    if failed:
        head = f":x: ROLLBACK finished with {len(failed)} failing"
    elif unhealthy:
        head = f":x: ROLLBACK finished, but {environment} is still unhealthy"
    else:
        head = ":white_check_mark: ROLLBACK finished"
    lines = [f"{head} in {environment} (asked by {slack_line(user)})", f"- Reason: {slack_line(reason)}"]
    for service, outcome, detail in outcomes:
        lines.append(f"- {service}: {outcome}" + (f" ({slack_line(detail)})" if detail else ""))
    lines += [f"- still failing: {slack_line(check)}" for check in unhealthy]
    return "\n".join(lines)
