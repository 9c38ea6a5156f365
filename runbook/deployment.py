"""Standard and hotfix deployments as policy: requests, payloads, who may approve, the texts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from runbook import limits
from runbook.base import Model
from runbook.config import ScalingConfig, ThresholdsConfig
from runbook.models import Payload, ProvablePayload, Revision
from runbook.people import People
from runbook.proof import ApprovalPolicy
from runbook.records import ServiceChange
from runbook.status import State
from runbook.verification import VerificationRequest


class DeploymentRequest(Model):
    environment: str
    version: str
    services: list[str]
    requested_by: str
    approvers: list[str]
    channel: str
    staging_environment: str = "staging"
    skip_staging: bool = False
    incident: str = ""
    approval_timeout: timedelta
    approval_reminder_every: timedelta
    monitor_window: timedelta
    monitor_interval: timedelta
    decision_window: timedelta
    decision_timeout: timedelta
    rollout_timeout: timedelta
    thresholds: ThresholdsConfig
    scaling: ScalingConfig
    staging_verification: VerificationRequest
    production_verification: VerificationRequest
    # `--no-checklist --reason TEXT`: production's key user flows are not waited for, on record.
    no_checklist_reason: str = Field("", max_length=limits.NOTE)
    # [people]: approvers are mentioned by their Slack IDs, so the request reaches them.
    people: People = People({})
    # [approvals]: whether a decision needs a proof, and the attesters' public keys.
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)


class ApprovePayload(ProvablePayload):
    """`approve`: `{"approver": "alice", "comment": "staging looks good"}`."""

    person_field = "approver"
    approver: str = Field(min_length=1, max_length=limits.USER)
    comment: str = Field("", max_length=limits.NOTE)


class RejectPayload(ProvablePayload):
    """`reject`: `{"approver": "alice", "reason": "checkout is slow on staging"}`."""

    person_field = "approver"
    approver: str = Field(min_length=1, max_length=limits.USER)
    reason: str = Field(min_length=1, max_length=limits.NOTE)


class DecidePayload(ProvablePayload):
    """`decide`, when monitoring asks a human: `{"user": "alice", "action": "rollback"}`."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    action: Literal["rollback", "continue"]
    note: str = Field("", max_length=limits.NOTE)


class PreemptPayload(Payload):
    by: str = Field(min_length=1, max_length=limits.USER)
    reason: str = Field("", max_length=limits.NOTE)


class Approval(Model):
    approver: str
    at: datetime
    comment: str = ""
    approved: bool = True
    # How the approver was verified: "SSH key SHA256:…", "Slack U…", "UI login", "unverified".
    verified: str = ""


class PrepareRevisionRequest(Model):
    environment: str
    service: str
    version: str


class PreparedRevision(Model):
    service: str
    current: Revision
    target: Revision
    desired_count: int = 0


class DeploymentResult(Model):
    state: State
    version: str
    environment: str
    reasons: list[str] = Field(default_factory=list)
    changes: list[ServiceChange] = Field(default_factory=list)
    approval: Approval | None = None
    rollback_id: str = ""
    # The key user flows of the checklist nobody confirmed before its deadline.
    unconfirmed: list[str] = Field(default_factory=list)


def approval_refusal(approver: str, requested_by: str, approvers: list[str]) -> str:
    """Why this person may not approve (or reject), or "" when they may. Names compare ignoring
    case: a deployment started as "Alice" is alice's, whoever wrote the name."""
    if approver not in approvers:
        return f"{approver!r} is not an approver; approvers: {', '.join(approvers)}"
    if approver.casefold() == requested_by.casefold():
        return f"{approver} started this deployment and cannot approve it: ask another approver"
    return ""
