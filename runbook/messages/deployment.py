"""What a deployment or hotfix says in #deployments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from runbook.buttons import outcome
from runbook.deployment import Approval, DecidePayload, DeploymentRequest
from runbook.durations import elapsed, format_duration
from runbook.messages.escape import slack_line
from runbook.records import ServiceChange


def changes_text(changes: dict[str, list[ServiceChange]]) -> str:
    """Each environment's changes under its name: a service deployed to staging and then
    production is two changes, told apart."""
    return "\n".join(
        f"{environment}:\n" + "\n".join(f"- {c.service}: {c.before_version} → {c.after_version}" for c in changed)
        for environment, changed in changes.items()
        if changed
    )


def announcement(kind: str, workflow_id: str, request: DeploymentRequest) -> str:
    staging = (
        ""
        if request.skip_staging or request.environment == request.staging_environment
        else f", via {request.staging_environment}"
    )
    incident = f"\n- Incident: {request.incident}" if request.incident else ""
    requested_by = request.people.mention(request.requested_by)
    return (
        f":rocket: {kind.upper()} {request.version} to {request.environment}{staging} starting ({workflow_id})\n"
        f"- Services: {', '.join(request.services)}\n- Requested by: {requested_by}{incident}"
    )


def approval_reminder(workflow_id: str, request: DeploymentRequest, ui_hint: str) -> str:
    return (
        f":hourglass: {request.version} to {request.environment} waits for approval ({workflow_id})\n"
        f"- Approve: `runbook approve {workflow_id}` or signal `approve` in the UI {ui_hint}\n"
        f"- Approvers: {', '.join(request.people.mention(a) for a in request.approvers if a != request.requested_by)}"
    )


def approval_outcome(approval: Approval | None, request: DeploymentRequest) -> str:
    """What replaces the Approve and Reject buttons once the gate is passed, either way."""
    if approval is None:
        return f"*No approval within {format_duration(request.approval_timeout)}*"
    action = "approve" if approval.approved else "reject"
    return outcome(action, approval.approver, approval.verified, request.people)


def decision_outcome(decision: DecidePayload, how: str, request: DeploymentRequest) -> str:
    """What replaces the Roll back and Continue buttons once someone decided."""
    return outcome(decision.action, decision.user, how, request.people)


def completion(
    request: DeploymentRequest,
    changes: dict[str, list[ServiceChange]],
    duration: timedelta,
    approval: Approval | None,
    unconfirmed: Sequence[str] = (),
) -> str:
    approver = f"\n- Approved by: {request.people.mention(approval.approver)}" if approval else ""
    nobody = f"\n- Key user flows nobody confirmed: {', '.join(unconfirmed)}" if unconfirmed else ""
    return (
        f":white_check_mark: {request.version} deployed to {request.environment} in {elapsed(duration)}\n"
        f"{changes_text(changes)}{approver}{nobody}"
    )


def checklist_opened(workflow_id: str, request: DeploymentRequest) -> str:
    verification = request.production_verification
    return (
        f":clipboard: {request.version} is live in {request.environment}: verify the key user flows ({workflow_id})\n"
        f"- Tick each: `runbook check {workflow_id} ITEM [--fail --note TEXT]` or signal `check`\n"
        f"- Items: {', '.join(verification.checklist)}\n"
        f"- Deadline: {format_duration(verification.deadline)}; what nobody confirms is reported, not rolled back"
    )


def checklist_reminder(workflow_id: str, request: DeploymentRequest, pending: list[str]) -> str:
    return (
        f":hourglass: {request.version} in {request.environment} waits for the key user flows ({workflow_id}): "
        f"{', '.join(pending)}"
    )


def checklist_unconfirmed(workflow_id: str, request: DeploymentRequest, unconfirmed: list[str]) -> str:
    return (
        f":grey_question: {request.version} in {request.environment}: nobody confirmed "
        f"{', '.join(unconfirmed)} within {format_duration(request.production_verification.deadline)} "
        f"({workflow_id}); completing without them"
    )


def rolled_back(request: DeploymentRequest, reason: str, changes: dict[str, list[ServiceChange]]) -> str:
    return (
        f":rewind: {request.version} to {request.environment} rolled back automatically: {slack_line(reason)}\n"
        f"{changes_text(changes)}"
    )


def alert(request: DeploymentRequest, what: str) -> str:
    return f":warning: {request.version} in {request.environment}: {slack_line(what)}"


def question(proposed: list[str], no_data: list[str], evidence: dict[str, str]) -> str:
    """What the monitor asks a human: slow services (investigate, rollback proposed) and services
    whose figures could not be observed (no data: nothing judged there)."""
    asked = []
    if proposed:
        asked.append(f"investigate, rollback proposed ({'; '.join(f'{s}: {evidence[s]}' for s in proposed)})")
    if no_data:
        asked.append(
            f"no data for {', '.join(no_data)}, so nothing judged there"
            f" ({'; '.join(f'{s}: {evidence[s]}' for s in no_data)}); no data alone is never rolled back"
        )
    return ". ".join(asked)
