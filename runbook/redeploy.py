"""Redeploy: a new deployment of a service's current revision (the Appendix's "Force new deployment
without changes"), as a procedure that holds the environment's lock."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from runbook.base import Model
from runbook.status import State


class RedeployRequest(Model):
    environment: str
    service: str
    reason: str
    requested_by: str
    channel: str
    rollout_timeout: timedelta = timedelta(minutes=10)


class ForceDeploymentRequest(Model):
    environment: str
    service: str
    task_definition_arn: str
    # The PRIMARY deployment seen before forcing: a retry that finds another PRIMARY of the same
    # revision knows its force already happened.
    replaces_deployment: str


class ForcedDeployment(Model):
    deployment_id: str
    already_applied: bool


class RedeployResult(Model):
    state: State
    service: str
    version: str = ""
    revision: int = 0
    deployment_id: str = ""
    reasons: list[str] = Field(default_factory=list)
