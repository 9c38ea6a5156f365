"""ECS: find revisions, update services once, and watch rollouts to the end.

Revisions are sorted here, not by list_task_definitions (moto ignores its sort). Updates are
idempotent: a service whose PRIMARY deployment already runs the target is not updated again, so a
retry after a crash never deploys twice.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.aws import AwsClients
from activities.records import RecordStore
from runbook.appendix import EcsDeployment, EcsService, ServiceEvent, ServiceQuery
from runbook.config import RunbookConfig
from runbook.deployment import PreparedRevision, PrepareRevisionRequest
from runbook.models import (
    DesiredCountRequest,
    PlanRequest,
    Revision,
    RollbackPlan,
    RolloutRequest,
    RolloutResult,
    ServiceTarget,
    UpdateServiceRequest,
    UpdateServiceResult,
)
from runbook.redeploy import ForcedDeployment, ForceDeploymentRequest


def image_version(task_definition: dict[str, Any]) -> str:
    image = task_definition["containerDefinitions"][0]["image"]
    return image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    answer = ecs.describe_services(cluster=cluster, services=[service])
    if not answer.get("services"):
        raise ApplicationError(f"service {service} not found in {cluster}", non_retryable=True)
    return answer["services"][0]


def describe_revision(ecs: Any, arn: str) -> Revision:
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return Revision(
        arn=definition["taskDefinitionArn"],
        family=definition["family"],
        revision=definition["revision"],
        version=image_version(definition),
    )


def family_revisions(ecs: Any, family: str) -> list[Revision]:
    arns = [
        arn
        for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family)
        for arn in page["taskDefinitionArns"]
    ]
    revisions = [describe_revision(ecs, arn) for arn in arns]
    return sorted((r for r in revisions if r.family == family), key=lambda r: r.revision)


def plan_rollback(ecs: Any, config: RunbookConfig, records: RecordStore, request: PlanRequest) -> RollbackPlan:
    """Each service's current revision and the one to roll back to; problems instead of guesses."""
    cluster = config.environment(request.environment).cluster
    plan = RollbackPlan(environment=request.environment)
    index = records.index(request.environment)
    for service in request.services:
        described = describe_service(ecs, cluster, service)
        current = describe_revision(ecs, described["taskDefinition"])
        revisions = family_revisions(ecs, current.family)
        replaced = request.targets.get(service) or index.replaced_revision(service, current.arn)
        target, problem = _choose_target(current, revisions, request.version, replaced)
        if problem and request.whole_environment and not (request.version or replaced):
            plan.unchanged.append(f"{service}: {problem}")
        elif problem:
            plan.problems.append(f"{service}: {problem}")
        else:
            plan.targets.append(
                ServiceTarget(
                    service=service, current=current, target=target, desired_count=described.get("desiredCount", 0)
                )
            )
    return plan


# The service's newest events shown beside its deployments, as the ECS console shows them.
SERVICE_EVENTS = 5


def describe_ecs_service(ecs: Any, config: RunbookConfig, query: ServiceQuery) -> EcsService:
    """The service, its deployments with their revisions' versions, rollout states and task counts."""
    cluster = config.environment(query.environment).cluster
    described = describe_service(ecs, cluster, query.service)
    revisions: dict[str, Revision] = {}

    def revision(arn: str) -> Revision:
        if arn not in revisions:
            revisions[arn] = describe_revision(ecs, arn)
        return revisions[arn]

    return EcsService(
        environment=query.environment,
        cluster=cluster,
        service=query.service,
        status=described.get("status", ""),
        revision=revision(described["taskDefinition"]),
        desired=described.get("desiredCount", 0),
        running=described.get("runningCount", 0),
        pending=described.get("pendingCount", 0),
        deployments=[
            EcsDeployment(
                id=deployment["id"],
                status=deployment.get("status", ""),
                revision=revision(deployment["taskDefinition"]),
                rollout_state=deployment.get("rolloutState", ""),
                rollout_reason=deployment.get("rolloutStateReason", ""),
                desired=deployment.get("desiredCount", 0),
                running=deployment.get("runningCount", 0),
                pending=deployment.get("pendingCount", 0),
                failed=deployment.get("failedTasks", 0),
                created_at=deployment.get("createdAt"),
                updated_at=deployment.get("updatedAt"),
            )
            for deployment in described.get("deployments", [])
        ],
        events=[
            ServiceEvent(at=event["createdAt"], message=event["message"])
            for event in described.get("events", [])[:SERVICE_EVENTS]
        ],
    )


def force_new_deployment(ecs: Any, config: RunbookConfig, request: ForceDeploymentRequest) -> ForcedDeployment:
    """A new deployment of the revision the service runs. Once: a PRIMARY deployment of that
    revision other than the one it replaces is this call's own, made before a retry."""
    cluster = config.environment(request.environment).cluster
    primary = primary_deployment(describe_service(ecs, cluster, request.service))
    if (
        primary
        and primary["id"] != request.replaces_deployment
        and primary["taskDefinition"] == request.task_definition_arn
    ):
        return ForcedDeployment(deployment_id=primary["id"], already_applied=True)
    answer = ecs.update_service(
        cluster=cluster, service=request.service, taskDefinition=request.task_definition_arn, forceNewDeployment=True
    )
    forced = primary_deployment(answer["service"]) or {"id": ""}
    return ForcedDeployment(deployment_id=forced["id"], already_applied=False)


class EcsActivities:
    def __init__(self, aws: AwsClients, config: RunbookConfig, records: RecordStore) -> None:
        self._ecs = aws.ecs
        self._config = config
        self._records = records

    def _cluster(self, environment: str) -> str:
        return self._config.environment(environment).cluster

    def _service(self, environment: str, service: str) -> dict[str, Any]:
        return describe_service(self._ecs, self._cluster(environment), service)

    @activity.defn
    def plan_rollback(self, request: PlanRequest) -> RollbackPlan:
        return plan_rollback(self._ecs, self._config, self._records, request)

    @activity.defn
    def prepare_revision(self, request: PrepareRevisionRequest) -> PreparedRevision:
        """The revision to deploy: the current one with the image tag set to the version.

        Idempotent: when the family's newest revision already runs the version (a retry, or the
        same version deployed again), it is used rather than registered twice."""
        described = self._service(request.environment, request.service)
        current = describe_revision(self._ecs, described["taskDefinition"])
        prepared = PreparedRevision(
            service=request.service, current=current, target=current, desired_count=described.get("desiredCount", 0)
        )
        if current.version == request.version:
            return prepared
        newest = family_revisions(self._ecs, current.family)[-1]
        if newest.version == request.version:
            return prepared.model_copy(update={"target": newest})
        definition = self._ecs.describe_task_definition(taskDefinition=current.arn)["taskDefinition"]
        containers = [
            {**container, "image": _with_tag(container["image"], request.version)}
            for container in definition["containerDefinitions"]
        ]
        registered = self._ecs.register_task_definition(
            family=current.family,
            containerDefinitions=containers,
            **{key: definition[key] for key in _COPIED_TASK_FIELDS if key in definition},
        )["taskDefinition"]
        return prepared.model_copy(update={"target": describe_revision(self._ecs, registered["taskDefinitionArn"])})

    @activity.defn
    def update_service(self, request: UpdateServiceRequest) -> UpdateServiceResult:
        described = self._service(request.environment, request.service)
        primary = primary_deployment(described)
        if primary and primary["taskDefinition"] == request.task_definition_arn:
            activity.logger.info(
                "%s in %s already runs %s", request.service, request.environment, request.task_definition_arn
            )
            return UpdateServiceResult(deployment_id=primary["id"], already_applied=True)
        answer = self._ecs.update_service(
            cluster=self._cluster(request.environment),
            service=request.service,
            taskDefinition=request.task_definition_arn,
            forceNewDeployment=True,
        )
        primary = primary_deployment(answer["service"]) or {"id": ""}
        activity.logger.info(
            "%s in %s updated to %s (deployment %s)",
            request.service,
            request.environment,
            request.task_definition_arn,
            primary["id"],
        )
        return UpdateServiceResult(deployment_id=primary["id"], already_applied=False)

    @activity.defn
    def wait_for_rollout(self, request: RolloutRequest) -> RolloutResult:
        started = time.monotonic()
        while True:
            primary = primary_deployment(self._service(request.environment, request.service)) or {}
            state = primary.get("rolloutState", "")
            activity.heartbeat(state)
            if primary.get("taskDefinition") == request.task_definition_arn and state in ("COMPLETED", "FAILED"):
                reason = primary.get("rolloutStateReason", "")
                seconds = time.monotonic() - started
                if state == "FAILED":
                    activity.logger.warning(
                        "rollout of %s in %s FAILED after %.1f s: %s",
                        request.service,
                        request.environment,
                        seconds,
                        reason,
                    )
                    raise ApplicationError(f"{request.service}: rollout FAILED: {reason}", non_retryable=True)
                activity.logger.info(
                    "rollout of %s in %s COMPLETED in %.1f s", request.service, request.environment, seconds
                )
                return RolloutResult(service=request.service, state="COMPLETED", reason=reason, seconds=seconds)
            if time.monotonic() - started > request.timeout.total_seconds():
                raise ApplicationError(
                    f"{request.service}: rollout not finished after {request.timeout.total_seconds():.0f} s"
                    f" (state {state or 'unknown'})",
                    non_retryable=True,
                )
            time.sleep(self._config.deployments.rollout_poll_seconds)

    @activity.defn
    def describe_ecs_service(self, query: ServiceQuery) -> EcsService:
        return describe_ecs_service(self._ecs, self._config, query)

    @activity.defn
    def force_new_deployment(self, request: ForceDeploymentRequest) -> ForcedDeployment:
        forced = force_new_deployment(self._ecs, self._config, request)
        activity.logger.info(
            "%s in %s: new deployment %s of %s%s",
            request.service,
            request.environment,
            forced.deployment_id,
            request.task_definition_arn,
            " (already forced)" if forced.already_applied else "",
        )
        return forced

    @activity.defn
    def set_desired_count(self, request: DesiredCountRequest) -> int:
        self._ecs.update_service(
            cluster=self._cluster(request.environment), service=request.service, desiredCount=request.desired_count
        )
        activity.logger.info("%s in %s scaled to %d tasks", request.service, request.environment, request.desired_count)
        return request.desired_count


# What a task definition carries besides its containers, copied to the new revision.
_COPIED_TASK_FIELDS = (
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "volumes",
)


def _with_tag(image: str, tag: str) -> str:
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}:{tag}"


def primary_deployment(service: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def _choose_target(
    current: Revision, revisions: list[Revision], version: str | None, replaced_arn: str | None
) -> tuple[Revision, str]:
    if version:
        matching = [r for r in revisions if r.version == version]
        if not matching:
            known = ", ".join(dict.fromkeys(r.version for r in revisions))
            return current, f"no revision of {current.family} runs version {version!r}; versions: {known}"
        return matching[-1], ""
    if replaced_arn:
        return next((r for r in revisions if r.arn == replaced_arn), current), ""
    earlier = [r for r in revisions if r.revision < current.revision]
    if not earlier:
        return current, f"{current.family}:{current.revision} is the first revision; nothing to roll back to"
    return earlier[-1], ""
