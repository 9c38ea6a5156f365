"""The worker killed with SIGKILL in the middle of a production rollout, and a fresh one started:
the deployment completes, and ECS received exactly one UpdateService per service.

The workers here poll a Temporal server of this test's own. The environment locks are workflows
named lock-<environment>, one per server: created on a queue whose worker dies here, they would
hold up every later deployment of the session. The sandbox is the session's, its rollouts slowed
once staging is done, so that the kill lands while ECS is still rolling production out.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowHandle

from activities.aws import build_aws_clients
from runbook.status import HandlerOutcome, State
from starter.commands import deployment_request, launch_deployment
from tests.conftest import Stack
from tests.support import eventually, reach, start_worker, stop

VERSION = "v8.1.0"
SERVICES = ["api-gateway", "market-svc", "payment-svc"]
# Long enough for the kill to land well inside it. The killed worker's rollout waits are tried
# again once their heartbeat is overdue (ROLLOUT_HEARTBEAT, 15 s, in workflows/deployment.py).
PRODUCTION_ROLLOUT_S = 8.0


@pytest.fixture
def slow_rollouts(sandbox_stack: Stack):
    """Sets how long the sandbox's rollouts take; the session's pace comes back afterwards."""
    url = f"{sandbox_stack.fleet_url}/_sandbox/rollouts"
    usual = httpx.get(url).raise_for_status().json()["seconds"]
    yield lambda seconds: httpx.post(url, json={"seconds": seconds}).raise_for_status()
    httpx.post(url, json={"seconds": usual}).raise_for_status()


async def rollout_attempts(handle: WorkflowHandle) -> list[int]:
    """The attempt on which each wait_for_rollout ran to its end, in the order they were scheduled."""
    events = (await handle.fetch_history()).events
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "wait_for_rollout"
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_a_worker_killed_mid_rollout_is_replaced_and_each_service_is_updated_once(
    own_server, own_stack, slow_rollouts, tmp_path
):
    stack = own_stack
    ecs = build_aws_clients(stack.config).ecs
    cluster = stack.config.environment("production").cluster
    mark = len(stack.calls("ecs"))
    first = start_worker(stack.env, tmp_path / "worker-1.log")
    second = None
    try:
        request = deployment_request(
            stack.config, "production", VERSION, SERVICES, "alice", no_checklist_reason="crash test: the automated path"
        )
        handle = await launch_deployment(own_server.client, stack.config, "deployment", request)
        await reach(handle, "approval")
        slow_rollouts(PRODUCTION_ROLLOUT_S)
        approval = await handle.execute_update("approve", {"approver": "bob"}, result_type=HandlerOutcome)
        assert approval.accepted, approval.reason

        async def every_rollout_watched() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            return sum(a.activity_type.name == "wait_for_rollout" and a.state == started for a in pending) == len(
                SERVICES
            )

        await eventually(every_rollout_watched, "the production rollouts under way")
        described = ecs.describe_services(cluster=cluster, services=SERVICES)["services"]
        primaries = {s["serviceName"]: next(d for d in s["deployments"] if d["status"] == "PRIMARY") for s in described}
        assert {name: d["rolloutState"] for name, d in primaries.items()} == dict.fromkeys(SERVICES, "IN_PROGRESS")

        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        second = start_worker(stack.env, tmp_path / "worker-2.log")
        outcome = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)

    assert outcome.state == State.COMPLETED, outcome.reasons
    assert {stack.running("production", service).version for service in SERVICES} == {VERSION}
    # The kill landed inside the production waits: each ran to its end on a second attempt.
    assert await rollout_attempts(handle) == [1] * len(SERVICES) + [2] * len(SERVICES)

    updates = [
        call["body"]
        for call in stack.calls("ecs")[mark:]
        if call["action"] == "UpdateService" and not call.get("injected")
    ]
    production = [body for body in updates if body["cluster"] == cluster]
    assert Counter(body["service"] for body in production) == Counter(SERVICES), production
    targets = {
        change.service: change.after_arn
        for change in outcome.changes
        if change.after_arn.split("/")[-1].startswith(f"{cluster}-")
    }
    assert {body["service"]: body["taskDefinition"] for body in production} == targets
    assert {primaries[service]["taskDefinition"] for service in SERVICES} == set(targets.values())
