"""PagerDuty as the pager activities use it: the requests each documented URL receives (respx, with
the production configuration of deploy/runbook.toml), then the whole path against the sandbox's fake
over HTTP: trigger, escalate to a person, and an acknowledgement made in PagerDuty coming back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pager import API_VERSION, PagerActivities
from runbook.config import RunbookConfig, load_config, parse_config
from runbook.incident import PageAction, PageRequest
from runbook.integrations import Endpoint
from runbook.pager import AcknowledgementWatch, PageEscalation
from sandbox.pagerduty import PagerFake
from sandbox.recorder import Recorder
from sandbox.web import WebApp, WebServer
from tests.support import SANDBOX_CONFIG

# The real services' configuration: production's host, people and requester.
PRODUCTION_TEXT = (Path(__file__).parents[2] / "deploy" / "runbook.toml").read_text()
PRODUCTION = parse_config(PRODUCTION_TEXT, "deploy/runbook.toml")
EVENTS = "https://events.pagerduty.com/v2/enqueue"
REST = "https://api.pagerduty.com"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
EVENTS_API = Endpoint(provider="pagerduty", url=EVENTS, secret=SecretStr(ROUTING_KEY))
REST_API = Endpoint(provider="pagerduty", url=REST, secret=SecretStr("rest-token"))
TEST_WORKFLOW = ActivityEnvironment.default_info().workflow_id
POLICY = {"id": "PPOLICY", "type": "escalation_policy_reference"}


def with_pager(config: RunbookConfig, **pager: Any) -> RunbookConfig:
    return config.model_copy(update={"pager": config.pager.model_copy(update=pager)})


def with_escalation(config: RunbookConfig, escalation: list[str]) -> RunbookConfig:
    return config.model_copy(update={"incidents": config.incidents.model_copy(update={"escalation": escalation})})


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def open_incident(**fields: Any) -> dict[str, Any]:
    return {
        "id": "Q1INCIDENT0001",
        "title": "INC-1 P1: checkout failing",
        "status": "triggered",
        "incident_key": "INC-1",
        "created_at": "2026-11-30T12:00:00Z",
        "escalation_policy": POLICY,
        "assignments": [{"assignee": {"id": "PDANA04", "type": "user_reference"}}],
        "acknowledgements": [],
        "incidents_responders": [],
        **fields,
    }


def incidents(*found: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"incidents": list(found), "limit": 25, "offset": 0, "more": False})


# Events API v2: what the trigger says.


async def test_a_trigger_names_the_affected_host_and_links_the_workflow(wire: respx.MockRouter) -> None:
    route = wire.post(EVENTS).mock(return_value=httpx.Response(202, json={"status": "success", "dedup_key": "INC-1"}))
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        page = PageRequest(
            dedup_key="INC-1",
            summary="INC-1 P1: checkout failing",
            severity="critical",
            component="market-svc",
            custom_details={"incident": "INC-1"},
        )
        assert (await ActivityEnvironment().run(pager.trigger_page, page)).dedup_key == "INC-1"
        await ActivityEnvironment().run(pager.trigger_page, page.model_copy(update={"environment": "staging"}))
        await pager.acknowledge_page(PageAction(dedup_key="INC-1"))
        await pager.resolve_page(PageAction(dedup_key="INC-1"))
    production, staging, acknowledge, resolve = sent(route)
    assert production == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "INC-1",
        "payload": {
            "summary": "INC-1 P1: checkout failing",
            "source": "api.skillancer.com",
            "severity": "critical",
            "component": "market-svc",
            "custom_details": {
                "incident": "INC-1",
                "workflow_id": TEST_WORKFLOW,
                "runbook_ui": f"http://127.0.0.1:8233/namespaces/default/workflows/{TEST_WORKFLOW}",
            },
        },
    }
    assert staging["payload"]["source"] == "staging.skillancer.com"
    assert acknowledge == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "INC-1"}
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == "INC-1"


async def test_a_rate_limited_pager_is_retried_later_and_a_refused_event_never(wire: respx.MockRouter) -> None:
    route = wire.post(EVENTS)
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        route.mock(return_value=httpx.Response(429))
        with pytest.raises(ApplicationError) as limited:
            await pager.acknowledge_page(PageAction(dedup_key="INC-1"))
        invalid = {"status": "invalid event", "errors": ["Invalid routing key"]}
        route.mock(return_value=httpx.Response(400, json=invalid))
        with pytest.raises(ApplicationError) as refused:
            await pager.acknowledge_page(PageAction(dedup_key="INC-1"))
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=30)
    assert refused.value.non_retryable and "Invalid routing key" in str(refused.value)


# REST API: escalation.


async def test_escalating_to_a_person_in_pagerduty_adds_them_as_responder_once(wire: respx.MockRouter) -> None:
    found = wire.get(f"{REST}/incidents").mock(return_value=incidents(open_incident()))
    users = wire.get(f"{REST}/users").mock(
        return_value=httpx.Response(200, json={"users": [{"id": "PRUNBK1", "email": "runbook@skillancer.com"}]})
    )
    requested = wire.post(f"{REST}/incidents/Q1INCIDENT0001/responder_requests").mock(
        return_value=httpx.Response(200, json={"responder_request": {}})
    )
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        added = await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))
        frank = {"state": "pending", "user": {"id": "PFRANK6", "type": "user_reference"}}
        found.mock(return_value=incidents(open_incident(incidents_responders=[frank])))
        retried = await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))

    assert (added.action, added.detail) == ("responder_added", "added frank (PFRANK6) as responder")
    assert (retried.action, retried.detail) == ("unchanged", "frank (PFRANK6) is a responder already")
    assert sent(requested) == [
        {
            "requester_id": "PRUNBK1",
            "message": "Escalated by the runbook: INC-1 P1: checkout failing",
            "responder_request_targets": [{"responder_request_target": {"id": "PFRANK6", "type": "user_reference"}}],
        }
    ]
    lookup = found.calls[0].request
    assert lookup.url.params.get_list("statuses[]") == ["triggered", "acknowledged"]
    assert lookup.url.params["incident_key"] == "INC-1"
    assert (lookup.headers["Authorization"], lookup.headers["Accept"]) == ("Token token=rest-token", API_VERSION)
    assert users.calls[0].request.url.params["query"] == "runbook@skillancer.com"


async def test_escalating_to_someone_pagerduty_does_not_know_moves_the_incident_up_its_policy(
    wire: respx.MockRouter,
) -> None:
    # frank is known to Slack, not to PagerDuty.
    config = parse_config(PRODUCTION_TEXT.replace(', pagerduty_id = "PFRANK6"', ""), "frank unknown to PagerDuty")
    found = wire.get(f"{REST}/incidents").mock(return_value=incidents(open_incident()))
    oncalls = [
        {"user": {"id": user}, "escalation_policy": POLICY, "escalation_level": level}
        for user, level in (("PDANA04", 1), ("PGRACE7", 2))
    ]
    wire.get(f"{REST}/oncalls").mock(return_value=httpx.Response(200, json={"oncalls": oncalls}))
    moved = wire.put(f"{REST}/incidents/Q1INCIDENT0001").mock(return_value=httpx.Response(200, json={}))
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, config, EVENTS_API, REST_API)
        escalated = await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))
        at_level_2 = [{"assignee": {"id": "PGRACE7", "type": "user_reference"}}]
        found.mock(return_value=incidents(open_incident(assignments=at_level_2)))
        retried = await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))
        beyond = await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=2))

    assert (escalated.action, escalated.detail) == ("escalated", "escalated to level 2 of the escalation policy")
    assert (retried.action, retried.detail) == ("unchanged", "at level 2 of the escalation policy already")
    assert (beyond.action, beyond.detail) == ("unchanged", "the escalation policy has nobody on call at level 3")
    assert sent(moved) == [{"incident": {"type": "incident_reference", "escalation_level": 2}}]
    assert moved.calls[0].request.headers["From"] == "runbook@skillancer.com"


async def test_escalation_waits_for_the_incident_and_a_refused_request_is_final(wire: respx.MockRouter) -> None:
    found = wire.get(f"{REST}/incidents").mock(return_value=incidents())
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        with pytest.raises(ApplicationError) as not_yet:
            await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))
        found.mock(return_value=httpx.Response(401, json={"error": {"message": "Authentication failed", "code": 2006}}))
        with pytest.raises(ApplicationError) as refused:
            await pager.escalate_page(PageEscalation(dedup_key="INC-1", to="frank", escalation=1))
    assert not not_yet.value.non_retryable and "no open PagerDuty incident" in str(not_yet.value)
    assert refused.value.non_retryable and "Authentication failed (code 2006)" in str(refused.value)


# REST API: the acknowledgement made in PagerDuty.


def acknowledged_by(user_id: str, summary: str) -> dict[str, Any]:
    acknowledger = {"id": user_id, "type": "user_reference", "summary": summary}
    return open_incident(
        status="acknowledged", acknowledgements=[{"at": "2026-11-30T12:03:00Z", "acknowledger": acknowledger}]
    )


async def test_the_watch_polls_until_a_person_acknowledges_heartbeating(wire: respx.MockRouter) -> None:
    by_service = {"at": "2026-11-30T12:01:00Z", "acknowledger": {"id": "PSVC", "type": "service_reference"}}
    wire.get(f"{REST}/incidents").mock(
        side_effect=[
            incidents(open_incident()),
            httpx.Response(503),
            incidents(open_incident(status="acknowledged", acknowledgements=[by_service])),
            incidents(acknowledged_by("PDANA04", "Dana")),
        ]
    )
    environment, beats = ActivityEnvironment(), []
    environment.on_heartbeat = lambda *details: beats.append(details)
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(
            http, with_pager(PRODUCTION, acknowledgement_poll=timedelta(seconds=1)), EVENTS_API, REST_API
        )
        acknowledged = await environment.run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-1"))

    assert (acknowledged.status, acknowledged.by, acknowledged.pagerduty_user) == ("acknowledged", "dana", "PDANA04")
    assert acknowledged.at.isoformat() == "2026-11-30T12:03:00+00:00"
    assert len(beats) >= 3


async def test_an_unknown_acknowledger_is_named_as_pagerduty_shows_them_and_a_resolve_ends_the_watch(
    wire: respx.MockRouter,
) -> None:
    resolved = open_incident(
        status="resolved",
        resolved_at="2026-11-30T12:09:00Z",
        last_status_change_by={"id": "PGRACE7", "type": "user_reference", "summary": "Grace"},
    )
    route = wire.get(f"{REST}/incidents").mock(return_value=incidents(acknowledged_by("PSTRANG", "Sam Stranger")))
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        stranger = await ActivityEnvironment().run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-1"))
        route.mock(return_value=incidents(resolved))
        closed = await ActivityEnvironment().run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-1"))
    assert (stranger.by, stranger.pagerduty_user) == ("Sam Stranger", "PSTRANG")
    assert (closed.status, closed.by) == ("resolved", "grace")


async def test_a_refused_token_ends_the_watch_for_good(wire: respx.MockRouter) -> None:
    wire.get(f"{REST}/incidents").mock(return_value=httpx.Response(403, json={"error": {"message": "Forbidden"}}))
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-1"))
    assert refused.value.non_retryable and "HTTP 403" in str(refused.value)


async def test_cancelling_the_watch_ends_it_promptly(wire: respx.MockRouter) -> None:
    wire.get(f"{REST}/incidents").mock(return_value=incidents(open_incident()))
    environment = ActivityEnvironment()
    async with httpx.AsyncClient() as http:
        pager = PagerActivities(http, PRODUCTION, EVENTS_API, REST_API)  # polls every 30 s
        watching = asyncio.ensure_future(
            environment.run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-1"))
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        environment.cancel()
        await asyncio.wait([watching], timeout=2)
        ended = time.monotonic() - started
    assert watching.cancelled() and ended < 1


# The whole path against the sandbox's PagerDuty, over HTTP.


@pytest.fixture
async def sandbox_pagerduty() -> AsyncIterator[tuple[PagerActivities, httpx.AsyncClient]]:
    # demo has no PagerDuty ID: the escalation policy is dana, then grace.
    config = with_pager(
        with_escalation(load_config(SANDBOX_CONFIG), ["demo", "grace"]), acknowledgement_poll=timedelta(seconds=1)
    )
    server = WebServer(WebApp(PagerFake(config, ROUTING_KEY, "sandbox-token").rules(Recorder())), 0)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    events = Endpoint(provider="sandbox", url=f"{base}/pagerduty/v2/enqueue", secret=SecretStr(ROUTING_KEY))
    rest = Endpoint(provider="sandbox", url=f"{base}/pagerduty/api", secret=SecretStr("sandbox-token"))
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            yield PagerActivities(http, config, events, rest), http
    finally:
        server.stop()


async def test_escalation_reaches_people_and_their_acknowledgement_comes_back(
    sandbox_pagerduty: tuple[PagerActivities, httpx.AsyncClient],
) -> None:
    pager, http = sandbox_pagerduty
    page = PageRequest(dedup_key="INC-7", summary="INC-7 P1: checkout failing", severity="critical")
    await ActivityEnvironment().run(pager.trigger_page, page)
    await ActivityEnvironment().run(pager.trigger_page, page)

    def notified() -> list[str]:
        return [n["name"] for n in incident()["notifications"]]

    def incident() -> dict[str, Any]:
        return state["incidents"][0]

    state = (await http.get("/_sandbox/pagerduty")).json()
    assert notified() == ["dana"] and incident()["source"] == "127.0.0.1"

    to_demo = PageEscalation(dedup_key="INC-7", to="demo", escalation=1)
    escalated = await pager.escalate_page(to_demo)
    retried = await pager.escalate_page(to_demo)
    added = await pager.escalate_page(PageEscalation(dedup_key="INC-7", to="frank", escalation=2))
    await pager.escalate_page(PageEscalation(dedup_key="INC-7", to="frank", escalation=2))
    state = (await http.get("/_sandbox/pagerduty")).json()

    assert escalated.detail == "escalated to level 2 of the escalation policy"
    assert retried.action == "unchanged"
    assert added.detail == "added frank (PFRANK6) as responder"
    assert notified() == ["dana", "grace", "frank"]

    watching = asyncio.ensure_future(
        ActivityEnvironment().run(pager.await_acknowledgement, AcknowledgementWatch(dedup_key="INC-7"))
    )
    await asyncio.sleep(0.3)
    assert not watching.done()
    acknowledge = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    headers = {"Authorization": "Token token=sandbox-token", "Accept": API_VERSION, "From": "frank@skillancer.com"}
    answer = await http.put(f"/pagerduty/api/incidents/{incident()['id']}", json=acknowledge, headers=headers)
    assert answer.status_code == 200
    acknowledged = await asyncio.wait_for(watching, timeout=5)
    assert (acknowledged.by, acknowledged.pagerduty_user, acknowledged.incident_id) == (
        "frank",
        "PFRANK6",
        incident()["id"],
    )
