"""ECS rollouts, which moto does not perform.

Measured with moto 5.2.5: update_service stores the task definition exactly as given (for example
"family:3" rather than an ARN) and never creates or advances a deployment; forceNewDeployment only
renames deployments[0]; a new service's single deployment stays IN_PROGRESS with runningCount 0;
describe_services leaves out the service's createdAt, which AWS returns (and which tells the
deployment that created the service from later ones).

The driver wraps the backend's update_service so the new PRIMARY deployment already exists when the
call returns (a consumer polling describe_services never sees the old deployment as the answer),
and a thread settles each rollout after `rollout_seconds`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow

from sandbox.aws import DEPLOYMENT_STREAM, LogWriter, ServiceRef, image_tag
from sandbox.fleet import Fleet

TICK_S = 0.25
MAX_SERVICE_EVENTS = 100

log = logging.getLogger("sandbox")


@dataclass
class _Tracked:
    ref: ServiceRef
    deployments: list[dict[str, Any]]
    target_version: str = ""
    started_at: float | None = None


def _resize(deployment: dict[str, Any], desired_count: int) -> None:
    # ECS scales a settled deployment in place; a rolling one picks the count up when it settles.
    deployment["desiredCount"] = desired_count
    if deployment["rolloutState"] == "COMPLETED":
        deployment["runningCount"] = desired_count


def _key(cluster: str, service: str) -> str:
    # moto keys its services dict the same way.
    return f"{cluster}:{service}"


class RolloutDriver:
    def __init__(
        self,
        backend: Any,
        refs: list[ServiceRef],
        fleet: Fleet,
        log_writer: LogWriter,
        rollout_seconds: float,
    ) -> None:
        self._backend = backend
        self._fleet = fleet
        self._log_writer = log_writer
        # Read on every tick: the sandbox's /_sandbox/rollouts may change it while rollouts run.
        self.rollout_seconds = rollout_seconds
        self._lock = threading.Lock()
        self._pending_lines: list[tuple[str, str]] = []
        self._tracked = {_key(ref.cluster, ref.service): self._adopt(ref) for ref in refs}

    def install(self) -> None:
        original: Callable[[dict[str, Any]], Any] = self._backend.update_service

        def update_service(service_properties: dict[str, Any]) -> Any:
            forced = bool(service_properties.get("force_new_deployment"))
            service = original(service_properties)
            self._on_update(service, forced)
            return service

        # An instance attribute shadows moto's method for every request moto serves from now on.
        self._backend.update_service = update_service

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(TICK_S):
            try:
                self.step()
            except Exception:
                # One broken service (say, a deregistered task definition) must not end all rollouts.
                log.exception("rollout step failed")

    def step(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, tracked in self._tracked.items():
                if tracked.started_at is not None and now - tracked.started_at >= self.rollout_seconds:
                    self._settle(tracked, self._backend.services[key])
            lines, self._pending_lines = self._pending_lines, []
        self._flush(lines)

    def _adopt(self, ref: ServiceRef) -> _Tracked:
        service = self._backend.services[_key(ref.cluster, ref.service)]
        first = dict(service.deployments[0])
        first.update(
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {first['id']} completed.",
            runningCount=service.desired_count,
            pendingCount=0,
        )
        service.running_count, service.pending_count = service.desired_count, 0
        # moto's serializer answers the Service shape's createdAt from this attribute.
        service.created_at = first["createdAt"]
        tracked = _Tracked(ref, [first])
        self._publish(tracked, service)
        return tracked

    def _on_update(self, service: Any, forced: bool) -> None:
        with self._lock:
            tracked = self._tracked.get(_key(service.cluster_name, service.name))
            if tracked is None:
                return
            task_definition = self._backend.describe_task_definition(service.task_definition)
            service.task_definition = task_definition.arn
            if forced or task_definition.arn != tracked.deployments[0]["taskDefinition"]:
                self._start(tracked, service, task_definition)
            else:
                _resize(tracked.deployments[0], service.desired_count)
            # Also undoes moto's own forceNewDeployment edit of the published list.
            self._publish(tracked, service)

    def _start(self, tracked: _Tracked, service: Any, task_definition: Any) -> None:
        now = utcnow()
        deployment_id = f"ecs-svc/{random.randrange(10**18, 10**19)}"
        primary = {
            **tracked.deployments[0],
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": task_definition.arn,
            "desiredCount": service.desired_count,
            "pendingCount": service.desired_count,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        }
        previous = [{**deployment, "status": "ACTIVE", "updatedAt": now} for deployment in tracked.deployments]
        tracked.deployments = [primary, *previous]
        tracked.target_version = image_tag(task_definition.container_definitions[0]["image"])
        tracked.started_at = time.monotonic()
        message = f"deployment {deployment_id} started: taskDefinition {task_definition.arn}"
        self._event(tracked, service, message)

    def _settle(self, tracked: _Tracked, service: Any) -> None:
        primary = tracked.deployments[0]
        desired = service.desired_count
        primary.update(updatedAt=utcnow(), pendingCount=0, desiredCount=desired)
        if "bad" in tracked.target_version:
            primary.update(
                rolloutState="FAILED",
                rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                failedTasks=desired,
                runningCount=0,
            )
            message = f"ERROR deployment {primary['id']} failed: task failed health checks"
        else:
            primary.update(
                rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {primary['id']} completed.",
                runningCount=desired,
            )
            tracked.deployments = [primary]
            message = f"deployment {primary['id']} completed"
        tracked.started_at = None
        self._fleet.set_version(tracked.ref.environment, tracked.ref.service, tracked.target_version)
        self._event(tracked, service, f"{message}: taskDefinition {primary['taskDefinition']}")
        self._publish(tracked, service)

    def _publish(self, tracked: _Tracked, service: Any) -> None:
        # Copies, so moto's in-place edits never reach the driver's own records; one assignment,
        # so a describe_services served meanwhile sees either the old list or the new one.
        service.deployments = [dict(deployment) for deployment in tracked.deployments]

    def _event(self, tracked: _Tracked, service: Any, message: str) -> None:
        event = {"id": f"{random.getrandbits(128):032x}", "createdAt": utcnow(), "message": message}
        service.events = [event, *service.events][:MAX_SERVICE_EVENTS]
        self._pending_lines.append((tracked.ref.log_group, message))
        log.info("%s/%s: %s", tracked.ref.environment, tracked.ref.service, message)

    def _flush(self, lines: list[tuple[str, str]]) -> None:
        by_group: dict[str, list[str]] = {}
        for log_group, message in lines:
            by_group.setdefault(log_group, []).append(message)
        for log_group, messages in by_group.items():
            self._log_writer.write(log_group, DEPLOYMENT_STREAM, messages)
