"""The Slack fake refuses what Slack refuses, with Slack's error, and accepts what Slack accepts.

Each rule: the wrong request refused, the right one answered. Through werkzeug's test client on
the fakes' routes, as HTTP reaches them; every fake gets a fresh workspace.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.test import Client

from runbook.config import load_config
from sandbox.fakes import Fakes
from sandbox.slack import BOT_USER
from sandbox.web import WebApp

TOKEN = "xoxb-stack-secret-slack"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = load_config()
ALICE, BOB = CONFIG.people.root["alice"].slack_id, CONFIG.people.root["bob"].slack_id
METHODS = [
    "chat.postMessage",
    "chat.update",
    "conversations.create",
    "conversations.invite",
    "conversations.list",
    "conversations.history",
]


class Slack:
    """A fresh workspace, called as the worker calls it."""

    def __init__(self) -> None:
        self.client = Client(WebApp(Fakes(CONFIG).rules()))

    def call(self, method: str, headers: dict[str, str] | None = None, **arguments: Any) -> dict[str, Any]:
        answer = self.client.post(f"/slack/api/{method}", json=arguments, headers=AUTH if headers is None else headers)
        assert answer.status_code == 200
        return answer.json

    def get(self, method: str, **arguments: Any) -> dict[str, Any]:
        answer = self.client.get(f"/slack/api/{method}", query_string=arguments, headers=AUTH)
        assert answer.status_code == 200
        return answer.json

    def channel_id(self, name: str) -> str:
        return next(c["id"] for c in self.get("conversations.list")["channels"] if c["name"] == name)

    def post(self, channel: str = "#deployments", **arguments: Any) -> dict[str, Any]:
        return self.call("chat.postMessage", channel=channel, **arguments)


@pytest.fixture
def slack() -> Slack:
    return Slack()


def refused(answer: dict[str, Any], error: str) -> bool:
    return answer["ok"] is False and answer["error"] == error


# Authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_wants_a_bot_token(slack: Slack, method: str) -> None:
    assert refused(slack.call(method, headers={}), "not_authed")
    malformed_tokens = ("Bearer xoxp-user-token", "Bearer xoxb-", "Basic eG94Yi1zYW5kYm94", f"Bearer {TOKEN} x", TOKEN)
    for malformed in malformed_tokens:
        assert refused(slack.call(method, headers={"Authorization": malformed}), "invalid_auth"), malformed
    answer = slack.call(method, headers={"Authorization": "Bearer xoxb-sandbox"})
    # Past authentication: whatever the method makes of its (missing) arguments.
    assert answer.get("error") not in ("not_authed", "invalid_auth")


def test_a_token_argument_is_read_from_a_form_but_not_from_json_or_the_query(slack: Slack) -> None:
    form = slack.client.post("/slack/api/conversations.list", data={"token": "xoxb-sandbox"}).json
    in_json = slack.client.post("/slack/api/conversations.list", json={"token": "xoxb-sandbox"}).json
    in_query = slack.client.get("/slack/api/conversations.list", query_string={"token": "xoxb-sandbox"}).json
    assert form["ok"] and refused(in_json, "not_authed") and refused(in_query, "not_authed")


def test_an_unknown_method_is_unknown(slack: Slack) -> None:
    assert slack.call("users.list") == {"ok": False, "error": "unknown_method"}


# chat.postMessage ------------------------------------------------------------------------------


def test_a_message_goes_to_a_channel_by_name_or_id_and_nowhere_else(slack: Slack) -> None:
    deployments = slack.channel_id("deployments")
    assert re.fullmatch(r"C[A-Z0-9]{10}", deployments)
    for channel in ("#deployments", "deployments", deployments):
        posted = slack.post(channel, text=f"hello <@{ALICE}>")
        assert posted["ok"] and posted["channel"] == deployments
    for unknown in ("#nowhere", "C0000000000", "", None):
        assert refused(slack.post(unknown, text="x"), "channel_not_found"), unknown


def test_a_message_has_text_of_at_most_40000_characters(slack: Slack) -> None:
    assert refused(slack.post(), "no_text")
    assert refused(slack.post(text=""), "no_text")
    assert refused(slack.post(text="x" * 40_001), "msg_too_long")
    assert slack.post(text="x" * 40_000)["ok"]
    assert slack.post(blocks=[{"type": "divider"}])["ok"]


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        '["event_type", "event_payload"]',
        {"event_type": "runbook_post"},
        {"event_payload": {"key": "k"}},
        {"event_type": 7, "event_payload": {}},
        {"event_type": "runbook_post", "event_payload": "key"},
    ],
)
def test_malformed_metadata_is_refused(slack: Slack, metadata: object) -> None:
    assert refused(slack.post(text="x", metadata=metadata), "invalid_metadata_format")
    assert slack.get("conversations.history", channel=slack.channel_id("deployments"))["messages"] == []


def test_metadata_is_kept_with_the_message_and_shown_when_asked_for(slack: Slack) -> None:
    metadata = {"event_type": "runbook_post", "event_payload": {"key": "deploy-1/run/3"}}
    posted = slack.post(text="🚀 v1.2.0", metadata=metadata)
    as_form = slack.client.post(
        "/slack/api/chat.postMessage",
        data={"channel": "#deployments", "text": "second", "metadata": '{"event_type": "x", "event_payload": {}}'},
        headers=AUTH,
    ).json
    channel = slack.channel_id("deployments")

    plain = slack.get("conversations.history", channel=channel)["messages"]
    full = slack.get("conversations.history", channel=channel, include_all_metadata="true")["messages"]

    assert posted["ok"] and as_form["ok"] and "metadata" not in posted["message"]
    assert [m["text"] for m in plain] == ["second", "🚀 v1.2.0"]
    assert all("metadata" not in m for m in plain)
    assert [m.get("metadata") for m in full] == [{"event_type": "x", "event_payload": {}}, metadata]
    assert full[1]["ts"] == posted["ts"] and full[1]["user"] == BOT_USER


def test_an_event_type_with_punctuation_is_ignored_with_a_warning(slack: Slack) -> None:
    posted = slack.post(text="x", metadata={"event_type": "runbook.post", "event_payload": {"key": "k"}})
    assert posted["ok"] and posted["warning"] == "invalid_metadata_schema"
    history = slack.get("conversations.history", channel=posted["channel"], include_all_metadata="true")
    assert "metadata" not in history["messages"][0]


# chat.update -----------------------------------------------------------------------------------


def test_an_update_names_the_channel_by_id_and_an_existing_message(slack: Slack) -> None:
    posted = slack.post(text="first")
    channel, ts = posted["channel"], posted["ts"]
    assert refused(slack.call("chat.update", channel="#deployments", ts=ts, text="x"), "channel_not_found")
    assert refused(slack.call("chat.update", channel=channel, ts="1.000001", text="x"), "message_not_found")
    assert refused(slack.call("chat.update", channel=channel, ts=ts), "no_text")
    assert refused(slack.call("chat.update", channel=channel, ts=ts, text="x" * 4_001), "msg_too_long")
    updated = slack.call("chat.update", channel=channel, ts=ts, text="second")
    assert updated == {"ok": True, "channel": channel, "ts": ts, "text": "second"}
    assert [m["text"] for m in slack.get("conversations.history", channel=channel)["messages"]] == ["second"]


# conversations.create --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        (None, "invalid_name_required"),
        ("i" * 81, "invalid_name_maxlength"),
        ("INC-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc.1", "invalid_name_specials"),
        ("#inc-1", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        ("deployments", "name_taken"),
    ],
)
def test_a_channel_name_is_refused_as_slack_refuses_it(slack: Slack, name: str | None, error: str) -> None:
    assert refused(slack.call("conversations.create", name=name), error)


def test_a_channel_is_created_once_by_name(slack: Slack) -> None:
    created = slack.call("conversations.create", name="inc-20261130-0001_" + "x" * 62)
    again = slack.call("conversations.create", name=created["channel"]["name"])
    assert created["ok"] and re.fullmatch(r"C[A-Z0-9]{10}", created["channel"]["id"])
    assert refused(again, "name_taken")
    names = [c["name"] for c in slack.get("conversations.list")["channels"]]
    assert names.count(created["channel"]["name"]) == 1


# conversations.invite --------------------------------------------------------------------------


def war_room(slack: Slack) -> str:
    return slack.call("conversations.create", name="inc-7")["channel"]["id"]


def test_invites_go_to_a_channel_id_and_name_user_ids(slack: Slack) -> None:
    room = war_room(slack)
    assert refused(slack.call("conversations.invite", channel="#inc-7", users=ALICE), "channel_not_found")
    assert refused(slack.call("conversations.invite", channel="inc-7", users=ALICE), "channel_not_found")
    assert refused(slack.call("conversations.invite", channel=room), "no_user")
    assert refused(slack.call("conversations.invite", channel=room, users=""), "no_user")
    named = slack.call("conversations.invite", channel=room, users="alice,bob")
    assert refused(named, "user_not_found")
    assert named["errors"] == [
        {"user": "alice", "ok": False, "error": "user_not_found"},
        {"user": "bob", "ok": False, "error": "user_not_found"},
    ]
    assert refused(slack.call("conversations.invite", channel=room, users="U0NOBODY0001"), "user_not_found")
    assert refused(slack.call("conversations.invite", channel=room, users=BOT_USER), "cant_invite_self")
    invited = slack.call("conversations.invite", channel=room, users=f"{ALICE},{BOB}")
    assert invited["ok"] and invited["channel"]["id"] == room and invited["channel"]["num_members"] == 3


def test_one_bad_invitation_invites_nobody_and_a_member_is_already_in(slack: Slack) -> None:
    room = war_room(slack)
    mixed = slack.call("conversations.invite", channel=room, users=f"{ALICE},U0NOBODY0001")
    alice = slack.call("conversations.invite", channel=room, users=ALICE)
    again = slack.call("conversations.invite", channel=room, users=f"{BOB},{ALICE}")
    assert refused(mixed, "user_not_found")
    assert alice["ok"], "alice was not invited by the refused call"
    assert refused(again, "already_in_channel")
    assert again["errors"] == [{"user": ALICE, "ok": False, "error": "already_in_channel"}]
    forced = slack.call("conversations.invite", channel=room, users=f"{BOB},{ALICE}", force=True)
    assert forced["ok"] and forced["channel"]["num_members"] == 3


def test_at_most_1000_users_are_invited_at_once(slack: Slack) -> None:
    room = war_room(slack)
    too_many = ",".join([ALICE] * 1001)
    assert refused(slack.call("conversations.invite", channel=room, users=too_many), "invalid_arguments")
    assert slack.call("conversations.invite", channel=room, users=",".join([ALICE] * 1000))["ok"]


# conversations.list ----------------------------------------------------------------------------


def test_channels_are_listed_a_page_at_a_time(slack: Slack) -> None:
    for number in range(3):
        slack.call("conversations.create", name=f"inc-{number}")
    seen, cursor, pages = [], "", 0
    while True:
        page = slack.get("conversations.list", limit=2, cursor=cursor, exclude_archived="true")
        assert page["ok"] and len(page["channels"]) <= 2
        seen += [c["name"] for c in page["channels"]]
        pages, cursor = pages + 1, page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["deployments", "inc-0", "inc-1", "inc-2", "incidents"] and pages == 3
    assert slack.get("conversations.list", types="im,mpim")["channels"] == []
    assert len(slack.get("conversations.list", types="public_channel,private_channel")["channels"]) == 5


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"types": "public"}, "invalid_types"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 1000}, "invalid_limit"),
        ({"limit": "many"}, "invalid_limit"),
        ({"cursor": "not a cursor"}, "invalid_cursor"),
        ({"cursor": "bmV4dDpDMDAwMDAwMDA="}, "invalid_cursor"),
    ],
)
def test_a_wrong_list_request_is_refused(slack: Slack, arguments: dict[str, Any], error: str) -> None:
    assert refused(slack.get("conversations.list", **arguments), error)


# conversations.history -------------------------------------------------------------------------


def test_history_is_newest_first_bounded_and_paged(slack: Slack) -> None:
    stamps = [slack.post(text=f"m{n}")["ts"] for n in range(5)]
    channel = slack.channel_id("deployments")
    assert refused(slack.get("conversations.history", channel="#deployments"), "channel_not_found")
    assert refused(slack.get("conversations.history", channel=channel, oldest="yesterday"), "invalid_ts_oldest")
    assert refused(slack.get("conversations.history", channel=channel, latest="now"), "invalid_ts_latest")
    assert refused(slack.get("conversations.history", channel=channel, limit=1000), "invalid_limit")

    since = slack.get("conversations.history", channel=channel, oldest=stamps[1])
    inclusive = slack.get("conversations.history", channel=channel, oldest=stamps[1], inclusive="true")
    first = slack.get("conversations.history", channel=channel, limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    second = slack.get("conversations.history", channel=channel, limit=2, cursor=cursor)

    assert [m["text"] for m in since["messages"]] == ["m4", "m3", "m2"]
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2", "m1"]
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"] and first["has_more"]
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"] and second["has_more"]
