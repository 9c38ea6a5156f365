"""Manual rollback as the runbook shows it, against the sandbox's ECS, Slack and S3."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from activities.lock import acquire_environment, release_environment
from activities.records import RecordStore
from runbook.models import LockRelease, LockRequest
from runbook.temporal import connect
from tests.support import PROJECT, wait_for


@pytest.fixture
def aws(e2e_stack):
    return e2e_stack.aws


def deploy(aws, stack, environment: str, services: list[str], version: str) -> None:
    """What a deployment leaves behind: a new revision running the version, rolled out."""
    cluster = stack.config.environment(environment).cluster
    for service in services:
        family = f"{cluster}-{service}"
        revision = aws.ecs.register_task_definition(
            family=family,
            containerDefinitions=[{"name": service, "image": f"skillancer/{service}:{version}", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        aws.ecs.update_service(cluster=cluster, service=service, taskDefinition=revision)
    wait_for(lambda: all(stack.running(environment, s).version == version for s in services), "the rollout", 20)


def slack_texts(stack) -> list[str]:
    return [call["body"]["text"] for call in stack.calls("slack") if call["path"].endswith("chat.postMessage")]


def test_one_service_back_to_the_previous_revision(e2e_stack, aws):
    deploy(aws, e2e_stack, "production", ["api-gateway"], "v1.1.9")
    deploy(aws, e2e_stack, "production", ["api-gateway"], "v1.2.0")
    before = len(slack_texts(e2e_stack))
    done = e2e_stack.cli("rollback", "-y", "production", "api-gateway", "--reason", "5xx after deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "api-gateway: rolled_back v1.2.0 → v1.1.9" in done.stdout
    assert e2e_stack.running("production", "api-gateway").version == "v1.1.9"
    started, finished = slack_texts(e2e_stack)[before:]
    assert "ROLLBACK started in production by tester" in started and "5xx after deploy" in started
    assert "ROLLBACK finished" in finished and "api-gateway: rolled_back" in finished
    index = RecordStore(aws.s3, e2e_stack.config.aws.records_bucket).index("production")
    record = next(r for r in reversed(index.records) if r.kind == "rollback" and r.reason == "5xx after deploy")
    assert (record.kind, record.reason, record.requested_by) == ("rollback", "5xx after deploy", "tester")
    assert record.changes[0].before_version == "v1.2.0" and record.changes[0].after_version == "v1.1.9"


def test_to_a_named_version_without_a_reason(e2e_stack, aws):
    deploy(aws, e2e_stack, "staging", ["auth-svc"], "v1.3.0")
    done = e2e_stack.cli("rollback", "-y", "staging", "auth-svc", "v1.0.0", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reason"] == "manual rollback by tester"
    assert result["services"][0]["to_version"] == "v1.0.0"
    assert e2e_stack.running("staging", "auth-svc").version == "v1.0.0"


def test_all_services_with_the_runbook_script(e2e_stack, aws):
    services = e2e_stack.config.services.names
    deploy(aws, e2e_stack, "production", services, "v1.9.9")
    deploy(aws, e2e_stack, "production", services, "v2.0.0")
    done = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "rollback.sh"), "-y", "production", "all"],
        env=e2e_stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": rolled_back v2.0.0 → v1.9.9") == len(services)
    assert {e2e_stack.running("production", s).version for s in services} == {"v1.9.9"}


def test_an_unknown_version_is_refused_listing_the_versions(e2e_stack, aws):
    before = e2e_stack.running("staging", "market-svc")
    done = e2e_stack.cli("rollback", "-y", "staging", "market-svc", "v9.9.9")
    assert done.returncode == 2
    assert "no revision of skillancer-staging-market-svc runs version 'v9.9.9'; versions: v1.0.0, v1.1.0" in done.stderr
    assert e2e_stack.running("staging", "market-svc") == before
    listed = e2e_stack.cli("list", "--kind", "rollback", "--json")
    assert all("market-svc" not in json.dumps(row) for row in json.loads(listed.stdout))


def test_without_a_terminal_and_without_y_nothing_starts(e2e_stack, aws):
    before = e2e_stack.running("staging", "payment-svc")
    done = e2e_stack.cli("rollback", "staging", "payment-svc")
    assert done.returncode == 2
    assert "no terminal to confirm on: pass -y" in done.stderr
    assert e2e_stack.running("staging", "payment-svc") == before


def test_a_rollout_that_fails_fails_that_service_loudly(e2e_stack, aws):
    deploy(aws, e2e_stack, "staging", ["notification-svc"], "v0.9.0-bad")
    deploy(aws, e2e_stack, "staging", ["notification-svc"], "v1.4.0")
    done = e2e_stack.cli("rollback", "-y", "staging", "notification-svc", "--reason", "try the bad one")
    assert done.returncode == 1
    assert "notification-svc: failed v1.4.0 → v0.9.0-bad" in done.stdout
    assert "rollout FAILED" in done.stdout
    assert "rollback FAILED" in done.stdout
    deploy(aws, e2e_stack, "staging", ["notification-svc"], "v1.4.1")  # leave staging healthy


def test_a_second_change_to_the_environment_is_refused_naming_the_first(e2e_stack, aws):
    holder = e2e_stack.cli("verify", "production", "--manual")  # any running procedure can hold the lock
    holder_id = holder.stdout.splitlines()[0]

    async def hold(acquire: bool) -> None:
        client = await connect(e2e_stack.config)
        if acquire:
            grant = await acquire_environment(
                client,
                e2e_stack.config.temporal.task_queue,
                LockRequest(environment="production", holder_id=holder_id, kind="rollback"),
            )
            assert grant.granted
        else:
            await release_environment(client, LockRelease(environment="production", holder_id=holder_id))
            await client.get_workflow_handle(holder_id).cancel()

    asyncio.run(hold(True))
    try:
        done = e2e_stack.cli("rollback", "-y", "production", "market-svc")
        assert done.returncode == 2
        assert f"production is being changed by {holder_id} (rollback)" in done.stderr
    finally:
        asyncio.run(hold(False))


def test_a_rollback_that_leaves_the_environment_unhealthy_fails_and_says_so(e2e_stack, aws):
    deploy(aws, e2e_stack, "staging", ["market-svc"], "v1.3.1")
    deploy(aws, e2e_stack, "staging", ["market-svc"], "v1.3.2")
    e2e_stack.fault("staging", "auth-svc", "down")
    done = e2e_stack.cli("rollback", "-y", "staging", "market-svc", "--reason", "checkout errors")
    # Reverted, but RUNBOOK.md's "Verify Rollback" (the environment's health check) fails.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "market-svc: rolled_back v1.3.2 → v1.3.1" in done.stdout
    assert "staging still failing:" in done.stdout and done.stdout.rstrip().endswith("rollback FAILED")
    assert e2e_stack.running("staging", "market-svc").version == "v1.3.1"
    finished = slack_texts(e2e_stack)[-1]
    assert finished.startswith(":x: ROLLBACK finished, but staging is still unhealthy") and "still failing:" in finished
