"""Secrets reach the services that need them and nothing else: no history holds one."""

from __future__ import annotations

import asyncio

from temporalio.api.history.v1 import History

from runbook.temporal import connect
from starter.commands import deployment_request, launch_deployment
from tests.conftest import STACK_SECRETS
from tests.e2e.test_incident import declare
from tests.support import procedure_status, reach, wait_for

INTEGRATION_SECRETS = {name: value for name, value in STACK_SECRETS.items() if not name.startswith("AWS_")}


async def run_a_deployment(stack) -> None:
    client = await connect(stack.config)
    request = deployment_request(stack.config, "production", "v9.9.0", ["notification-svc"], "alice")
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
    assert {call["body"]["routing_key"] for call in e2e_stack.calls("pagerduty")[seen_before["pagerduty"] :]} == {
        STACK_SECRETS["PAGERDUTY_ROUTING_KEY"]
    }

    histories = asyncio.run(every_history(e2e_stack))
    assert any(b"payouts failing" in stored for stored in histories.values()), "the scan cannot read payloads"
    leaks = [
        (workflow_id, name)
        for workflow_id, stored in histories.items()
        for name, secret in INTEGRATION_SECRETS.items()
        if secret.encode() in stored
    ]
    assert leaks == []
