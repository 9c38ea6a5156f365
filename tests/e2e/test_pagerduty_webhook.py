"""An acknowledgement made in PagerDuty (the sandbox's) reaches the incident both ways at once, as in
production: PagerDuty's signed webhook, through the gateway, and the worker's polling of its REST
API. The person is the same either way and the incident is acknowledged once."""

from __future__ import annotations

import json

import httpx

from tests.e2e.test_incident import declare
from tests.support import procedure_status, wait_for


def test_pagerdutys_webhook_reaches_the_incident_through_the_gateway_beside_the_polling(e2e_stack):
    incident_id = declare(e2e_stack, "--severity", "P3", "--summary", "invoices are late", "--services", "payment-svc")
    wait_for(
        lambda: any(e.event == "on-call paged" for e in procedure_status(e2e_stack, incident_id).timeline), "the page"
    )

    acked = e2e_stack.cli("sandbox", "pagerduty", "ack", incident_id, "--as", "dana", "--json")
    assert acked.returncode == 0, acked.stdout + acked.stderr
    shown = json.loads(acked.stdout)
    assert shown["webhook"] is True

    def delivered() -> list[dict]:
        state = httpx.get(f"{e2e_stack.fleet_url}/_sandbox/pagerduty").json()
        return [d for d in state["webhooks"] if d["incident"] == shown["pagerduty_incident"] and d.get("delivered_at")]

    [delivery] = wait_for(delivered, "PagerDuty's webhook delivered to the gateway", 20)
    assert delivery["status"] == 200, delivery
    # The gateway checked the signature, found dana and sent the workflow her acknowledgement:
    # taken, or refused as taken already when the worker's polling read it first.
    assert e2e_stack.gateway_log is not None
    sent = wait_for(
        lambda: [
            line
            for line in e2e_stack.gateway_log.read_text().splitlines()
            if "/pagerduty/webhook acknowledge " in line and repr(incident_id) in line
        ],
        "the gateway's acknowledgement sent to the incident",
        20,
    )
    assert "person=dana" in sent[0]
    assert " acknowledge taken " in sent[0] or "refused: already acknowledged by dana" in sent[0], sent

    state = wait_for(
        lambda: procedure_status(e2e_stack, incident_id).details["incident"]["acknowledged"], "the acknowledgement"
    )
    assert state["by"] == "dana"
    timeline = procedure_status(e2e_stack, incident_id).timeline
    assert [entry.event for entry in timeline].count("acknowledged") == 1
    [entry] = [entry for entry in timeline if entry.event == "acknowledged"]
    assert (entry.actor, entry.verified) == ("dana", "PagerDuty PDANA04")
