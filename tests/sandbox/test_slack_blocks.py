"""The Slack fake holds a message's blocks to Block Kit's limits as Slack does, keeps them with the
message, shows them in conversations.history, and lets chat.update replace or remove them.

Each rule: the wrong blocks refused with Slack's `invalid_blocks` and a pointer to what is wrong,
the blocks at the limit accepted. Through werkzeug's test client on the fakes' routes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from runbook.config import load_config
from sandbox.fakes import Fakes
from sandbox.web import WebApp

AUTH = {"Authorization": "Bearer xoxb-sandbox"}


def section(text: str = "Deploy v1.2.0 to production?") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(action_id: str = "approve", text: str = "Approve", **fields: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, **fields}


def actions(*elements: dict[str, Any], block_id: str = "runbook-decision") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


class Slack:
    def __init__(self) -> None:
        self.client = Client(WebApp(Fakes(load_config()).rules()))

    def call(self, method: str, **arguments: Any) -> dict[str, Any]:
        answer = self.client.post(f"/slack/api/{method}", json=arguments, headers=AUTH)
        assert answer.status_code == 200
        return answer.json

    def post(self, blocks: object, **arguments: Any) -> dict[str, Any]:
        return self.call("chat.postMessage", channel="#deployments", text="fallback", blocks=blocks, **arguments)

    def history(self, channel: str) -> list[dict[str, Any]]:
        answer = self.client.get("/slack/api/conversations.history", query_string={"channel": channel}, headers=AUTH)
        return answer.json["messages"]


@pytest.fixture
def slack() -> Slack:
    return Slack()


def invalid(answer: dict[str, Any], pointer: str) -> bool:
    """Refused as Slack refuses blocks: the error, each problem with its JSON pointer, twice."""
    return (
        answer["ok"] is False
        and answer["error"] == "invalid_blocks"
        and any(pointer in problem for problem in answer["errors"])
        and [f"[ERROR] {problem}" for problem in answer["errors"]] == answer["response_metadata"]["messages"]
    )


def test_a_message_has_at_most_50_blocks(slack: Slack) -> None:
    assert invalid(slack.post([section()] * 51), "[json-pointer:/blocks]")
    assert slack.post([section()] * 50)["ok"]


def test_blocks_are_a_json_array_as_a_string_or_a_list(slack: Slack) -> None:
    assert slack.post(json.dumps([section()]))["ok"]
    for malformed in ("not json", json.dumps({"type": "section"}), "[1]", 42):
        assert slack.post(malformed)["error"] == "invalid_blocks_format", malformed


def test_a_section_has_text_of_at_most_3000_characters(slack: Slack) -> None:
    assert invalid(slack.post([section("x" * 3001)]), "/blocks/0/text/text")
    assert invalid(slack.post([section("")]), "/blocks/0/text/text")
    assert invalid(slack.post([{"type": "section", "text": {"type": "rich", "text": "x"}}]), "/blocks/0/text/type")
    assert slack.post([section("x" * 3000)])["ok"]


def test_an_actions_block_has_1_to_25_elements(slack: Slack) -> None:
    many = [button(f"action-{n}") for n in range(26)]
    assert invalid(slack.post([actions(*many)]), "/blocks/0/elements")
    assert invalid(slack.post([actions()]), "/blocks/0/elements")
    assert slack.post([actions(*many[:25])])["ok"]


def test_a_button_has_plain_text_of_at_most_75_characters(slack: Slack) -> None:
    assert invalid(slack.post([actions(button(text="x" * 76))]), "/blocks/0/elements/0/text/text")
    mrkdwn = {**button(), "text": {"type": "mrkdwn", "text": "*Approve*"}}
    assert invalid(slack.post([actions(mrkdwn)]), "/blocks/0/elements/0/text/type")
    assert slack.post([actions(button(text="x" * 75))])["ok"]


def test_an_action_id_has_at_most_255_characters_and_is_unique_in_the_message(slack: Slack) -> None:
    assert invalid(slack.post([actions(button("a" * 256))]), "/blocks/0/elements/0/action_id")
    twice = [actions(button("approve")), actions(button("approve"), block_id="again")]
    assert invalid(slack.post(twice), "/blocks/1/elements/0/action_id")
    assert slack.post([actions(button("a" * 255), button("approve"))])["ok"]


def test_a_value_has_at_most_2000_characters(slack: Slack) -> None:
    assert invalid(slack.post([actions(button(value="v" * 2001))]), "/blocks/0/elements/0/value")
    assert slack.post([actions(button(value="v" * 2000))])["ok"]


def test_a_style_is_primary_or_danger(slack: Slack) -> None:
    assert invalid(slack.post([actions(button(style="secondary"))]), "/blocks/0/elements/0/style")
    assert slack.post([actions(button("approve", style="primary"), button("reject", style="danger"))])["ok"]


def test_a_block_id_has_at_most_255_characters(slack: Slack) -> None:
    assert invalid(slack.post([actions(button(), block_id="b" * 256)]), "/blocks/0/block_id")
    assert slack.post([actions(button(), block_id="b" * 255)])["ok"]


def test_the_fake_knows_sections_dividers_and_buttons_only(slack: Slack) -> None:
    assert invalid(slack.post([{"type": "image", "image_url": "https://x", "alt_text": "x"}]), "/blocks/0/type")
    menu = {"type": "static_select", "action_id": "pick", "options": []}
    assert invalid(slack.post([actions(menu)]), "/blocks/0/elements/0/type")
    assert slack.post([section(), {"type": "divider"}, actions(button())])["ok"]


def test_blocks_stand_in_for_text_and_are_kept_with_the_message(slack: Slack) -> None:
    posted = slack.call(
        "chat.postMessage", channel="#deployments", blocks=[section(), actions(button(value="deploy-1"))]
    )
    assert posted["ok"] and posted["message"]["text"] == ""
    assert slack.call("chat.postMessage", channel="#deployments", blocks=[])["error"] == "no_text"
    [shown] = slack.history(posted["channel"])
    assert [block["type"] for block in shown["blocks"]] == ["section", "actions"]
    assert shown["blocks"][1]["elements"][0]["value"] == "deploy-1"
    # Slack makes up a block_id the app left out, as it does a button's action_id.
    assert shown["blocks"][0]["block_id"]


def test_chat_update_replaces_blocks_given_removes_them_for_an_empty_list_and_keeps_them_otherwise(
    slack: Slack,
) -> None:
    posted = slack.post([section(), actions(button())])
    channel, ts = posted["channel"], posted["ts"]

    assert slack.call("chat.update", channel=channel, ts=ts, text="still waiting")["ok"]
    assert [block["type"] for block in slack.history(channel)[0]["blocks"]] == ["section", "actions"]

    refused = slack.call("chat.update", channel=channel, ts=ts, text="x", blocks=[actions(button(style="green"))])
    assert invalid(refused, "/blocks/0/elements/0/style")
    assert slack.history(channel)[0]["text"] == "still waiting"

    assert slack.call("chat.update", channel=channel, ts=ts, text="approved by bob", blocks=[section("Approved")])["ok"]
    [updated] = slack.history(channel)
    assert (updated["text"], [block["type"] for block in updated["blocks"]]) == ("approved by bob", ["section"])

    assert slack.call("chat.update", channel=channel, ts=ts, text="plain", blocks=[])["ok"]
    assert "blocks" not in slack.history(channel)[0]
