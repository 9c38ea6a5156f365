"""The PagerDuty fake refuses what PagerDuty refuses and pages whom PagerDuty would page.

Driven through werkzeug's test client on the fake's own routes: the sandbox's configuration gives
the account (dana on call at level 1, then frank and grace; the runbook's own user to make changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.test import Client, TestResponse

from runbook.config import load_config
from sandbox.pagerduty import API_VERSION, PagerFake
from sandbox.recorder import Recorder
from sandbox.web import WebApp, WebServer
from starter.cli import dispatch
from tests.support import SANDBOX_CONFIG

ROUTING_KEY = "a" * 32
TOKEN = "pd-api-token"
API = "/pagerduty/api"
HEADERS = {"Authorization": f"Token token={TOKEN}", "Accept": API_VERSION}
AS_RUNBOOK = {**HEADERS, "From": "runbook@skillancer.com"}
AS_DANA = {**HEADERS, "From": "dana@skillancer.com"}


@pytest.fixture
def pagerduty() -> Client:
    return Client(WebApp(PagerFake(load_config(), ROUTING_KEY, TOKEN).rules(Recorder())))


def event(action: str = "trigger", dedup_key: str = "INC-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = {"summary": "checkout failing", "source": "api.skillancer.com", "severity": "critical"}
    return {**body, **fields}


def incident(pagerduty: Client, dedup_key: str = "INC-1") -> dict[str, Any]:
    return next(i for i in pagerduty.get("/_sandbox/pagerduty").json["incidents"] if i["incident_key"] == dedup_key)


def notified(pagerduty: Client, dedup_key: str = "INC-1") -> list[str]:
    return [notification["name"] for notification in incident(pagerduty, dedup_key)["notifications"]]


def errors(answer: TestResponse) -> list[str]:
    assert answer.status_code == 400 and answer.json["status"] == "invalid event", answer.json
    return list(answer.json["errors"])


# Events API v2: the event's contract.


def test_a_trigger_opens_an_incident_that_pages_the_on_call(pagerduty: Client) -> None:
    answer = pagerduty.post("/pagerduty/v2/enqueue", json=event())

    assert answer.status_code == 202
    assert answer.json == {"status": "success", "message": "Event processed", "dedup_key": "INC-1"}
    opened = incident(pagerduty)
    assert (opened["status"], opened["escalation_level"], opened["id"][0]) == ("triggered", 1, "Q")
    assert [a["assignee"]["id"] for a in opened["assignments"]] == ["PDANA04"]
    assert notified(pagerduty) == ["dana"]


def test_a_second_trigger_on_an_open_alert_pages_nobody_new(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    again = pagerduty.post("/pagerduty/v2/enqueue", json=event())

    assert again.status_code == 202
    assert len(pagerduty.get("/_sandbox/pagerduty").json["incidents"]) == 1
    assert notified(pagerduty) == ["dana"]
    assert [entry["type"] for entry in incident(pagerduty)["log_entries"]] == [
        "trigger_log_entry",
        "escalate_log_entry",
        "trigger_log_entry",
    ]


def test_acknowledge_and_resolve_change_the_status_and_a_resolved_key_triggers_anew(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    pagerduty.post("/pagerduty/v2/enqueue", json=event("acknowledge"))
    assert incident(pagerduty)["status"] == "acknowledged"
    pagerduty.post("/pagerduty/v2/enqueue", json=event("resolve"))
    assert incident(pagerduty)["status"] == "resolved"

    # Dropped, as documented: the alert is resolved, so nothing is acknowledged.
    assert pagerduty.post("/pagerduty/v2/enqueue", json=event("acknowledge")).status_code == 202
    assert [i["status"] for i in pagerduty.get("/_sandbox/pagerduty").json["incidents"]] == ["resolved"]
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    assert [i["status"] for i in pagerduty.get("/_sandbox/pagerduty").json["incidents"]] == ["resolved", "triggered"]


def test_an_acknowledge_for_an_unknown_alert_is_dropped(pagerduty: Client) -> None:
    assert pagerduty.post("/pagerduty/v2/enqueue", json=event("acknowledge", "NOPE")).status_code == 202
    assert pagerduty.get("/_sandbox/pagerduty").json["incidents"] == []


@pytest.mark.parametrize(
    ("wrong", "error"),
    [
        ({"routing_key": "k"}, "Length of 'routing_key' is incorrect (should be 32 characters)"),
        ({"routing_key": "-" * 32}, "'routing_key' cannot contain non-alphanumeric characters."),
        ({"routing_key": None}, "'routing_key' is missing or blank"),
        ({"routing_key": "b" * 32}, "Invalid routing key"),
        ({"event_action": "explode"}, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"),
        ({"dedup_key": "x" * 256}, "'dedup_key' must be a string of at most 255 characters"),
    ],
)
def test_a_malformed_event_is_refused_with_the_documented_answer(
    pagerduty: Client, wrong: dict[str, Any], error: str
) -> None:
    assert error in errors(pagerduty.post("/pagerduty/v2/enqueue", json=event(**wrong)))
    assert pagerduty.get("/_sandbox/pagerduty").json["incidents"] == []


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"summary": "x" * 1025}, "'payload.summary' is longer than 1024 characters"),
        ({"summary": " "}, "'payload.summary' is missing or blank"),
        ({"source": ""}, "'payload.source' is missing or blank"),
        ({"severity": "P1"}, "'payload.severity' is invalid (must be one of: critical, error, warning, info)"),
    ],
)
def test_a_trigger_without_a_valid_payload_is_refused(pagerduty: Client, payload: dict[str, str], error: str) -> None:
    body = event()
    body["payload"].update(payload)
    assert error in errors(pagerduty.post("/pagerduty/v2/enqueue", json=body))


def test_acknowledge_needs_a_dedup_key_and_a_body_needs_to_be_json(pagerduty: Client) -> None:
    assert "'dedup_key' is required to acknowledge" in errors(
        pagerduty.post("/pagerduty/v2/enqueue", json=event("acknowledge", ""))
    )
    garbled = pagerduty.post("/pagerduty/v2/enqueue", data="{", content_type="application/json")
    assert garbled.status_code == 400 and garbled.json["errors"] == ["JSON parse error"]


# REST API: credentials, headers, and the calls the activities make.


def test_the_rest_api_wants_the_token_the_version_and_a_known_from(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    incident_id = incident(pagerduty)["id"]
    acknowledge = {"incident": {"type": "incident_reference", "status": "acknowledged"}}

    no_token = pagerduty.get(f"{API}/incidents", headers={"Accept": API_VERSION})
    wrong_token = pagerduty.get(f"{API}/incidents", headers={**HEADERS, "Authorization": "Bearer pd-api-token"})
    no_version = pagerduty.get(f"{API}/incidents", headers={"Authorization": HEADERS["Authorization"]})
    no_from = pagerduty.put(f"{API}/incidents/{incident_id}", headers=HEADERS, json=acknowledge)
    stranger = pagerduty.put(
        f"{API}/incidents/{incident_id}", headers={**HEADERS, "From": "mallory@example.com"}, json=acknowledge
    )

    assert (no_token.status_code, no_token.json["error"]["code"]) == (401, 2006)
    assert wrong_token.status_code == 401
    assert (no_version.status_code, no_version.json["error"]["message"]) == (400, "Invalid Input Provided")
    assert (no_from.status_code, no_from.json["error"]["code"]) == (400, 2011)
    assert (stranger.status_code, stranger.json["error"]["message"]) == (400, "Requester User Not Found")
    assert incident(pagerduty)["status"] == "triggered"


def test_incidents_are_found_by_incident_key_and_status(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    pagerduty.post("/pagerduty/v2/enqueue", json=event(dedup_key="INC-2"))
    pagerduty.post("/pagerduty/v2/enqueue", json=event("resolve", "INC-2"))

    def listed(query: str) -> list[str]:
        answer = pagerduty.get(f"{API}/incidents?{query}", headers=HEADERS)
        assert answer.status_code == 200, answer.json
        return [i["incident_key"] for i in answer.json["incidents"]]

    assert listed("incident_key=INC-1") == ["INC-1"]
    assert listed("statuses[]=triggered&statuses[]=acknowledged") == ["INC-1"]
    assert listed("incident_key=INC-2&statuses[]=triggered") == []
    shown = pagerduty.get(f"{API}/incidents/{incident(pagerduty)['id']}", headers=HEADERS).json["incident"]
    assert shown["incident_key"] == "INC-1" and "notifications" not in shown
    wrong = pagerduty.get(f"{API}/incidents?statuses[]=open", headers=HEADERS)
    assert wrong.status_code == 400 and "statuses[]" in wrong.json["error"]["errors"][0]
    missing = pagerduty.get(f"{API}/incidents/QNOSUCHINCIDENT", headers=HEADERS)
    assert (missing.status_code, missing.json["error"]) == (404, {"message": "Not Found", "code": 2100})


def test_a_person_acknowledges_in_pagerduty_with_their_from_email(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    incident_id = incident(pagerduty)["id"]

    answer = pagerduty.put(
        f"{API}/incidents/{incident_id}",
        headers=AS_DANA,
        json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
    )

    assert answer.status_code == 200
    acknowledgements = answer.json["incident"]["acknowledgements"]
    assert [ack["acknowledger"]["id"] for ack in acknowledgements] == ["PDANA04"]
    assert answer.json["incident"]["status"] == "acknowledged"
    wrong_status = pagerduty.put(
        f"{API}/incidents/{incident_id}", headers=AS_DANA, json={"incident": {"type": "incident", "status": "done"}}
    )
    assert (wrong_status.status_code, wrong_status.json["error"]["code"]) == (400, 1003)
    untyped = pagerduty.put(
        f"{API}/incidents/{incident_id}", headers=AS_DANA, json={"incident": {"status": "resolved"}}
    )
    assert untyped.status_code == 400 and incident(pagerduty)["status"] == "acknowledged"


def test_escalating_to_a_level_pages_that_level(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    incident_id = incident(pagerduty)["id"]

    def escalate(level: object) -> TestResponse:
        body = {"incident": {"type": "incident_reference", "escalation_level": level}}
        return pagerduty.put(f"{API}/incidents/{incident_id}", headers=AS_RUNBOOK, json=body)

    assert escalate(2).status_code == 200
    escalated = incident(pagerduty)
    assert escalated["escalation_level"] == 2
    assert [a["assignee"]["id"] for a in escalated["assignments"]] == ["PFRANK6"]
    assert notified(pagerduty) == ["dana", "frank"]
    for wrong in (4, 0, "2"):
        refused = escalate(wrong)
        assert (refused.status_code, refused.json["error"]["message"]) == (400, "Cannot Escalate")
    assert notified(pagerduty) == ["dana", "frank"]
    oncalls = pagerduty.get(f"{API}/oncalls?escalation_policy_ids[]=PSKLPOL", headers=HEADERS).json["oncalls"]
    assert [(o["user"]["id"], o["escalation_level"]) for o in oncalls] == [
        ("PDANA04", 1),
        ("PFRANK6", 2),
        ("PGRACE7", 3),
    ]


def test_a_responder_request_adds_and_notifies_the_person(pagerduty: Client) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    incident_id = incident(pagerduty)["id"]
    target = {"responder_request_target": {"id": "PGRACE7", "type": "user_reference"}}
    body = {"requester_id": "PRUNBK1", "message": "please help", "responder_request_targets": [target]}

    answer = pagerduty.post(f"{API}/incidents/{incident_id}/responder_requests", headers=HEADERS, json=body)

    assert answer.status_code == 200, answer.json
    assert answer.json["responder_request"]["responder_request_targets"][0]["responder_request_target"]["id"] == (
        "PGRACE7"
    )
    shown = pagerduty.get(f"{API}/incidents/{incident_id}", headers=HEADERS).json["incident"]
    assert [r["user"]["id"] for r in shown["incidents_responders"]] == ["PGRACE7"]
    assert notified(pagerduty) == ["dana", "grace"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"requester_id": "PNOBODY"}, 400, "Requester User Not Found"),
        ({"message": None}, 400, "Invalid Input Provided"),
        ({"responder_request_targets": []}, 400, "Invalid Input Provided"),
        ({"responder_request_targets": [{"id": "PGRACE7", "type": "user_reference"}]}, 400, "Invalid Input Provided"),
        (
            {"responder_request_targets": [{"responder_request_target": {"id": "PNOBODY", "type": "user_reference"}}]},
            404,
            "Not Found",
        ),
    ],
)
def test_a_wrong_responder_request_is_refused(
    pagerduty: Client, change: dict[str, Any], status: int, message: str
) -> None:
    pagerduty.post("/pagerduty/v2/enqueue", json=event())
    incident_id = incident(pagerduty)["id"]
    target = {"responder_request_target": {"id": "PGRACE7", "type": "user_reference"}}
    body = {"requester_id": "PRUNBK1", "message": "please help", "responder_request_targets": [target], **change}
    body = {key: value for key, value in body.items() if value is not None}

    answer = pagerduty.post(f"{API}/incidents/{incident_id}/responder_requests", headers=HEADERS, json=body)

    assert (answer.status_code, answer.json["error"]["message"]) == (status, message)
    assert notified(pagerduty) == ["dana"]


def test_users_are_found_by_email(pagerduty: Client) -> None:
    users = pagerduty.get(f"{API}/users?query=runbook@skillancer.com", headers=HEADERS).json["users"]
    assert [(user["id"], user["email"]) for user in users] == [("PRUNBK1", "runbook@skillancer.com")]
    assert pagerduty.get(f"{API}/users?query=frank", headers=HEADERS).json["users"][0]["id"] == "PFRANK6"


# The sandbox control: a person acknowledges from the CLI as they would in PagerDuty's app.


def test_the_cli_acknowledges_in_pagerduty_as_the_person_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    server = WebServer(WebApp(PagerFake(load_config(), ROUTING_KEY, TOKEN).rules(Recorder())), 0)
    server.start()
    try:
        config = tmp_path / "runbook.toml"
        config.write_text(SANDBOX_CONFIG.read_text().replace("fleet_port = 8080", f"fleet_port = {server.port}"))
        monkeypatch.setenv("RUNBOOK_CONFIG", str(config))
        httpx.post(f"http://127.0.0.1:{server.port}/pagerduty/v2/enqueue", json=event()).raise_for_status()

        unknown_person = dispatch(["sandbox", "pagerduty", "ack", "INC-1", "--as", "demo"])
        unknown_incident = dispatch(["sandbox", "pagerduty", "ack", "INC-404", "--as", "dana"])
        acknowledged = dispatch(["sandbox", "pagerduty", "ack", "INC-1", "--as", "dana", "--json"])
        state = httpx.get(f"http://127.0.0.1:{server.port}/_sandbox/pagerduty").json()
    finally:
        server.stop()

    out, err = capsys.readouterr()
    assert (unknown_person, unknown_incident, acknowledged) == (2, 1, 0)
    assert "'demo' is nobody PagerDuty knows" in err and "known: alice, bob" in err
    assert "no open PagerDuty incident has the incident key 'INC-404'" in err
    assert json.loads(out) == {
        "id": "INC-1",
        "pagerduty_incident": state["incidents"][0]["id"],
        "status": "acknowledged",
        "by": "dana",
        "webhook": True,
    }
    assert [ack["acknowledger"]["id"] for ack in state["incidents"][0]["acknowledgements"]] == ["PDANA04"]
