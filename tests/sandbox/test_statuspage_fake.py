"""The Statuspage fake refuses what Statuspage refuses, and marks components as Statuspage does.

Each rule of the sandbox's facts table (Statuspage rows) has a wrong request here, refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from runbook.config import RunbookConfig, load_config
from sandbox.fakes import Fakes
from sandbox.web import WebApp

CONFIG = load_config()
PAGE = CONFIG.statuspage.page_id
INCIDENTS = f"/statuspage/v1/pages/{PAGE}/incidents"
COMPONENTS = f"/statuspage/v1/pages/{PAGE}/components"
AUTH = {"Authorization": "OAuth 89a229ce1a8dbcf9ff30430fbe35eb4c"}
MARKET = CONFIG.statuspage.components["market-svc"]
AUTH_SVC = CONFIG.statuspage.components["auth-svc"]


@pytest.fixture
def page() -> Client:
    """A fresh page per test: its components' status is state."""
    return Client(WebApp(Fakes(CONFIG).rules()))


def create(page: Client, **fields: Any) -> TestResponse:
    return page.post(INCIDENTS, json={"incident": {"name": "Checkout failing", **fields}}, headers=AUTH)


def component_statuses(page: Client) -> dict[str, str]:
    return {component["name"]: component["status"] for component in page.get(COMPONENTS, headers=AUTH).json}


def test_the_page_has_the_configured_components_named_after_their_services(page: Client) -> None:
    components = page.get(COMPONENTS, headers=AUTH).json
    assert {c["id"]: c["name"] for c in components} == {v: k for k, v in CONFIG.statuspage.components.items()}
    assert {c["status"] for c in components} == {"operational"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer 89a229ce"}, {"Authorization": "89a229ce"}, {"Authorization": "OAuth "}],
    ids=["missing", "bearer", "no-scheme", "no-key"],
)
def test_a_call_without_an_oauth_api_key_is_not_authenticated(page: Client, headers: dict[str, str]) -> None:
    answer = page.post(INCIDENTS, json={"incident": {"name": "Checkout failing"}}, headers=headers)
    assert (answer.status_code, answer.json) == (401, {"message": "Could not authenticate"})
    assert page.get(f"{INCIDENTS}?api_key=89a229ce").status_code == 200, "the documented query parameter"


def test_only_the_configured_page_exists(page: Client) -> None:
    for path in ("/statuspage/v1/pages/skillancer/incidents", "/statuspage/v1/pages/page1/components"):
        answer = page.get(path, headers=AUTH)
        assert (answer.status_code, answer.json) == (404, {"message": "The requested resource could not be found."})


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        ({"status": "investigating"}, "name can't be blank"),
        ({"name": "  "}, "name can't be blank"),
        ({"name": "x" * 256}, "name is too long (maximum is 255 characters)"),
        ({"name": "x", "body": "y" * 25001}, "body must be text of at most 25000 characters"),
        ({"name": "x", "status": "mitigating"}, "status: 'mitigating' is not one of investigating, identified"),
        ({"name": "x", "impact_override": "P1"}, "impact_override: 'P1' is not one of none, maintenance, minor"),
        ({"name": "x", "impact": "major"}, "unknown incident field(s): impact"),
        ({"name": "x", "components": {"nope12345678": "major_outage"}}, "unknown component(s) nope12345678"),
        ({"name": "x", "component_ids": ["market-svc"]}, "unknown component(s) market-svc"),
        ({"name": "x", "components": {MARKET: "down"}}, f"components.{MARKET}: 'down' is not one of operational"),
        ({"name": "x", "components": [MARKET]}, "components must map component IDs to a status"),
    ],
)
def test_an_invalid_incident_is_unprocessable(page: Client, incident: dict[str, Any], message: str) -> None:
    answer = page.post(INCIDENTS, json={"incident": incident}, headers=AUTH)
    assert answer.status_code == 422 and message in answer.json["message"]
    assert page.get(INCIDENTS, headers=AUTH).json == []
    assert set(component_statuses(page).values()) == {"operational"}


def test_a_body_without_the_incident_envelope_is_a_bad_request(page: Client) -> None:
    for body in ({"name": "Checkout failing"}, {"incident": "Checkout failing"}):
        answer = page.post(INCIDENTS, json=body, headers=AUTH)
        assert answer.status_code == 400 and "incident" in answer.json["message"]
    assert page.post(INCIDENTS, data="{", headers=AUTH, content_type="application/json").status_code == 400


def test_an_incident_marks_its_components_and_its_resolve_marks_them_operational(page: Client) -> None:
    created = create(page, impact_override="critical", components={MARKET: "major_outage"}, component_ids=[MARKET])
    assert created.status_code == 201
    incident = created.json
    assert [c["id"] for c in incident["components"]] == [MARKET]
    assert component_statuses(page)["market-svc"] == "major_outage"
    assert component_statuses(page)["auth-svc"] == "operational"

    resolved = page.patch(
        f"{INCIDENTS}/{incident['id']}",
        json={"incident": {"status": "resolved", "body": "fixed", "components": {MARKET: "operational"}}},
        headers=AUTH,
    )
    assert resolved.status_code == 200 and resolved.json["resolved_at"]
    assert [u["status"] for u in resolved.json["incident_updates"]] == ["resolved", "investigating"]
    assert set(component_statuses(page).values()) == {"operational"}


def test_an_update_is_held_to_the_same_rules_and_an_unknown_incident_is_not_found(page: Client) -> None:
    incident = create(page).json
    wrong = page.patch(f"{INCIDENTS}/{incident['id']}", json={"incident": {"status": "fixed"}}, headers=AUTH)
    assert wrong.status_code == 422 and "status: 'fixed'" in wrong.json["message"]
    unknown = page.patch(f"{INCIDENTS}/0000deadbeef", json={"incident": {"status": "resolved"}}, headers=AUTH)
    assert (unknown.status_code, unknown.json) == (404, {"message": "The requested resource could not be found."})
    assert page.get(f"{INCIDENTS}/{incident['id']}", headers=AUTH).json["status"] == "investigating"


def test_lists_search_page_and_leave_resolved_incidents_out_of_unresolved(page: Client) -> None:
    first = create(page, name="Checkout failing (INC-20261130-0001)").json
    create(page, name="Search slow (INC-20261130-0002)", body="Results take a minute")
    page.patch(f"{INCIDENTS}/{first['id']}", json={"incident": {"status": "resolved"}}, headers=AUTH)

    def names(path: str) -> list[str]:
        return [incident["name"] for incident in page.get(path, headers=AUTH).json]

    assert names(INCIDENTS) == ["Search slow (INC-20261130-0002)", "Checkout failing (INC-20261130-0001)"]
    assert names(f"{INCIDENTS}?q=inc-20261130-0001") == ["Checkout failing (INC-20261130-0001)"]
    assert names(f"{INCIDENTS}?q=a+minute") == ["Search slow (INC-20261130-0002)"], "an update's body is searched"
    assert names(f"{INCIDENTS}?limit=1&page=2") == ["Checkout failing (INC-20261130-0001)"]
    assert names(f"{INCIDENTS}/unresolved") == ["Search slow (INC-20261130-0002)"]
    assert names(f"{INCIDENTS}/unresolved?per_page=1&page=2") == []
    assert page.get(f"{INCIDENTS}?limit=many", headers=AUTH).status_code == 400


@pytest.mark.parametrize("status", [420, 429])
def test_a_rate_limit_answers_with_statuspages_codes(page: Client, status: int) -> None:
    page.post("/_sandbox/outages", json={"system": "statuspage", "status": status, "retry_after": 2})
    limited = create(page)
    assert limited.status_code == status and limited.headers["Retry-After"] == "2"
    assert create(page).status_code == 201
    assert len(page.get(INCIDENTS, headers=AUTH).json) == 1


def test_the_fake_follows_the_configuration(config: RunbookConfig) -> None:
    other = config.model_copy(
        update={"statuspage": config.statuspage.model_copy(update={"page_id": "x1y2z3", "components": {}})}
    )
    page = Client(WebApp(Fakes(other).rules()))
    assert page.get("/statuspage/v1/pages/x1y2z3/components", headers=AUTH).json == []
    assert page.get(COMPONENTS, headers=AUTH).status_code == 404
