"""Slack rate-limiting, GitHub answering 502 and ECS throttling during a deployment: the worker waits
and tries again, and each message and each update reaches its service exactly once.

The session's stack (sandbox and worker); the outages are the sandbox's, injected over HTTP.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import httpx

from runbook.status import State
from runbook.temporal import connect
from starter.commands import deployment_request, launch_deployment

VERSION = "v8.2.0"
SERVICES = ["auth-svc", "notification-svc"]
SLACK_RETRY_AFTER_S = 1


def outage(stack, **body: object) -> None:
    httpx.post(f"{stack.fleet_url}/_sandbox/outages", json=body).raise_for_status()


def since(stack, marks: dict[str, int], system: str) -> list[dict]:
    """This test's calls: the record is the session's, in order, so what came after the mark."""
    return stack.calls(system)[marks[system] :]


def at(call: dict) -> datetime:
    return datetime.fromisoformat(call["time"])


async def test_outages_are_retried_and_each_message_is_delivered_once(e2e_stack):
    stack = e2e_stack
    client = await connect(stack.config)
    marks = {system: len(stack.calls(system)) for system in ("slack", "github", "ecs")}
    outage(stack, system="slack", status=429, times=1, retry_after=SLACK_RETRY_AFTER_S)
    outage(stack, system="github", status=502, times=1)
    outage(stack, system="ecs", action="UpdateService", times=2)
    try:
        request = deployment_request(stack.config, "staging", VERSION, SERVICES, "alice")
        handle = await launch_deployment(client, stack.config, "deployment", request)
        outcome = await asyncio.wait_for(handle.result(), timeout=90)
        left = httpx.get(f"{stack.fleet_url}/_sandbox/outages").json()
    finally:
        httpx.delete(f"{stack.fleet_url}/_sandbox/outages")

    assert outcome.state == State.COMPLETED, outcome.reasons
    assert left == [], f"outages never met: {left}"
    assert {stack.running("staging", service).version for service in SERVICES} == {VERSION}

    # Slack: the refused message went out after the wait Slack asked for, and nothing twice.
    slack = [call for call in since(stack, marks, "slack") if VERSION in str((call["body"] or {}).get("text", ""))]
    refused = [call for call in slack if call.get("injected")]
    delivered = Counter(call["body"]["text"] for call in slack if not call.get("injected"))
    assert [call["injected"] for call in refused] == [429], "the rate-limited post is this deployment's"
    assert delivered and set(delivered.values()) == {1}, f"delivered more than once: {delivered}"
    assert refused[0]["body"]["text"] in delivered
    retried = next(call for call in slack if not call.get("injected") and call["body"] == refused[0]["body"])
    assert (at(retried) - at(refused[0])).total_seconds() >= SLACK_RETRY_AFTER_S - 0.05
    assert any(text.startswith(f":white_check_mark: {VERSION} deployed to staging") for text in delivered)

    # GitHub: the request answered 502 was asked again and answered.
    github = since(stack, marks, "github")
    failed = [call for call in github if call.get("injected")]
    assert [call["injected"] for call in failed] == [502]
    assert any(
        call["path"] == failed[0]["path"] and not call.get("injected") for call in github[github.index(failed[0]) + 1 :]
    )

    # ECS: two throttled tries, and one update per service to the revision the deployment names.
    updates = [call for call in since(stack, marks, "ecs") if call["action"] == "UpdateService"]
    assert sum(1 for call in updates if call.get("injected") == 400) == 2
    applied = [call["body"] for call in updates if not call.get("injected")]
    assert Counter(body["service"] for body in applied) == Counter(SERVICES)
    targets = {change.service: change.after_arn for change in outcome.changes}
    assert {body["service"]: body["taskDefinition"] for body in applied} == targets
