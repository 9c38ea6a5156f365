"""What an incident reads and keeps beyond the other activities: the ECS state of the affected
services, the deployments that make it deployment-related (from Temporal's visibility, by the
search attributes every deployment sets), and the post-mortem in S3.
"""

from __future__ import annotations

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
# Where a closed deployment ends when it never changed anything: no cause of an incident.
UNCHANGED_ENDINGS = ("rejected", "expired", "cancelled")


def related_deployments_query(environment: str, since: str) -> str:
    kinds = ",".join(f"'{kind}'" for kind in DEPLOYMENT_KINDS)
    recent = f"(ExecutionStatus = 'Running' OR CloseTime > '{since}')"
    return f"RunbookKind IN ({kinds}) AND RunbookEnvironment = '{environment}' AND {recent}"


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
        `query.since`, newest first. No services: any deployment counts."""
        since = query.since.isoformat().replace("+00:00", "Z")
        related = []
        async for execution in self._client.list_workflows(related_deployments_query(query.environment, since)):
            attributes = execution.typed_search_attributes
            services = list(attributes.get(search.SERVICES) or [])
            stage = attributes.get(search.STAGE) or ""
            closed = execution.status != WorkflowExecutionStatus.RUNNING
            if (query.services and not set(services) & set(query.services)) or (closed and stage in UNCHANGED_ENDINGS):
                continue
            related.append(
                RelatedDeployment(
                    id=execution.id,
                    kind=attributes.get(search.KIND) or "",
                    version=attributes.get(search.VERSION) or "",
                    services=services,
                    stage=stage,
                    running=not closed,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        return sorted(related, key=lambda deployment: deployment.started_at, reverse=True)

    @activity.defn
    def store_postmortem(self, document: PostmortemDocument) -> StoredDocument:
        bucket, key = self._config.aws.records_bucket, postmortem_key(document.incident_id)
        self._s3.put_object(
            Bucket=bucket, Key=key, Body=document.markdown.encode(), ContentType="text/markdown; charset=utf-8"
        )
        return StoredDocument(url=f"s3://{bucket}/{key}")
