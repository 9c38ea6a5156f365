"""Slack posts and war rooms happen once, against the sandbox's strict Slack fake over HTTP.

A lost reply is the sandbox's outage mode "drop": the call is applied, then the connection is cut
before the answer. Temporal then retries the activity: here, the same activity run again with the
same workflow, run and activity IDs and the next attempt number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.slack import SlackActivities
from runbook.config import load_config
from runbook.incident import ChannelRequest, InviteRequest
from runbook.integrations import Endpoint
from runbook.models import SlackMessage
from sandbox.fakes import Fakes
from sandbox.web import WebApp, WebServer

CONFIG = load_config()
TOKEN = "xoxb-stack-secret-slack"
ALICE, BOB = CONFIG.people.root["alice"].slack_id, CONFIG.people.root["bob"].slack_id
MESSAGE = SlackMessage(channel="#deployments", text="🚀 v1.2.0 to production: started")


@pytest.fixture
def fakes() -> Iterator[tuple[Fakes, str]]:
    """A fresh Slack workspace behind a real HTTP server, so a dropped connection is a real one."""
    fakes = Fakes(CONFIG)
    server = WebServer(WebApp(fakes.rules()), port=0)
    server.start()
    try:
        yield fakes, f"http://127.0.0.1:{server.port}/slack/api"
    finally:
        server.stop()


@pytest.fixture
async def slack(fakes: tuple[Fakes, str]) -> AsyncIterator[SlackActivities]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield SlackActivities(http, Endpoint(provider="sandbox", url=fakes[1], secret=SecretStr(TOKEN)))


def attempt(number: int, activity_id: str = "7", run_id: str = "run-1") -> ActivityEnvironment:
    """One attempt of one activity, as Temporal would run it."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        workflow_id="deploy-production-v1.2.0",
        workflow_run_id=run_id,
        activity_id=activity_id,
        attempt=number,
        scheduled_time=datetime.now(UTC),
        current_attempt_scheduled_time=datetime.now(UTC),
    )
    return environment


def slack_api(fakes: tuple[Fakes, str], method: str, **arguments: Any) -> dict[str, Any]:
    answer = httpx.get(f"{fakes[1]}/{method}", params=arguments, headers={"Authorization": f"Bearer {TOKEN}"})
    return answer.json()


def channel_named(fakes: tuple[Fakes, str], name: str) -> list[dict[str, Any]]:
    return [c for c in slack_api(fakes, "conversations.list")["channels"] if c["name"] == name]


def messages(fakes: tuple[Fakes, str], channel: str = "deployments") -> list[dict[str, Any]]:
    (found,) = channel_named(fakes, channel)
    return slack_api(fakes, "conversations.history", channel=found["id"], include_all_metadata="true")["messages"]


async def test_a_post_retried_after_its_reply_was_lost_is_not_posted_twice(fakes, slack) -> None:
    fakes[0].outages.add("slack", mode="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        await attempt(1).run(slack.post_message, MESSAGE)
    retried = await attempt(2).run(slack.post_message, MESSAGE)

    posted = messages(fakes)
    assert [m["text"] for m in posted] == [MESSAGE.text]
    assert retried.ts == posted[0]["ts"] and retried.channel == channel_named(fakes, "deployments")[0]["id"]
    assert posted[0]["metadata"] == {
        "event_type": "runbook_post",
        "event_payload": {"key": "deploy-production-v1.2.0/run-1/7"},
    }


async def test_each_step_and_each_run_posts_its_own_message(fakes, slack) -> None:
    await attempt(1).run(slack.post_message, MESSAGE)
    # The same text from another step, and from the same step of the next run (continue-as-new).
    await attempt(2, activity_id="8").run(slack.post_message, MESSAGE)
    await attempt(2, run_id="run-2").run(slack.post_message, MESSAGE)
    keys = [m["metadata"]["event_payload"]["key"] for m in messages(fakes)]
    assert keys == [
        "deploy-production-v1.2.0/run-2/7",
        "deploy-production-v1.2.0/run-1/8",
        "deploy-production-v1.2.0/run-1/7",
    ]


async def test_a_rate_limited_post_waits_as_slack_says_then_posts_once(fakes, slack) -> None:
    fakes[0].outages.add("slack", retry_after=7)
    with pytest.raises(ApplicationError) as limited:
        await attempt(1).run(slack.post_message, MESSAGE)
    await attempt(2).run(slack.post_message, MESSAGE)
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=7)
    assert [m["text"] for m in messages(fakes)] == [MESSAGE.text]


async def test_a_war_room_retried_after_its_reply_was_lost_is_the_one_created(fakes, slack) -> None:
    request = ChannelRequest(name="inc-20261130-0001")
    fakes[0].outages.add("slack", mode="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        await attempt(1).run(slack.create_channel, request)
    retried = await attempt(2).run(slack.create_channel, request)

    (room,) = channel_named(fakes, "inc-20261130-0001")
    assert (retried.id, retried.name) == (room["id"], "inc-20261130-0001")


async def test_invites_reach_whoever_is_not_in_yet_in_a_channel_named_or_by_id(fakes, slack) -> None:
    room = (await attempt(1).run(slack.create_channel, ChannelRequest(name="inc-20261130-0002"))).id
    await attempt(1).run(slack.invite, InviteRequest(channel=room, users=[ALICE]))
    # Slack invites nobody when one of the list is in already: bob must still get in.
    await attempt(1).run(slack.invite, InviteRequest(channel=room, users=[ALICE, BOB]))
    await attempt(1).run(slack.invite, InviteRequest(channel="#incidents", users=[BOB]))

    again = slack_api(fakes, "conversations.invite", channel=room, users=BOB)
    (incidents,) = channel_named(fakes, "incidents")
    assert again["error"] == "already_in_channel"
    assert incidents["num_members"] == 2


async def test_an_invite_by_name_is_refused_for_good(fakes, slack) -> None:
    room = (await attempt(1).run(slack.create_channel, ChannelRequest(name="inc-20261130-0003"))).id
    with pytest.raises(ApplicationError) as refused:
        await attempt(1).run(slack.invite, InviteRequest(channel=room, users=["alice"]))
    assert refused.value.non_retryable and "user_not_found" in str(refused.value)
