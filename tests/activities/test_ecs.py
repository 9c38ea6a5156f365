"""ECS activities against the sandbox's moto: revisions, idempotent updates, rollouts to the end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.aws import build_aws_clients
from activities.ecs import EcsActivities, family_revisions
from activities.records import RecordStore
from runbook.deployment import PrepareRevisionRequest
from runbook.models import PlanRequest, RolloutRequest, UpdateServiceRequest
from runbook.records import DeploymentRecord, ServiceChange


@pytest.fixture
def ecs(sandbox_stack):
    aws = build_aws_clients(sandbox_stack.config)
    return EcsActivities(aws, sandbox_stack.config, RecordStore(aws.s3, sandbox_stack.config.aws.records_bucket)), aws


def register(aws, family: str, service: str, version: str) -> str:
    return aws.ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": service, "image": f"skillancer/{service}:{version}", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_an_update_is_issued_once_however_often_it_is_retried(ecs):
    activities, aws = ecs
    arn = register(aws, "skillancer-staging-api-gateway", "api-gateway", "v3.0.0")
    request = UpdateServiceRequest(environment="staging", service="api-gateway", task_definition_arn=arn)
    first = activities.update_service(request)
    again = activities.update_service(request)
    assert not first.already_applied and again.already_applied
    assert again.deployment_id == first.deployment_id
    deployments = aws.ecs.describe_services(cluster="skillancer-staging", services=["api-gateway"])["services"][0][
        "deployments"
    ]
    assert [d["taskDefinition"] for d in deployments if d["status"] == "PRIMARY"] == [arn]
    result = ActivityEnvironment().run(
        activities.wait_for_rollout,
        RolloutRequest(environment="staging", service="api-gateway", task_definition_arn=arn),
    )
    assert result.state == "COMPLETED"


def test_preparing_a_revision_again_as_a_retry_would_registers_it_once(ecs):
    activities, aws = ecs
    family = "skillancer-staging-notification-svc"
    before = family_revisions(aws.ecs, family)
    request = PrepareRevisionRequest(environment="staging", service="notification-svc", version="v3.7.0")
    first = activities.prepare_revision(request)
    again = activities.prepare_revision(request)
    after = family_revisions(aws.ecs, family)
    assert [r.revision for r in after] == [r.revision for r in before] + [before[-1].revision + 1]
    assert first.target == again.target == after[-1]
    assert first.target.version == "v3.7.0" and first.current == again.current
    assert (
        aws.ecs.describe_services(cluster="skillancer-staging", services=["notification-svc"])["services"][0][
            "taskDefinition"
        ]
        == first.current.arn
    )  # prepared, not deployed


def test_a_failed_rollout_is_not_retried(ecs):
    activities, aws = ecs
    good = register(aws, "skillancer-staging-api-gateway", "api-gateway", "v3.0.1")
    bad = register(aws, "skillancer-staging-api-gateway", "api-gateway", "v3.1.0-bad")
    activities.update_service(
        UpdateServiceRequest(environment="staging", service="api-gateway", task_definition_arn=bad)
    )
    with pytest.raises(ApplicationError) as error:
        ActivityEnvironment().run(
            activities.wait_for_rollout,
            RolloutRequest(environment="staging", service="api-gateway", task_definition_arn=bad),
        )
    assert error.value.non_retryable and "rollout FAILED" in str(error.value)
    # Leave staging healthy for the tests that follow.
    activities.update_service(
        UpdateServiceRequest(environment="staging", service="api-gateway", task_definition_arn=good)
    )
    ActivityEnvironment().run(
        activities.wait_for_rollout,
        RolloutRequest(environment="staging", service="api-gateway", task_definition_arn=good),
    )


def test_the_plan_prefers_the_revision_a_recorded_deployment_replaced(ecs, sandbox_stack):
    activities, aws = ecs
    family = "skillancer-prod-payment-svc"
    old = register(aws, family, "payment-svc", "v4.0.0")
    register(aws, family, "payment-svc", "v4.1.0")
    new = register(aws, family, "payment-svc", "v4.2.0")
    activities.update_service(
        UpdateServiceRequest(environment="production", service="payment-svc", task_definition_arn=new)
    )
    ActivityEnvironment().run(
        activities.wait_for_rollout,
        RolloutRequest(environment="production", service="payment-svc", task_definition_arn=new),
    )
    plan = activities.plan_rollback(PlanRequest(environment="production", services=["payment-svc"]))
    assert plan.targets[0].target.version == "v4.1.0"  # no record: the previous revision of the family

    record = DeploymentRecord(
        id="deploy-test",
        kind="deployment",
        environment="production",
        state="COMPLETED",
        requested_by="alice",
        started_at=datetime.now(UTC),
        changes=[
            ServiceChange(
                service="payment-svc",
                before_arn=old,
                before_version="v4.0.0",
                after_arn=new,
                after_version="v4.2.0",
                outcome="deployed",
            )
        ],
    )
    RecordStore(aws.s3, sandbox_stack.config.aws.records_bucket).write(record)
    plan = activities.plan_rollback(PlanRequest(environment="production", services=["payment-svc"]))
    assert plan.targets[0].target.version == "v4.0.0"
    named = activities.plan_rollback(PlanRequest(environment="production", services=["payment-svc"], version="v1.0.0"))
    assert named.targets[0].target.revision == 1


def test_a_whole_environments_rollback_leaves_a_service_with_nothing_earlier_as_it_is(ecs):
    activities, aws = ecs
    service, cluster = "notification-svc", "skillancer-staging"
    before = aws.ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    # A family of its own: the service runs its first revision, so nothing earlier exists.
    first = register(aws, f"skillancer-staging-{service}-{uuid.uuid4().hex[:8]}", service, "v0.1.0")
    aws.ecs.update_service(cluster=cluster, service=service, taskDefinition=first)
    try:
        one = activities.plan_rollback(PlanRequest(environment="staging", services=[service]))
        assert one.targets == [] and one.problems == [
            f"{service}: {first.rsplit('/', 1)[1]} is the first revision; nothing to roll back to"
        ]
        whole = activities.plan_rollback(PlanRequest(environment="staging", services=[service], whole_environment=True))
        assert whole.targets == [] and whole.problems == [] and whole.unchanged == one.problems
        # Asked for a version, a whole environment still refuses what it cannot do.
        named = activities.plan_rollback(
            PlanRequest(environment="staging", services=[service], version="v9.9.9", whole_environment=True)
        )
        assert named.problems and named.unchanged == []
    finally:
        aws.ecs.update_service(cluster=cluster, service=service, taskDefinition=before)
