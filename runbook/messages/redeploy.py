"""What a redeploy says in #deployments."""

from __future__ import annotations

from runbook.messages.escape import slack_line
from runbook.models import Revision
from runbook.status import State


def redeploy_started(environment: str, service: str, revision: Revision, reason: str, user: str) -> str:
    return (
        f":arrows_counterclockwise: REDEPLOY of {service} {revision.version} (rev {revision.revision})"
        f" in {environment} by {slack_line(user)}\n- Reason: {slack_line(reason)}"
    )


def redeploy_finished(environment: str, service: str, revision: Revision, state: State, reasons: list[str]) -> str:
    if state == State.COMPLETED:
        head = f":white_check_mark: REDEPLOY of {service} {revision.version} in {environment} completed: healthy"
    else:
        head = f":x: REDEPLOY of {service} {revision.version} in {environment} {state.value}"
    return "\n".join([head, *(f"- {slack_line(reason)}" for reason in reasons)])
