"""What a deployment or hotfix says in #deployments."""

from __future__ import annotations

from datetime import timedelta

from runbook.deployment import Approval, DeploymentRequest
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
    return (
        f":rocket: {kind.upper()} {request.version} to {request.environment}{staging} starting ({workflow_id})\n"
        f"- Services: {', '.join(request.services)}\n- Requested by: {slack_line(request.requested_by)}{incident}"
    )


def approval_reminder(workflow_id: str, request: DeploymentRequest, ui_hint: str) -> str:
    return (
        f":hourglass: {request.version} to {request.environment} waits for approval ({workflow_id})\n"
        f"- Approve: `runbook approve {workflow_id}` or signal `approve` in the UI {ui_hint}\n"
        f"- Approvers: {', '.join(a for a in request.approvers if a != request.requested_by)}"
    )


def completion(
    request: DeploymentRequest, changes: dict[str, list[ServiceChange]], duration: timedelta, approval: Approval | None
) -> str:
    approver = f"\n- Approved by: {slack_line(approval.approver)}" if approval else ""
    return (
        f":white_check_mark: {request.version} deployed to {request.environment} in {int(duration.total_seconds())} s\n"
        f"{changes_text(changes)}{approver}"
    )


def rolled_back(request: DeploymentRequest, reason: str, changes: dict[str, list[ServiceChange]]) -> str:
    return (
        f":rewind: {request.version} to {request.environment} rolled back automatically: {slack_line(reason)}\n"
        f"{changes_text(changes)}"
    )


def alert(request: DeploymentRequest, what: str) -> str:
    return f":warning: {request.version} in {request.environment}: {slack_line(what)}"
