"""The incident's outside systems as the wire sees them (respx): the status page, Slack channels,
the operations API, and ECS scale-up. PagerDuty's are tests/activities/test_pager_activities.py's."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
import respx
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.mitigation import MitigationActivities
from activities.slack import SlackActivities
from activities.statuspage import StatusPageActivities
from runbook.config import StatusPageConfig, load_config
from runbook.incident import (
    ChannelRequest,
    InviteRequest,
    OpsRequest,
    ScaleUpRequest,
    StatusPageChange,
    StatusPageOpen,
)
from runbook.integrations import Endpoint
from runbook.models import SlackMessage
from tests.support import SANDBOX_CONFIG

CONFIG = load_config(SANDBOX_CONFIG)
# The real services' documented URLs: what a worker with real providers calls.
PAGES = "https://api.statuspage.io/v1/pages/skillancer/incidents"
SLACK = "https://slack.com/api"
STATUS_PAGE = Endpoint(provider="statuspage", url="https://api.statuspage.io/v1", secret=SecretStr("api-key"))
SLACK_BOT = Endpoint(provider="slack", url=SLACK, secret=SecretStr("token"))
PAGE = StatusPageConfig(page_id="skillancer")


@pytest.fixture
def wire():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def sent(route: respx.Route) -> list[dict]:
    return [json.loads(call.request.content) for call in route.calls]


async def test_the_status_page_is_opened_kept_in_step_and_resolved(wire):
    opened = wire.post(PAGES).mock(
        return_value=httpx.Response(201, json={"id": "sp1", "shortlink": "https://stspg.io/sp1"})
    )
    changed = wire.patch(f"{PAGES}/sp1").mock(
        return_value=httpx.Response(200, json={"id": "sp1", "status": "resolved"})
    )
    async with httpx.AsyncClient() as http:
        page = StatusPageActivities(http, STATUS_PAGE, PAGE)
        incident = await ActivityEnvironment().run(
            page.open_status_page,
            StatusPageOpen(name="market-svc: checkout failing", body="🚨 INCIDENT", impact="critical"),
        )
        await page.update_status_page(StatusPageChange(incident_id="sp1", status="resolved", body="✅ RESOLVED"))
    assert (incident.id, incident.shortlink) == ("sp1", "https://stspg.io/sp1")
    assert sent(opened) == [
        {
            "incident": {
                "name": "market-svc: checkout failing (test)",
                "status": "investigating",
                "body": "🚨 INCIDENT",
                "impact_override": "critical",
            }
        }
    ]
    assert sent(changed) == [{"incident": {"status": "resolved", "body": "✅ RESOLVED"}}]
    assert opened.calls[0].request.headers["Authorization"] == "OAuth api-key"


async def test_an_unknown_status_page_incident_is_not_retried(wire):
    wire.patch(f"{PAGES}/gone").mock(
        return_value=httpx.Response(404, json={"error": "The requested resource could not be found."})
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(ApplicationError) as error:
            await StatusPageActivities(http, STATUS_PAGE, PAGE).update_status_page(
                StatusPageChange(incident_id="gone", status="identified", body="x")
            )
    assert error.value.non_retryable and "HTTP 404" in str(error.value)


async def test_a_war_room_is_created_and_people_invited(wire):
    wire.post(f"{SLACK}/conversations.create").mock(
        return_value=httpx.Response(200, json={"ok": True, "channel": {"id": "C1", "name": "inc-20261126-0001"}})
    )
    invite = wire.post(f"{SLACK}/conversations.invite").mock(
        return_value=httpx.Response(200, json={"ok": False, "error": "already_in_channel"})
    )
    async with httpx.AsyncClient() as http:
        slack = SlackActivities(http, SLACK_BOT)
        channel = await slack.create_channel(ChannelRequest(name="inc-20261126-0001"))
        await slack.invite(InviteRequest(channel="C024BE91L", users=["U0ALICE0001", "U0BOB000002"]))
    assert (channel.id, channel.name) == ("C1", "inc-20261126-0001")
    # Slack invites nobody when one of a list is in already: then each is asked for on their own.
    assert sent(invite) == [
        {"channel": "C024BE91L", "users": "U0ALICE0001,U0BOB000002"},
        {"channel": "C024BE91L", "users": "U0ALICE0001"},
        {"channel": "C024BE91L", "users": "U0BOB000002"},
    ]


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [({"ok": False, "error": "invalid_name_specials"}, True), ({"ok": False, "error": "internal_error"}, False)],
)
async def test_slack_refusals_to_create_a_channel(wire, answer, permanent):
    wire.post(f"{SLACK}/conversations.create").mock(return_value=httpx.Response(200, json=answer))
    async with httpx.AsyncClient() as http:
        with pytest.raises(ApplicationError) as error:
            await SlackActivities(http, SLACK_BOT).create_channel(ChannelRequest(name="inc-1"))
    assert error.value.non_retryable is permanent and answer["error"] in str(error.value)


async def test_rate_limit_and_maintenance_page_go_to_the_environments_operations_api(wire):
    base = CONFIG.environment("production").base_url
    rate = wire.post(f"{base}/_ops/rate-limit").mock(return_value=httpx.Response(200, json={}))
    maintenance = wire.post(f"{base}/_ops/maintenance").mock(return_value=httpx.Response(200, json={}))
    request = OpsRequest(environment="production", services=["market-svc"], incident_id="INC-1")
    async with httpx.AsyncClient() as http:
        ops = MitigationActivities(SimpleNamespace(ecs=None), http, CONFIG, SecretStr("ops-token"))
        limited = await ops.rate_limit(request)
        paged = await ops.maintenance_page(request)
    assert sent(rate) == [{"services": ["market-svc"], "requests_per_second": 50, "incident": "INC-1"}]
    assert sent(maintenance) == [{"enabled": True, "services": ["market-svc"], "incident": "INC-1"}]
    assert rate.calls[0].request.headers["Authorization"] == "Bearer ops-token"
    assert (
        limited.detail == "market-svc limited to 50 requests/s"
        and paged.detail == "production redirects to the maintenance page"
    )


def test_scale_up_sets_the_target_from_the_count_seen_before_so_a_retry_adds_nothing():
    updates = []
    ecs = SimpleNamespace(update_service=lambda **call: updates.append(call))
    activities = MitigationActivities(SimpleNamespace(ecs=ecs), SimpleNamespace(), CONFIG, SecretStr("t"))
    request = ScaleUpRequest(environment="production", desired_before={"market-svc": 2, "payment-svc": 10})
    first, again = activities.scale_up(request), activities.scale_up(request)
    assert first == again
    assert [(c.service, c.before, c.after) for c in first] == [("market-svc", 2, 4), ("payment-svc", 10, 10)]
    assert updates == [{"cluster": "skillancer-prod", "service": "market-svc", "desiredCount": 4}] * 2


async def test_a_message_is_posted_with_the_bot_token_and_a_rate_limit_waits_as_slack_says(wire):
    route = wire.post(f"{SLACK}/chat.postMessage")
    async with httpx.AsyncClient() as http:
        slack = SlackActivities(http, SLACK_BOT)
        route.mock(
            return_value=httpx.Response(429, headers={"Retry-After": "7"}, json={"ok": False, "error": "ratelimited"})
        )
        with pytest.raises(ApplicationError) as limited:
            await ActivityEnvironment().run(slack.post_message, SlackMessage(channel="#deployments", text="🚀 v1.2.0"))
        route.mock(
            return_value=httpx.Response(200, json={"ok": True, "channel": "C024BE91L", "ts": "1401383885.000061"})
        )
        posted = await ActivityEnvironment().run(
            slack.post_message, SlackMessage(channel="#deployments", text="🚀 v1.2.0")
        )
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=7)
    assert (posted.channel, posted.ts) == ("C024BE91L", "1401383885.000061")
    # The metadata's key: the workflow, its run and the activity (ActivityEnvironment's defaults).
    assert sent(route)[-1] == {
        "channel": "#deployments",
        "text": "🚀 v1.2.0",
        "metadata": {"event_type": "runbook_post", "event_payload": {"key": "test/test-run/test"}},
    }
    assert route.calls[-1].request.headers["Authorization"] == "Bearer token"


@pytest.mark.parametrize(
    ("error", "permanent"), [("invalid_auth", True), ("missing_scope", True), ("fatal_error", False)]
)
async def test_slack_refusals_to_post(wire, error, permanent):
    wire.post(f"{SLACK}/chat.postMessage").mock(return_value=httpx.Response(200, json={"ok": False, "error": error}))
    async with httpx.AsyncClient() as http:
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(
                SlackActivities(http, SLACK_BOT).post_message, SlackMessage(channel="#deployments", text="x")
            )
    assert refused.value.non_retryable is permanent and error in str(refused.value)
