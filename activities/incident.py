"""What an incident reads and keeps beyond the other activities: the ECS state of the affected
services, the deployments that make it deployment-related (the runbook's own, from Temporal's
visibility by the search attributes every deployment sets, and ECS's deployment list, so CI and
console deploys count too), and the post-mortem in S3.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from activities.aws import AwsClients
from activities.ecs import image_version, primary_deployment
from runbook import search
from runbook.config import RunbookConfig
from runbook.incident import (
    EcsServiceState,
    PostmortemDocument,
    RelatedDeployment,
    RelatedDeploymentsQuery,
    ServiceStatesRequest,
    StoredDocument,
)

DEPLOYMENT_KINDS = ("deployment", "hotfix")
# Runbook procedures that make ECS deployments: one made while such a procedure of that service ran
# is the procedure's. Rollbacks and redeploys are the runbook's remedies, not causes: theirs are not
# counted, as before ECS was read.
CHANGING_KINDS = (*DEPLOYMENT_KINDS, "rollback", "redeploy")
# Where a closed deployment ends when it never changed anything: no cause of an incident.
UNCHANGED_ENDINGS = ("rejected", "expired", "cancelled")
ECS_DEPLOYMENT_KIND = "ecs-deployment"
# ECS's clock and the Temporal server's are different machines'.
CLOCK_SKEW = timedelta(seconds=10)
# CreateService makes the service's first deployment in the same call, so their createdAt agree
# (to within this: AWS does not document them as equal; the sandbox makes them so).
CREATED_WITH_SERVICE = timedelta(seconds=1)
DESCRIBE_SERVICES_LIMIT = 10


def related_deployments_query(environment: str, since: str, kinds: tuple[str, ...] = DEPLOYMENT_KINDS) -> str:
    kinds_listed = ",".join(f"'{kind}'" for kind in kinds)
    recent = f"(ExecutionStatus = 'Running' OR CloseTime > '{since}')"
    return f"RunbookKind IN ({kinds_listed}) AND RunbookEnvironment = '{environment}' AND {recent}"


def postmortem_key(incident_id: str) -> str:
    return f"postmortems/{incident_id}.md"


class IncidentActivities:
    def __init__(self, client: Client, aws: AwsClients, config: RunbookConfig) -> None:
        self._client = client
        self._ecs = aws.ecs
        self._s3 = aws.s3
        self._config = config

    @activity.defn
    def service_states(self, request: ServiceStatesRequest) -> list[EcsServiceState]:
        cluster = self._config.environment(request.environment).cluster
        described = self._ecs.describe_services(cluster=cluster, services=request.services).get("services", [])
        states = []
        for service in described:
            primary = primary_deployment(service) or {}
            definition = self._ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
            states.append(
                EcsServiceState(
                    service=service["serviceName"],
                    desired=service.get("desiredCount", 0),
                    running=service.get("runningCount", 0),
                    pending=service.get("pendingCount", 0),
                    version=image_version(definition),
                    rollout=primary.get("rolloutState", ""),
                )
            )
        return states

    @activity.defn
    async def related_deployments(self, query: RelatedDeploymentsQuery) -> list[RelatedDeployment]:
        """Deployments and hotfixes of `query.services` in the environment, running or closed since
        `query.since`, and the ECS deployments of those services created since then that no runbook
        procedure made, newest first. A runbook deployment and the ECS deployment it made are one
        entry, the runbook's. No services: any deployment counts."""
        procedures = await self._runbook_procedures(query.environment, query.since)
        found_in_ecs = await asyncio.to_thread(self._ecs_deployments, query)
        related = {
            procedure.id: procedure
            for procedure in procedures
            if procedure.kind in DEPLOYMENT_KINDS
            and (procedure.running or procedure.stage not in UNCHANGED_ENDINGS)
            and (not query.services or set(procedure.services) & set(query.services))
        }
        for deployment in found_in_ecs:
            maker = _made_by(deployment, procedures)
            if maker is None:
                related[deployment.id] = deployment
            elif maker.kind in DEPLOYMENT_KINDS:
                # Listed even when it ended "unchanged" by its own account: ECS shows it changed the service.
                entry = related.get(maker.id, maker)
                if not entry.task_definition:
                    entry = entry.model_copy(update={"task_definition": deployment.task_definition})
                related[maker.id] = entry
        return sorted(related.values(), key=lambda deployment: deployment.started_at, reverse=True)

    async def _runbook_procedures(self, environment: str, since: datetime) -> list[RelatedDeployment]:
        """Every runbook procedure that changes ECS services, running or closed since `since`."""
        listed = related_deployments_query(environment, since.isoformat().replace("+00:00", "Z"), CHANGING_KINDS)
        procedures = []
        async for execution in self._client.list_workflows(listed):
            attributes = execution.typed_search_attributes
            procedures.append(
                RelatedDeployment(
                    id=execution.id,
                    kind=attributes.get(search.KIND) or "",
                    version=attributes.get(search.VERSION) or "",
                    services=list(attributes.get(search.SERVICES) or []),
                    stage=attributes.get(search.STAGE) or "",
                    running=execution.status == WorkflowExecutionStatus.RUNNING,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        return procedures

    def _ecs_deployments(self, query: RelatedDeploymentsQuery) -> list[RelatedDeployment]:
        """ECS's own deployments (PRIMARY and ACTIVE: DescribeServices lists no others) of the
        services created since `query.since`, except the one that created the service."""
        cluster = self._config.environment(query.environment).cluster
        names = query.services or self._config.services.names
        versions: dict[str, str] = {}
        found = []
        for start in range(0, len(names), DESCRIBE_SERVICES_LIMIT):
            batch = names[start : start + DESCRIBE_SERVICES_LIMIT]
            for service in self._ecs.describe_services(cluster=cluster, services=batch).get("services", []):
                for deployment in service.get("deployments", []):
                    if not _counts(deployment, service, query.since):
                        continue
                    arn = deployment["taskDefinition"]
                    if arn not in versions:
                        definition = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                        versions[arn] = image_version(definition)
                    found.append(_found_in_ecs(service["serviceName"], deployment, versions[arn]))
        return found

    @activity.defn
    def store_postmortem(self, document: PostmortemDocument) -> StoredDocument:
        bucket, key = self._config.aws.records_bucket, postmortem_key(document.incident_id)
        self._s3.put_object(
            Bucket=bucket, Key=key, Body=document.markdown.encode(), ContentType="text/markdown; charset=utf-8"
        )
        return StoredDocument(url=f"s3://{bucket}/{key}")


def _counts(deployment: dict[str, Any], service: dict[str, Any], since: datetime) -> bool:
    created = deployment.get("createdAt")
    if created is None or created < since:
        return False
    service_created = service.get("createdAt")
    return service_created is None or created - service_created > CREATED_WITH_SERVICE


def _found_in_ecs(service: str, deployment: dict[str, Any], version: str) -> RelatedDeployment:
    rollout = deployment.get("rolloutState", "")
    running = rollout == "IN_PROGRESS"
    return RelatedDeployment(
        id=deployment["id"],
        kind=ECS_DEPLOYMENT_KIND,
        version=version,
        services=[service],
        stage=rollout.lower(),
        running=running,
        started_at=deployment["createdAt"],
        closed_at=None if running else deployment.get("updatedAt"),
        source="ecs",
        task_definition=deployment["taskDefinition"],
    )


def _made_by(deployment: RelatedDeployment, procedures: list[RelatedDeployment]) -> RelatedDeployment | None:
    """The runbook procedure of that service that ran when ECS created the deployment: only one
    changes an environment at a time (its lock)."""
    created = deployment.started_at
    for procedure in procedures:
        ended = procedure.closed_at or datetime.now(UTC)
        if set(deployment.services) & set(procedure.services) and (
            procedure.started_at - CLOCK_SKEW <= created <= ended + CLOCK_SKEW
        ):
            return procedure
    return None
