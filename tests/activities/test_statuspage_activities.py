"""The status page activities: the requests Statuspage's documented API takes (respx), and against
the sandbox's strict Statuspage fake over HTTP: one public incident even when a reply is lost."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.statuspage import StatusPageActivities
from runbook.config import StatusPageConfig, load_config
from runbook.incident import StatusPageChange, StatusPageOpen
from runbook.integrations import Endpoint

API = "https://api.statuspage.io/v1"
PAGE = StatusPageConfig(page_id="sk7rnq2vb4xd", components={"market-svc": "c0mpmarketsv", "auth-svc": "c0mpauthsvc0"})
INCIDENTS = f"{API}/pages/{PAGE.page_id}/incidents"
INCIDENT_ID = "INC-20261130-0001"
OPENING = StatusPageOpen(
    name="market-svc, search-svc: checkout failing",
    body="🚨 INCIDENT",
    impact="critical",
    services=["market-svc", "search-svc"],
    component_status="major_outage",
)


def attempt(number: int) -> ActivityEnvironment:
    """The activity as the worker runs it for INCIDENT_ID's workflow, on its NUMBER-th attempt."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=INCIDENT_ID, attempt=number)
    return environment


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def page() -> AsyncIterator[StatusPageActivities]:
    async with httpx.AsyncClient() as http:
        yield StatusPageActivities(http, Endpoint(provider="statuspage", url=API, secret=SecretStr("k3y")), PAGE)


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content)["incident"] for call in route.calls]


async def test_an_incident_names_its_workflow_and_marks_the_services_components(wire, page):
    opened = wire.post(INCIDENTS).respond(201, json={"id": "p1", "shortlink": "https://stspg.io/p1"})
    changed = wire.patch(f"{INCIDENTS}/p1").respond(200, json={"id": "p1"})

    incident = await attempt(1).run(page.open_status_page, OPENING)
    resolved = StatusPageChange(
        incident_id="p1", status="resolved", body="✅", services=OPENING.services, component_status="operational"
    )
    await page.update_status_page(resolved)

    assert (incident.id, incident.shortlink) == ("p1", "https://stspg.io/p1")
    # search-svc has no component on the page: left out, not an error.
    assert sent(opened) == [
        {
            "name": f"market-svc, search-svc: checkout failing ({INCIDENT_ID})",
            "status": "investigating",
            "body": "🚨 INCIDENT",
            "impact_override": "critical",
            "components": {"c0mpmarketsv": "major_outage"},
            "component_ids": ["c0mpmarketsv"],
        }
    ]
    assert sent(changed) == [
        {
            "status": "resolved",
            "body": "✅",
            "components": {"c0mpmarketsv": "operational"},
            "component_ids": ["c0mpmarketsv"],
        }
    ]
    assert opened.calls[0].request.headers["Authorization"] == "OAuth k3y"


async def test_a_long_name_is_cut_to_statuspages_limit_and_keeps_the_incident_id(wire, page):
    opened = wire.post(INCIDENTS).respond(201, json={"id": "p1"})
    await attempt(1).run(page.open_status_page, OPENING.model_copy(update={"name": "checkout failing " * 30}))
    name = sent(opened)[0]["name"]
    assert len(name) == 255 and name.endswith(f"… ({INCIDENT_ID})")


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [(420, {}, None), (429, {}, None), (420, {"Retry-After": "7"}, timedelta(seconds=7))],
    ids=["420", "429", "420-retry-after"],
)
async def test_420_and_429_are_rate_limits_retried_later(wire, page, status, headers, wait):
    wire.patch(f"{INCIDENTS}/p1").respond(status, headers=headers, json={"message": "Rate limited"})
    with pytest.raises(ApplicationError) as limited:
        await page.update_status_page(StatusPageChange(incident_id="p1", status="identified", body="x"))
    assert not limited.value.non_retryable and limited.value.type == "StatusPageRateLimited"
    assert limited.value.next_retry_delay == wait


async def test_a_refused_incident_is_not_retried(wire, page):
    wire.post(INCIDENTS).respond(422, json={"message": "status: 'mitigating' is not one of investigating"})
    with pytest.raises(ApplicationError) as refused:
        await attempt(1).run(page.open_status_page, OPENING)
    assert refused.value.non_retryable and "HTTP 422" in str(refused.value)


# Against the sandbox's Statuspage fake, served on a free port -----------------------------------

CONFIG = load_config()


@pytest.fixture
async def sandbox_page(fakes_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, StatusPageActivities]]:
    async with httpx.AsyncClient(base_url=fakes_url, timeout=10) as http:
        endpoint = Endpoint(provider="sandbox", url=f"{fakes_url}/statuspage/v1", secret=SecretStr("sandbox"))
        yield http, StatusPageActivities(http, endpoint, CONFIG.statuspage)
        await http.delete("/_sandbox/outages")


async def test_a_retry_after_a_lost_reply_finds_the_incident_its_first_attempt_opened(sandbox_page):
    fake, page = sandbox_page
    pages = f"/statuspage/v1/pages/{CONFIG.statuspage.page_id}"
    auth = {"Authorization": "OAuth sandbox"}
    await fake.post("/_sandbox/outages", json={"system": "statuspage", "mode": "drop"})
    opening = OPENING.model_copy(update={"services": ["market-svc", "auth-svc"]})

    with pytest.raises(httpx.RemoteProtocolError):
        await attempt(1).run(page.open_status_page, opening)
    retried = await attempt(2).run(page.open_status_page, opening)

    found = (await fake.get(f"{pages}/incidents", params={"q": INCIDENT_ID}, headers=auth)).json()
    assert [incident["id"] for incident in found] == [retried.id], "exactly one public incident"
    components = (await fake.get(f"{pages}/components", headers=auth)).json()
    marked = {component["name"] for component in components if component["status"] == "major_outage"}
    assert marked == {"market-svc", "auth-svc"}

    resolved = StatusPageChange(
        incident_id=retried.id, status="resolved", body="✅", services=opening.services, component_status="operational"
    )
    await page.update_status_page(resolved)
    components = (await fake.get(f"{pages}/components", headers=auth)).json()
    assert {component["status"] for component in components} == {"operational"}


async def test_the_fakes_420_is_a_rate_limit_the_worker_waits_out(sandbox_page):
    fake, page = sandbox_page
    await fake.post("/_sandbox/outages", json={"system": "statuspage", "status": 420, "retry_after": 3})
    with pytest.raises(ApplicationError) as limited:
        await attempt(1).run(page.open_status_page, OPENING)
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=3)
