"""Redeploy on the real dev server, against the sandbox, run by the worker: a new deployment of the
same revision, once however often the force is retried; its history is kept for test_replay.py."""

from __future__ import annotations

import uuid

from temporalio.testing import ActivityEnvironment

from activities.aws import build_aws_clients
from activities.ecs import EcsActivities, describe_ecs_service
from activities.records import RecordStore
from runbook import search
from runbook.appendix import ServiceQuery
from runbook.redeploy import ForceDeploymentRequest, RedeployRequest, RedeployResult
from runbook.status import State
from runbook.temporal import connect
from tests.conftest import keep_history
from tests.support import status
from workflows.redeploy import Redeploy


def redeploy_request(stack, environment: str, service: str) -> RedeployRequest:
    return RedeployRequest(
        environment=environment,
        service=service,
        reason="rotate the database password",
        requested_by="alice",
        channel=stack.config.channels.deployments,
        rollout_timeout=stack.config.deployments.rollout_timeout,
    )


async def test_a_redeploy_rolls_out_the_same_revision_anew_and_records_it(e2e_stack, healthy_fleet):
    config = e2e_stack.config
    aws = build_aws_clients(config)
    query = ServiceQuery(environment="production", service="notification-svc")
    before = describe_ecs_service(aws.ecs, config, query)
    client = await connect(config)
    handle = await client.start_workflow(
        Redeploy.run,
        redeploy_request(e2e_stack, "production", "notification-svc"),
        id=f"redeploy-production-notification-svc-{uuid.uuid4().hex[:8]}",
        task_queue=config.temporal.task_queue,
        search_attributes=search.start_attributes("redeploy", "production", ["notification-svc"]),
    )
    result: RedeployResult = await handle.result()
    await keep_history(handle, "redeploy")
    assert result.state == State.COMPLETED, result.reasons
    assert (result.version, result.revision) == (before.revision.version, before.revision.revision)

    after = describe_ecs_service(aws.ecs, config, query)
    assert after.revision == before.revision
    assert after.primary is not None and before.primary is not None
    assert after.primary.id == result.deployment_id != before.primary.id
    assert (after.primary.rollout_state, after.primary.running) == ("COMPLETED", after.desired)

    current = await status(handle)
    assert [step.state.value for step in current.steps] == ["passed"] * 8
    texts = [call["body"]["text"] for call in e2e_stack.calls("slack") if call["path"].endswith("chat.postMessage")]
    assert any(t.startswith(":arrows_counterclockwise: REDEPLOY of notification-svc") for t in texts)
    assert any(t.startswith(":white_check_mark: REDEPLOY of notification-svc") for t in texts)
    index = RecordStore(aws.s3, config.aws.records_bucket).index("production")
    record = next(r for r in index.records if r.id == handle.id)
    assert (record.kind, record.state, record.reason) == ("redeploy", "COMPLETED", "rotate the database password")
    assert [(c.before_arn, c.after_arn, c.outcome) for c in record.changes] == [
        (before.revision.arn, before.revision.arn, "redeployed")
    ]
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert (attributes.get(search.KIND), attributes.get(search.VERSION)) == ("redeploy", before.revision.version)


def test_forcing_again_as_a_retry_would_starts_one_deployment(e2e_stack):
    config = e2e_stack.config
    aws = build_aws_clients(config)
    activities = EcsActivities(aws, config, RecordStore(aws.s3, config.aws.records_bucket))
    before = describe_ecs_service(aws.ecs, config, ServiceQuery(environment="staging", service="payment-svc"))
    assert before.primary is not None
    request = ForceDeploymentRequest(
        environment="staging",
        service="payment-svc",
        task_definition_arn=before.revision.arn,
        replaces_deployment=before.primary.id,
    )
    updates_before = forced_updates(e2e_stack, "payment-svc")
    first = ActivityEnvironment().run(activities.force_new_deployment, request)
    again = ActivityEnvironment().run(activities.force_new_deployment, request)
    assert (first.already_applied, again.already_applied) == (False, True)
    assert again.deployment_id == first.deployment_id != before.primary.id
    assert forced_updates(e2e_stack, "payment-svc") == updates_before + 1


def forced_updates(stack, service: str) -> int:
    """The UpdateService calls with forceNewDeployment that ECS received for the service."""
    return sum(
        call.get("action") == "UpdateService"
        and call["body"].get("service") == service
        and call["body"].get("forceNewDeployment") is True
        for call in stack.calls("ecs")
    )
