"""The Appendix's useful commands as answers: a service's ECS deployments, and its task logs."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from runbook.base import Model
from runbook.models import Revision


class ServiceQuery(Model):
    environment: str
    service: str


class EcsDeployment(Model):
    id: str
    status: str  # PRIMARY, ACTIVE or INACTIVE
    revision: Revision
    rollout_state: str = ""
    rollout_reason: str = ""
    desired: int = 0
    running: int = 0
    pending: int = 0
    failed: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ServiceEvent(Model):
    at: datetime
    message: str


class EcsService(Model):
    """`aws ecs describe-services` for one service, its deployments' revisions resolved to versions."""

    environment: str
    cluster: str
    service: str
    status: str
    revision: Revision
    desired: int = 0
    running: int = 0
    pending: int = 0
    deployments: list[EcsDeployment] = Field(default_factory=list)
    events: list[ServiceEvent] = Field(default_factory=list)

    @property
    def primary(self) -> EcsDeployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)


class LogQuery(Model):
    environment: str
    service: str
    start: datetime
    # Kept when a line contains it, exactly: matched here, since filter patterns differ between
    # CloudWatch and the sandbox's moto (which matches every line for anything but a plain word).
    text: str = ""


class LogEvent(Model):
    id: str
    at: datetime
    stream: str
    message: str


class LogTail(Model):
    """`aws logs tail`: a service's log lines since a moment, oldest first."""

    log_group: str
    events: list[LogEvent] = Field(default_factory=list)
