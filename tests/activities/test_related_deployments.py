"""Deployments made straight through ECS (GitHub Actions' deploy, the ECS console) make an incident
deployment-related: ECS's own deployment list is read beside the runbook's records, against an
in-process sandbox and the session's Temporal server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair

from activities.aws import AwsClients
from activities.incident import CREATED_WITH_SERVICE, IncidentActivities
from runbook import search
from runbook.config import RunbookConfig, load_config
from runbook.incident import RelatedDeployment, RelatedDeploymentsQuery
from sandbox import Sandbox
from tests.support import eventually

# Production's cluster under a name nobody else on the session's Temporal server deploys to.
ENVIRONMENT = f"drill-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def config() -> RunbookConfig:
    base = load_config()
    return base.model_copy(update={"environments": {ENVIRONMENT: base.environment("production")}})


@pytest.fixture(scope="module")
def ecs(config: RunbookConfig) -> Iterator[Any]:
    # Rollouts that do not settle within a test: ECS keeps listing the replaced deployment as ACTIVE.
    with Sandbox(config, fleet_port=0, aws_port=0, rollout_seconds=600) as running:
        # A deployment this close to the service's creation would be taken for the one that created it.
        time.sleep(CREATED_WITH_SERVICE.total_seconds())
        yield boto3.client("ecs", endpoint_url=running.aws_url, region_name=config.aws.region)


@pytest.fixture
def activities(temporal_env, ecs, config) -> IncidentActivities:
    return IncidentActivities(temporal_env.client, AwsClients(ecs=ecs, cloudwatch=None, logs=None, s3=None), config)


def deploy(ecs: Any, config: RunbookConfig, service: str, version: str) -> str:
    """What a deploy outside the runbook does: a new task definition revision, then UpdateService."""
    cluster = config.environment(ENVIRONMENT).cluster
    arn = ecs.register_task_definition(
        family=f"{cluster}-{service}",
        containerDefinitions=[{"name": service, "image": f"skillancer/{service}:{version}", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=service, taskDefinition=arn)
    return arn


def within(services: list[str], since: datetime) -> RelatedDeploymentsQuery:
    return RelatedDeploymentsQuery(environment=ENVIRONMENT, services=services, since=since)


async def test_a_deployment_made_straight_through_ecs_is_found_there(activities, ecs, config):
    earlier = deploy(ecs, config, "market-svc", "v9.9.8")
    await asyncio.sleep(0.05)
    window_start = datetime.now(UTC)
    await asyncio.sleep(0.05)
    latest = deploy(ecs, config, "market-svc", "v9.9.9")

    (found,) = await activities.related_deployments(within(["market-svc"], window_start))
    assert (found.source, found.kind, found.version, found.services, found.task_definition) == (
        "ecs",
        "ecs-deployment",
        "v9.9.9",
        ["market-svc"],
        latest,
    )
    assert found.id.startswith("ecs-svc/") and found.running
    assert found.describe() == f"{found.id} (ecs-deployment v9.9.9 of market-svc, running, found in ecs)"

    # Over the last hour, for every service: the earlier deploy too (still ACTIVE), but none of the
    # deployments that created the services when the sandbox was seeded.
    last_hour = await activities.related_deployments(within([], window_start - timedelta(hours=1)))
    assert [(d.version, d.task_definition) for d in last_hour] == [("v9.9.9", latest), ("v9.9.8", earlier)]


@asynccontextmanager
async def runbook_procedure(client: Client, kind: str, service: str, version: str = "") -> AsyncIterator[str]:
    """A runbook procedure of the service as its search attributes show it, running until the end
    of the block: nobody polls its queue, as a deployment waiting on its rollout would."""
    attributes = search.start_attributes(kind, ENVIRONMENT, [service], version).updated(
        SearchAttributePair(search.STAGE, "roll_out")
    )
    handle = await client.start_workflow(
        "StandInProcedure",
        id=f"{kind}-{ENVIRONMENT}-{uuid.uuid4().hex[:6]}",
        task_queue=f"nobody-{uuid.uuid4()}",
        search_attributes=attributes,
    )
    try:
        yield handle.id
    finally:
        await handle.terminate("test over")


async def listed_by_visibility(
    client: Client, activities: IncidentActivities, query: RelatedDeploymentsQuery, procedure_id: str
) -> list[RelatedDeployment]:
    """The related deployments once Temporal's visibility lists the procedure (a moment after its start)."""

    async def ids() -> list[str]:
        return [execution.id async for execution in client.list_workflows(f"WorkflowId = '{procedure_id}'")]

    await eventually(ids, f"{procedure_id} listed", accept=lambda found: procedure_id in found)
    return await activities.related_deployments(query)


async def test_a_runbook_deployment_and_the_ecs_deployment_it_made_are_one_entry(temporal_env, activities, ecs, config):
    query = within(["payment-svc"], datetime.now(UTC) - timedelta(minutes=5))
    async with runbook_procedure(temporal_env.client, "deployment", "payment-svc", "v3.0.0") as deployment_id:
        made = deploy(ecs, config, "payment-svc", "v3.0.0")
        related = await listed_by_visibility(temporal_env.client, activities, query, deployment_id)
    assert [(d.id, d.source, d.version, d.task_definition) for d in related] == [
        (deployment_id, "runbook", "v3.0.0", made)
    ]


async def test_the_runbooks_own_rollback_is_no_cause(temporal_env, activities, ecs, config):
    query = within(["notification-svc"], datetime.now(UTC) - timedelta(minutes=5))
    async with runbook_procedure(temporal_env.client, "rollback", "notification-svc") as rollback_id:
        deploy(ecs, config, "notification-svc", "v1.0.1")
        assert await listed_by_visibility(temporal_env.client, activities, query, rollback_id) == []
