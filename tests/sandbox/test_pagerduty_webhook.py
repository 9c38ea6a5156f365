"""A person's acknowledgement in the PagerDuty fake reaches the gateway as PagerDuty's v3 webhook
`incident.acknowledged`, signed with the webhook secret; `--no-webhook` leaves only the REST API
for the worker to poll. A small HTTP server on a free port stands in for the gateway, and the
signature is checked here as PagerDuty's documentation says a receiver checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbook.config import RunbookConfig, load_config
from runbook.integrations import sandbox_secret
from sandbox.fakes import Fakes
from sandbox.web import WebApp, WebServer
from starter.cli import dispatch
from tests.support import SANDBOX_CONFIG, serving, wait_for

SECRET = sandbox_secret("PAGERDUTY_WEBHOOK_SECRET")


class Gateway(ThreadingHTTPServer):
    """Answers every POST 202 and keeps what it received: (path, headers, raw body)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Receiver)


class _Receiver(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    with serving(server):
        yield server


@pytest.fixture
def sandbox_url(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fakes, configured with the stand-in gateway's port, and the CLI configured with both."""
    server = WebServer(WebApp(Fakes(configured(gateway.server_address[1])).rules()), 0)
    server.start()
    try:
        text = SANDBOX_CONFIG.read_text().replace("fleet_port = 8080", f"fleet_port = {server.port}")
        (tmp_path / "runbook.toml").write_text(text)
        monkeypatch.setenv("RUNBOOK_CONFIG", str(tmp_path / "runbook.toml"))
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def configured(gateway_port: int) -> RunbookConfig:
    config = load_config()
    return config.model_copy(update={"gateway": config.gateway.model_copy(update={"port": gateway_port})})


def trigger(sandbox_url: str, dedup_key: str = "INC-1") -> None:
    event = {
        "routing_key": sandbox_secret("PAGERDUTY_ROUTING_KEY"),
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "checkout failing", "source": "api.skillancer.com", "severity": "critical"},
    }
    httpx.post(f"{sandbox_url}/pagerduty/v2/enqueue", json=event).raise_for_status()


def deliveries(sandbox_url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{sandbox_url}/_sandbox/pagerduty").json()["webhooks"]


def test_an_acknowledgement_by_a_person_is_sent_to_the_gateway_signed(sandbox_url, gateway, capsys):
    trigger(sandbox_url)
    assert dispatch(["sandbox", "pagerduty", "ack", "INC-1", "--as", "dana"]) == 0
    assert "its webhook goes to the gateway" in capsys.readouterr().out
    [delivery] = wait_for(lambda: deliveries(sandbox_url), "the webhook delivered", 10, accept=lambda d: d[0]["status"])

    [(path, headers, body)] = gateway.received
    assert path == "/pagerduty/webhook"
    assert headers["Content-Type"] == "application/json"
    expected = "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-PagerDuty-Signature"], expected)
    assert headers["X-Webhook-Id"] == delivery["webhook_id"] and headers["X-Webhook-Subscription"]
    event = json.loads(body)["event"]
    assert (event["event_type"], event["resource_type"]) == ("incident.acknowledged", "incident")
    assert {"id", "occurred_at", "client"} <= set(event)
    assert {key: event["agent"][key] for key in ("id", "type", "summary")} == {
        "id": "PDANA04",
        "type": "user_reference",
        "summary": "dana",
    }
    incident = event["data"]
    assert (incident["type"], incident["status"], incident["incident_key"]) == ("incident", "acknowledged", "INC-1")
    assert (incident["id"], incident["number"], incident["title"]) == (delivery["incident"], 1, "checkout failing")
    assert [assignee["id"] for assignee in incident["assignees"]] == ["PDANA04"]
    assert incident["service"]["type"] == "service_reference"
    assert incident["escalation_policy"]["type"] == "escalation_policy_reference"
    assert delivery["status"] == 202


def test_no_webhook_acknowledges_for_the_polling_alone(sandbox_url, gateway):
    trigger(sandbox_url)
    assert dispatch(["sandbox", "pagerduty", "ack", "INC-1", "--as", "dana", "--no-webhook"]) == 0
    state = httpx.get(f"{sandbox_url}/_sandbox/pagerduty").json()
    assert state["incidents"][0]["status"] == "acknowledged"
    assert state["webhooks"] == [] and gateway.received == []


def test_a_gateway_that_does_not_answer_leaves_the_acknowledgement_made_and_the_failure_recorded(sandbox_url, gateway):
    gateway.shutdown()
    gateway.server_close()
    trigger(sandbox_url)
    assert dispatch(["sandbox", "pagerduty", "ack", "INC-1", "--as", "dana"]) == 0
    [delivery] = wait_for(lambda: deliveries(sandbox_url), "the failed delivery", 10, accept=lambda d: d[0]["error"])
    assert delivery["status"] is None and "ConnectError" in delivery["error"]
    assert httpx.get(f"{sandbox_url}/_sandbox/pagerduty").json()["incidents"][0]["status"] == "acknowledged"


def test_an_acknowledgement_by_the_integration_sends_no_webhook_to_act_on(sandbox_url, gateway):
    trigger(sandbox_url)
    ack = {"routing_key": sandbox_secret("PAGERDUTY_ROUTING_KEY"), "event_action": "acknowledge", "dedup_key": "INC-1"}
    httpx.post(f"{sandbox_url}/pagerduty/v2/enqueue", json=ack).raise_for_status()
    assert httpx.get(f"{sandbox_url}/_sandbox/pagerduty").json()["incidents"][0]["status"] == "acknowledged"
    assert deliveries(sandbox_url) == []
