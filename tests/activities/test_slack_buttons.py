"""A message that asks for a decision carries its buttons, and loses them to the outcome once decided:
post_message and settle_buttons against the sandbox's strict Slack fake over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.slack import SlackActivities
from runbook.buttons import approval_buttons, question_buttons
from runbook.config import load_config
from runbook.integrations import Endpoint
from runbook.models import SlackMessage, SlackPosted, SlackSettled
from sandbox.fakes import Fakes
from sandbox.web import WebApp, WebServer

TOKEN = "xoxb-stack-secret-slack"
WORKFLOW = "deploy-production-v1.2.0"
ASK = SlackMessage(
    channel="#deployments", text="🚦 v1.2.0 to production waits for approval", buttons=approval_buttons(WORKFLOW)
)


@pytest.fixture
def fakes_url() -> Iterator[str]:
    """A fresh workspace for each test, behind a real HTTP server."""
    server = WebServer(WebApp(Fakes(load_config()).rules()), port=0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/slack/api"
    finally:
        server.stop()


@pytest.fixture
async def slack(fakes_url: str) -> AsyncIterator[SlackActivities]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield SlackActivities(http, Endpoint(provider="sandbox", url=fakes_url, secret=SecretStr(TOKEN)))


def attempt(number: int = 1) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        workflow_id=WORKFLOW,
        workflow_run_id="run-1",
        activity_id="7",
        attempt=number,
        scheduled_time=datetime.now(UTC),
        current_attempt_scheduled_time=datetime.now(UTC),
    )
    return environment


def history(fakes_url: str, channel: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{fakes_url}/conversations.history", params={"channel": channel}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return answer.json()["messages"]


def shown_buttons(message: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [
        (button["action_id"], button["text"]["text"], button["value"], button.get("style"))
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for button in block["elements"]
    ]


async def test_an_approval_request_carries_approve_and_reject_for_its_workflow(fakes_url, slack) -> None:
    posted = await attempt().run(slack.post_message, ASK)
    [message] = history(fakes_url, posted.channel)
    assert message["text"] == ASK.text
    assert message["blocks"][0]["text"] == {"type": "mrkdwn", "text": ASK.text}
    assert message["blocks"][-1]["block_id"] == "runbook-decision"
    assert shown_buttons(message) == [
        ("approve", "Approve", WORKFLOW, "primary"),
        ("reject", "Reject", WORKFLOW, "danger"),
    ]


async def test_a_button_without_a_style_is_sent_without_one(fakes_url, slack) -> None:
    question = SlackMessage(channel="#deployments", text="Roll back?", buttons=question_buttons(WORKFLOW))
    posted = await attempt().run(slack.post_message, question)
    assert shown_buttons(history(fakes_url, posted.channel)[0]) == [
        ("rollback", "Roll back", WORKFLOW, "danger"),
        ("continue", "Continue", WORKFLOW, None),
    ]


async def test_a_message_without_buttons_has_no_blocks(fakes_url, slack) -> None:
    posted = await attempt().run(slack.post_message, SlackMessage(channel="#deployments", text="started"))
    assert "blocks" not in history(fakes_url, posted.channel)[0]


async def test_text_longer_than_a_section_takes_several_cut_between_lines(fakes_url, slack) -> None:
    lines = [f"{n:04d} " + "x" * 95 for n in range(70)]  # 100 characters a line, 7,069 in all
    long = SlackMessage(channel="#deployments", text="\n".join(lines), buttons=approval_buttons(WORKFLOW))
    posted = await attempt().run(slack.post_message, long)
    [message] = history(fakes_url, posted.channel)
    sections = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert len(sections) == 3 and all(len(text) <= 3000 for text in sections)
    assert "".join(sections) == long.text
    assert all(text.endswith("\n") for text in sections[:-1])
    assert len(shown_buttons(message)) == 2


async def test_a_retried_post_with_buttons_is_posted_once(fakes_url, slack) -> None:
    first = await attempt(1).run(slack.post_message, ASK)
    again = await attempt(2).run(slack.post_message, ASK)
    assert again == first and len(history(fakes_url, first.channel)) == 1


async def test_settling_replaces_the_buttons_with_the_outcome_every_time_it_is_asked(fakes_url, slack) -> None:
    posted = await attempt().run(slack.post_message, ASK)
    outcome = SlackSettled(channel=posted.channel, ts=posted.ts, text="✅ v1.2.0 to production approved by bob")
    assert await attempt().run(slack.settle_buttons, outcome) == posted
    assert await attempt(2).run(slack.settle_buttons, outcome) == posted
    [message] = history(fakes_url, posted.channel)
    assert message["text"] == outcome.text
    assert [block["type"] for block in message["blocks"]] == ["section"] and shown_buttons(message) == []


async def test_settling_a_message_deleted_meanwhile_is_no_failure(fakes_url, slack) -> None:
    posted = await attempt().run(slack.post_message, ASK)
    gone = SlackSettled(channel=posted.channel, ts="1.000009", text="✅ approved by bob")
    assert await attempt().run(slack.settle_buttons, gone) == SlackPosted(channel=posted.channel, ts="1.000009")
    assert len(shown_buttons(history(fakes_url, posted.channel)[0])) == 2


async def test_an_outcome_longer_than_an_update_takes_is_cut_in_the_notification_and_whole_in_the_message(
    fakes_url, slack
) -> None:
    posted = await attempt().run(slack.post_message, ASK)
    long = SlackSettled(channel=posted.channel, ts=posted.ts, text="approved by bob\n" + "y" * 5000)
    await attempt().run(slack.settle_buttons, long)
    [message] = history(fakes_url, posted.channel)
    assert len(message["text"]) == 4000 and message["text"].endswith("…")
    assert "".join(block["text"]["text"] for block in message["blocks"]) == long.text
