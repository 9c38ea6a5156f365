"""Which deployments make an incident "deployment-related": found through the search attributes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.incident import IncidentActivities
from runbook import search
from runbook.config import load_config
from runbook.incident import RelatedDeploymentsQuery
from tests.support import SANDBOX_CONFIG, eventually
from tests.workflows.test_incident import NO_ECS_DEPLOYMENTS

CONFIG = load_config(SANDBOX_CONFIG)


@workflow.defn(name="EndedDeployment")
class EndedDeployment:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_deployments_that_never_changed_production_are_not_related(temporal_env):
    queue = f"related-{uuid.uuid4()}"
    service = f"svc-{uuid.uuid4().hex[:6]}"
    ids = {}
    # A stand-in defined beside boto3's imports: the sandbox is for production workflows.
    async with Worker(
        temporal_env.client, task_queue=queue, workflows=[EndedDeployment], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        for ending in ("completed", "rolled_back", "rejected", "expired", "cancelled"):
            started = search.start_attributes("deployment", "production", [service], "v9.0.0")
            pairs = [pair for pair in started.search_attributes if pair.key != search.STAGE]
            attributes = TypedSearchAttributes([*pairs, SearchAttributePair(search.STAGE, ending)])
            handle = await temporal_env.client.start_workflow(
                EndedDeployment.run,
                id=f"deploy-{ending}-{uuid.uuid4()}",
                task_queue=queue,
                search_attributes=attributes,
            )
            await handle.result()
            ids[handle.id] = ending
    activities = IncidentActivities(temporal_env.client, NO_ECS_DEPLOYMENTS, CONFIG)
    query = RelatedDeploymentsQuery(
        environment="production", services=[service], since=datetime.now(UTC) - timedelta(hours=1)
    )
    related = await eventually(
        lambda: activities.related_deployments(query),
        "visibility catching up with the closed workflows",
        5,
        accept=lambda related: len(related) >= 2,
    )
    assert sorted(ids[deployment.id] for deployment in related) == ["completed", "rolled_back"]
