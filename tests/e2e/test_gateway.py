"""The gateway in the stack, as people use it: a click on a Slack button (played by the sandbox's
Slack, signed as Slack signs it) approves a deployment as the person who clicked, and only a person
who may; a PagerDuty webhook acknowledges an incident as the PagerDuty user, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx

from runbook.integrations import sandbox_secret
from runbook.status import ProcedureStatus, State
from runbook.temporal import connect
from starter.commands import deployment_request, launch_deployment
from tests.e2e.test_incident import declare
from tests.support import procedure_status, reach, status, wait_for


def click(stack, workflow_id: str, action: str, person: str) -> tuple[int, dict]:
    """`runbook sandbox slack click`: the exit code, and what the clicker saw."""
    done = stack.cli("sandbox", "slack", "click", workflow_id, action, "--as", person, "--json")
    # 1 without a word on standard output: no message carries that button.
    assert done.returncode in (0, 1) and done.stdout, done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def refusals(stack, workflow_id: str) -> list[tuple[str, str]]:
    current: ProcedureStatus | None = procedure_status(stack, workflow_id)
    assert current is not None
    return [(refusal.handler, refusal.reason) for refusal in current.refusals]


async def test_a_slack_click_approves_as_the_clicker_and_only_an_approver_who_did_not_start_it(e2e_stack):
    client = await connect(e2e_stack.config)
    request = deployment_request(
        e2e_stack.config, "production", f"v5.{uuid.uuid4().int % 1000}.0", ["notification-svc"], "alice",
        no_checklist_reason="gateway test",
    )  # fmt: skip
    handle = await launch_deployment(client, e2e_stack.config, "deployment", request)
    await reach(handle, "approval")

    # dana is a person, in Slack, but not an approver; alice started it: four eyes.
    for person, why in (("dana", "'dana' is not an approver"), ("alice", "alice started this deployment")):
        exit_code, seen = click(e2e_stack, handle.id, "approve", person)
        assert exit_code == 1 and seen["outcome"] == "refused", seen
        assert seen["response"]["effect"] == "ephemeral" and seen["response"]["text"].startswith("Not taken: ")
        assert why in seen["response"]["text"]
    assert [refusal.handler for refusal in (await status(handle)).refusals] == ["approve", "approve"]
    assert (await reach(handle, "approval")).state == State.RUNNING

    exit_code, seen = click(e2e_stack, handle.id, "approve", "bob")
    assert exit_code == 0 and seen["outcome"] == "taken", seen
    assert seen["response"]["effect"] == "replaced"
    assert seen["response"]["text"].endswith("*Approved by <@U0BOB000002>*")
    result = await handle.result()
    assert result.state == State.COMPLETED, result
    shown = e2e_stack.cli("status", handle.id)
    assert "bob, Slack U0BOB000002" in shown.stdout, shown.stdout


def acknowledged_webhook(incident_id: str, event_id: str) -> bytes:
    """An `incident.acknowledged` v3 webhook as PagerDuty sends it, for dana."""
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "occurred_at": "2026-11-30T15:00:00.000Z",
                "agent": {"id": "PDANA04", "type": "user_reference", "summary": "Dana"},
                "client": None,
                "data": {
                    "id": "Q0GATEWAY01",
                    "type": "incident",
                    "status": "acknowledged",
                    "incident_key": incident_id,
                },
            }
        }
    ).encode()


def deliver(stack, body: bytes) -> int:
    secret = stack.env.get("PAGERDUTY_WEBHOOK_SECRET") or sandbox_secret("PAGERDUTY_WEBHOOK_SECRET", {})
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}
    return httpx.post(f"{stack.gateway_url}/pagerduty/webhook", content=body, headers=headers).status_code


def test_a_pagerduty_webhook_acknowledges_the_incident_as_that_person_once(e2e_stack):
    incident_id = declare(e2e_stack, "--severity", "P3", "--summary", "search is slow", "--services", "market-svc")
    wait_for(
        lambda: any(e.event == "on-call paged" for e in procedure_status(e2e_stack, incident_id).timeline), "the page"
    )
    # Sent to the gateway alone: PagerDuty's own record (the fake's) stays unacknowledged, so the
    # worker's polling cannot be what acknowledges it.
    body = acknowledged_webhook(incident_id, "01GATEWAYEVENT1")
    assert deliver(e2e_stack, body) == 200
    state = wait_for(
        lambda: procedure_status(e2e_stack, incident_id).details["incident"]["acknowledged"], "the acknowledgement"
    )
    assert state["by"] == "dana" and state["note"] == "acknowledged in PagerDuty (PDANA04)"
    shown = e2e_stack.cli("status", incident_id)
    assert "dana, PagerDuty PDANA04" in shown.stdout, shown.stdout

    # Delivered again, and a second event for the same acknowledgement: still one.
    assert deliver(e2e_stack, body) == 200
    assert deliver(e2e_stack, acknowledged_webhook(incident_id, "01GATEWAYEVENT2")) == 200
    refused = wait_for(lambda: refusals(e2e_stack, incident_id), "the second acknowledgement refused")
    assert refused == [("acknowledge", "already acknowledged by dana")]
    timeline = procedure_status(e2e_stack, incident_id).timeline
    assert [entry.event for entry in timeline].count("acknowledged") == 1
