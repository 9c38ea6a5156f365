"""Secrets reach the services that need them and nothing else: no history holds one."""

from __future__ import annotations

import asyncio

import httpx
from temporalio.api.history.v1 import History, HistoryEvent

from runbook.temporal import connect
from starter.commands import deployment_request, launch_deployment
from tests.conftest import STACK_SECRETS
from tests.e2e.test_incident import declare
from tests.support import procedure_status, reach, wait_for

INTEGRATION_SECRETS = {name: value for name, value in STACK_SECRETS.items() if not name.startswith("AWS_")}


async def run_a_deployment(stack) -> None:
    client = await connect(stack.config)
    request = deployment_request(
        stack.config, "production", "v9.9.0", ["notification-svc"], "alice", no_checklist_reason="secrets test"
    )
    handle = await launch_deployment(client, stack.config, "deployment", request)
    await reach(handle, "approval")
    await handle.execute_update("approve", {"approver": "bob", "comment": "fine"})
    await handle.result()


async def every_history(stack) -> dict[str, bytes]:
    """Each history as stored: protobuf bytes, in which payloads are raw (JSON would base64 them)."""
    client = await connect(stack.config)
    return {
        execution.id: History(
            events=(await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()).events
        ).SerializeToString()
        async for execution in client.list_workflows()
    }


def failure_texts(events: list[HistoryEvent]) -> list[str]:
    """Every failure a history holds, with its causes: activities' last errors, attempts that were
    retried (an ActivityTaskStarted's last_failure), children's and workflows' failures."""
    texts = []
    for event in events:
        attributes = getattr(event, event.WhichOneof("attributes"))
        for name in ("failure", "last_failure"):
            if name in attributes.DESCRIPTOR.fields_by_name and attributes.HasField(name):
                failure = getattr(attributes, name)
                while True:
                    texts.append(f"{failure.message}\n{failure.stack_trace}")
                    if not failure.HasField("cause"):
                        break
                    failure = failure.cause
    return texts


async def every_failure(stack) -> dict[str, list[str]]:
    client = await connect(stack.config)
    return {
        execution.id: failure_texts(
            (await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()).events
        )
        async for execution in client.list_workflows()
    }


def outage(stack, **body: object) -> None:
    httpx.post(f"{stack.fleet_url}/_sandbox/outages", json=body).raise_for_status()


def outages_left(stack) -> list[dict]:
    return httpx.get(f"{stack.fleet_url}/_sandbox/outages").json()


async def run_a_deployment_github_refuses(stack) -> None:
    client = await connect(stack.config)
    request = deployment_request(stack.config, "staging", "v9.9.1", ["notification-svc"], "alice")
    handle = await launch_deployment(client, stack.config, "deployment", request)
    await handle.result()


def test_no_failure_holds_a_secret_when_the_integrations_refuse_the_credentials(e2e_stack):
    try:
        # Slack refuses the token as Slack does (HTTP 200, invalid_auth); GitHub answers 401.
        outage(e2e_stack, system="slack", error="invalid_auth")
        outage(e2e_stack, system="github", status=401)
        asyncio.run(run_a_deployment_github_refuses(e2e_stack))
        assert outages_left(e2e_stack) == []
        # An incident whose page and status page are refused (400), and whose first message meets a 401.
        outage(e2e_stack, system="pagerduty", action="events", status=400)
        outage(e2e_stack, system="statuspage", status=400)
        outage(e2e_stack, system="slack", status=401)
        incident_id = declare(e2e_stack, "--severity", "P1", "--summary", "refunds failing", "--services", "auth-svc")
        wait_for(lambda: procedure_status(e2e_stack, incident_id).details["incident"]["assessment"], "the assessment")
        assert outages_left(e2e_stack) == []
        resolved = e2e_stack.cli("incident", "resolve", incident_id, "--resolution", "fixed", "--root-cause", "keys")
        assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    finally:
        httpx.delete(f"{e2e_stack.fleet_url}/_sandbox/outages")

    failures = asyncio.run(every_failure(e2e_stack))
    seen = "\n".join(text for texts in failures.values() for text in texts)
    # The scan reads the failures it is meant to: each refusal is in a history.
    for refusal in (
        "Slack refused chat.postMessage: invalid_auth",
        "GitHub refused the token (401",
        "Client error '401 UNAUTHORIZED' for url",
        "PagerDuty refused the event: HTTP 400",
        "status page refused POST: HTTP 400",
    ):
        assert refusal in seen, refusal
    leaks = [
        (workflow_id, name, text.splitlines()[0])
        for workflow_id, texts in failures.items()
        for text in texts
        for name, secret in INTEGRATION_SECRETS.items()
        if secret in text
    ]
    assert leaks == []
    histories = asyncio.run(every_history(e2e_stack))
    assert [
        (workflow_id, name)
        for workflow_id, stored in histories.items()
        for name, secret in INTEGRATION_SECRETS.items()
        if secret.encode() in stored
    ] == []


def test_no_history_holds_a_secret_though_every_integration_was_called_with_one(e2e_stack):
    # Earlier tests' in-process workers call the fakes with the sandbox's placeholder credential.
    seen_before = {system: len(e2e_stack.calls(system)) for system in ("slack", "github", "statuspage", "pagerduty")}
    asyncio.run(run_a_deployment(e2e_stack))
    incident_id = declare(e2e_stack, "--severity", "P1", "--summary", "payouts failing", "--services", "payment-svc")
    wait_for(lambda: procedure_status(e2e_stack, incident_id).details["incident"]["assessment"], "the assessment")
    assert (
        e2e_stack.cli(
            "incident", "resolve", incident_id, "--resolution", "restarted", "--root-cause", "stuck queue"
        ).returncode
        == 0
    )

    sent = {
        "slack": f"Bearer {STACK_SECRETS['SLACK_BOT_TOKEN']}",
        "github": f"Bearer {STACK_SECRETS['GITHUB_TOKEN']}",
        "statuspage": f"OAuth {STACK_SECRETS['STATUSPAGE_API_KEY']}",
    }
    for system, credential in sent.items():
        assert {call["authorization"] for call in e2e_stack.calls(system)[seen_before[system] :]} == {credential}, (
            system
        )
    pager = e2e_stack.calls("pagerduty")[seen_before["pagerduty"] :]
    events = [call for call in pager if call["path"].endswith("/v2/enqueue")]
    assert events and {call["body"]["routing_key"] for call in events} == {STACK_SECRETS["PAGERDUTY_ROUTING_KEY"]}
    rest = [call for call in pager if call not in events]
    assert rest and {call["authorization"] for call in rest} == {f"Token token={STACK_SECRETS['PAGERDUTY_API_TOKEN']}"}

    histories = asyncio.run(every_history(e2e_stack))
    assert any(b"payouts failing" in stored for stored in histories.values()), "the scan cannot read payloads"
    leaks = [
        (workflow_id, name)
        for workflow_id, stored in histories.items()
        for name, secret in INTEGRATION_SECRETS.items()
        if secret.encode() in stored
    ]
    assert leaks == []
