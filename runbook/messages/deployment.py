"""What a deployment or hotfix says in #deployments."""

from __future__ import annotations

from datetime import timedelta

from runbook.deployment import Approval, DeploymentRequest
from runbook.records import ServiceChange


def changes_text(changes: list[ServiceChange]) -> str:
    return "\n".join(f"- {c.service}: {c.before_version} → {c.after_version}" for c in changes)


def announcement(kind: str, workflow_id: str, request: DeploymentRequest) -> str:
    staging = (
        ""
        if request.skip_staging or request.environment == request.staging_environment
        else f", via {request.staging_environment}"
    )
    incident = f"\n- Incident: {request.incident}" if request.incident else ""
    return (
        f":rocket: {kind.upper()} {request.version} to {request.environment}{staging} starting ({workflow_id})\n"
        f"- Services: {', '.join(request.services)}\n- Requested by: {request.requested_by}{incident}"
    )


def approval_reminder(workflow_id: str, request: DeploymentRequest, ui_hint: str) -> str:
    return (
        f":hourglass: {request.version} to {request.environment} waits for approval ({workflow_id})\n"
        f"- Approve: `runbook approve {workflow_id}` or signal `approve` in the UI {ui_hint}\n"
        f"- Approvers: {', '.join(a for a in request.approvers if a != request.requested_by)}"
    )


def completion(
    request: DeploymentRequest, changes: list[ServiceChange], duration: timedelta, approval: Approval | None
) -> str:
    approver = f"\n- Approved by: {approval.approver}" if approval else ""
    return (
        f":white_check_mark: {request.version} deployed to {request.environment} in {int(duration.total_seconds())} s\n"
        f"{changes_text(changes)}{approver}"
    )


def rolled_back(request: DeploymentRequest, reason: str, changes: list[ServiceChange]) -> str:
    return (
        f":rewind: {request.version} to {request.environment} rolled back automatically: {reason}\n"
        f"{changes_text(changes)}"
    )


def alert(request: DeploymentRequest, what: str) -> str:
    return f":warning: {request.version} in {request.environment}: {what}"
