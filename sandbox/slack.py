"""The Slack Web API's fake, held to Slack's documented contract for the methods the workers call.

A workspace: its users are the Slack IDs of runbook.toml's [people], its channels the configured
ones (with opaque IDs) plus those conversations.create makes; every message is kept in its
channel, with its metadata and its blocks, so conversations.history can show it again. A wrong
request is answered as Slack answers it: HTTP 200, `{"ok": false, "error": ...}`. The rules, with the
documentation each comes from, are in the sandbox's README (the facts table). A person's click on a
message's button is played by sandbox/slack_interactivity.py.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import re
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig
from sandbox.block_kit import Block, InvalidBlocks, buttons, parse_blocks
from sandbox.recorder import Recorder
from sandbox.web import json_response, request_body

# A bot token (docs.slack.dev/authentication/tokens): the only kind the worker is given.
BOT_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]+$")
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")
# The app's own bot user: a member of every channel it creates, never invitable by itself.
BOT_USER = "U0RUNBOOKBOT"
MAX_POST_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
MAX_NAME = 80
MAX_INVITES = 1000
DEFAULT_LIMIT = 100
MAX_LIMIT = 999
CHANNEL_TYPES = {"public_channel", "private_channel", "mpim", "im"}


class SlackError(Exception):
    def __init__(self, error: str, **details: object) -> None:
        super().__init__(error)
        self.error = error
        self.details = details


@dataclass
class Channel:
    id: str
    name: str
    created: int
    members: set[str] = field(default_factory=lambda: {BOT_USER})
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    def view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": True,
            "is_private": False,
            "is_archived": False,
            "is_member": BOT_USER in self.members,
            "created": self.created,
            "creator": BOT_USER,
            "num_members": len(self.members),
        }


@dataclass(frozen=True)
class Clicked:
    """The message a click landed on, and its button."""

    channel_id: str
    channel_name: str
    message: dict[str, Any]
    block_id: str
    button: dict[str, Any]


Arguments = dict[str, Any]
# How many of the workspace's buttons a click that finds none names.
BUTTONS_NAMED = 10


class SlackFake:
    def __init__(self, config: RunbookConfig) -> None:
        self._lock = threading.Lock()
        self._ids = random.Random()
        self._counter = itertools.count(1)
        self._users = {person.slack_id for person in config.people.root.values() if person.slack_id}
        self._channels: dict[str, Channel] = {}
        for name in dict.fromkeys([config.channels.deployments, config.channels.incidents]):
            self._open(name.removeprefix("#"))
        self._methods: dict[str, Callable[[Arguments], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.create": self._create_channel,
            "conversations.invite": self._invite,
            "conversations.list": self._list_channels,
            "conversations.history": self._history,
        }

    def rules(self, recorder: Recorder) -> list[Rule]:
        return [Rule("/slack/api/<method>", endpoint=recorder.recorded("slack", self.call), methods=["GET", "POST"])]

    def call(self, request: Request, method: str) -> Response:
        action = self._methods.get(method)
        if action is None:
            return json_response({"ok": False, "error": "unknown_method"})
        arguments = _arguments(request)
        try:
            _authenticate(request)
            with self._lock:
                return json_response({"ok": True, **action(arguments)})
        except SlackError as refused:
            return json_response({"ok": False, "error": refused.error, **refused.details})

    # The workspace ----------------------------------------------------------------------------

    def _open(self, name: str) -> Channel:
        channel_id = "C" + "".join(self._ids.choices(string.ascii_uppercase + string.digits, k=10))
        channel = Channel(id=channel_id, name=name, created=int(time.time()))
        self._channels[channel.id] = channel
        return channel

    def _by_id(self, value: object) -> Channel:
        """Methods that take "the ID of the conversation": a name is not found."""
        channel = self._channels.get(value) if isinstance(value, str) else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _by_id_or_name(self, value: object) -> Channel:
        """chat.postMessage takes an ID or a name, with or without its #."""
        if isinstance(value, str) and value in self._channels:
            return self._channels[value]
        name = value.removeprefix("#") if isinstance(value, str) else None
        channel = next((channel for channel in self._channels.values() if channel.name == name), None)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _timestamp(self) -> str:
        # A message's ts is its ID in the channel: unique, and ordered as the messages were posted.
        return f"{int(time.time())}.{next(self._counter):06d}"

    def _new_id(self) -> str:
        """A block or action ID Slack makes up for one the app left out."""
        return "".join(self._ids.choices(string.ascii_letters + string.digits, k=5))

    def _blocks(self, value: object) -> list[Block] | None:
        try:
            return parse_blocks(value, self._new_id)
        except InvalidBlocks as invalid:
            raise SlackError(invalid.error, **invalid.details()) from None

    def _message(self, channel_id: str, ts: str) -> dict[str, Any]:
        channel = self._by_id(channel_id)
        message = next((message for message in channel.messages if message["ts"] == ts), None)
        if message is None:
            raise SlackError("message_not_found")
        return message

    # What a click and its response URL do ----------------------------------------------------

    def clicked(self, target: str, action: str) -> Clicked:
        """The message a click on the button `action` lands on: the one whose ts is `target`, else
        the newest carrying that button for the workflow `target`. LookupError names the buttons
        there are."""
        with self._lock:
            found = [
                (channel, message, block, button)
                for channel in self._channels.values()
                for message in channel.messages
                for block, button in buttons(message.get("blocks", []))
            ]
        by_ts = [one for one in found if one[1]["ts"] == target]
        candidates = by_ts or [one for one in found if one[3].get("value") == target]
        matching = [one for one in candidates if one[3].get("action_id") == action]
        if not matching:
            listed = sorted(found, key=lambda one: float(one[1]["ts"]), reverse=True)[:BUTTONS_NAMED]
            named = "; ".join(
                f"{button.get('action_id')} for {button.get('value')} (message {message['ts']} in #{channel.name})"
                for channel, message, _, button in listed
            )
            raise LookupError(
                f"no message in the sandbox's Slack has a button {action!r} for {target!r};"
                f" buttons there are: {named or 'none'}"
            )
        channel, message, block, button = max(matching, key=lambda one: float(one[1]["ts"]))
        return Clicked(
            channel_id=channel.id,
            channel_name=channel.name,
            message=_without_metadata(message),
            block_id=str(block.get("block_id", "")),
            button=dict(button),
        )

    def replace_message(self, channel_id: str, ts: str, text: object, blocks: object) -> None:
        """A response URL's `replace_original`: the message is what the response says, text and blocks."""
        arguments = {"text": text, "blocks": blocks}
        with self._lock:
            message = self._message(channel_id, ts)
            parsed = self._blocks(blocks)
            message["text"] = _text(arguments, MAX_POST_TEXT, bool(parsed))
            message.pop("blocks", None)
            if parsed:
                message["blocks"] = parsed

    def delete_message(self, channel_id: str, ts: str) -> None:
        with self._lock:
            channel = self._by_id(channel_id)
            channel.messages.remove(self._message(channel_id, ts))

    def check_message(self, text: object, blocks: object) -> None:
        """A message shown to one person only is held to the rules of any other."""
        _text({"text": text}, MAX_POST_TEXT, bool(self._blocks(blocks)))

    def post_in_channel(self, channel_id: str, text: object, blocks: object) -> str:
        """A response URL's `in_channel` message: a new message from the app, for everyone; its ts."""
        with self._lock:
            answer = self._post_message({"channel": channel_id, "text": text, "blocks": blocks})
        return str(answer["ts"])

    # Methods ----------------------------------------------------------------------------------

    def _post_message(self, arguments: Arguments) -> dict[str, Any]:
        channel = self._by_id_or_name(arguments.get("channel"))
        blocks = self._blocks(arguments.get("blocks"))
        text = _text(arguments, MAX_POST_TEXT, bool(blocks))
        metadata, warning = _metadata(arguments.get("metadata"))
        message: dict[str, Any] = {"type": "message", "user": BOT_USER, "text": text, "ts": self._timestamp()}
        if blocks:
            message["blocks"] = blocks
        if metadata:
            message["metadata"] = metadata
        channel.messages.append(message)
        answer: dict[str, Any] = {"channel": channel.id, "ts": message["ts"], "message": _without_metadata(message)}
        return {**answer, "warning": warning} if warning else answer

    def _update(self, arguments: Arguments) -> dict[str, Any]:
        channel = self._by_id(arguments.get("channel"))
        ts = arguments.get("ts")
        message = next((message for message in channel.messages if message["ts"] == ts), None)
        if message is None:
            raise SlackError("message_not_found")
        blocks = self._blocks(arguments.get("blocks"))
        message["text"] = _text(arguments, MAX_UPDATE_TEXT, bool(blocks))
        if blocks is not None:
            # Blocks given replace the message's, `[]` removes them; left out, they stay.
            message.pop("blocks", None)
            if blocks:
                message["blocks"] = blocks
        if "metadata" in arguments:
            # An empty object removes the metadata; leaving the field out keeps it.
            metadata, _ = _metadata(arguments["metadata"])
            message.pop("metadata", None)
            if metadata:
                message["metadata"] = metadata
        return {"channel": channel.id, "ts": ts, "text": message["text"]}

    def _create_channel(self, arguments: Arguments) -> dict[str, Any]:
        name = arguments.get("name")
        if not isinstance(name, str) or not name:
            raise SlackError("invalid_name_required")
        if len(name) > MAX_NAME:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if not any(character.isalnum() for character in name):
            raise SlackError("invalid_name_punctuation")
        if any(channel.name == name for channel in self._channels.values()):
            raise SlackError("name_taken")
        return {"channel": self._open(name).view()}

    def _invite(self, arguments: Arguments) -> dict[str, Any]:
        channel = self._by_id(arguments.get("channel"))
        users = arguments.get("users")
        if not isinstance(users, str) or not users:
            raise SlackError("no_user")
        listed = users.split(",")
        if len(listed) > MAX_INVITES:
            raise SlackError("invalid_arguments")
        problems = [
            {"user": user, "ok": False, "error": error}
            for user in listed
            if (error := self._cannot_invite(channel, user)) is not None
        ]
        if problems and not _flag(arguments.get("force")):
            # All or nothing: when one invitation fails, nobody is invited.
            raise SlackError(problems[0]["error"], errors=problems)
        refused = {problem["user"] for problem in problems}
        channel.members.update(user for user in listed if user not in refused)
        answer: dict[str, Any] = {"channel": channel.view()}
        return {**answer, "errors": problems} if problems else answer

    def _cannot_invite(self, channel: Channel, user: str) -> str | None:
        if user == BOT_USER:
            return "cant_invite_self"
        if user not in self._users:
            return "user_not_found"
        if user in channel.members:
            return "already_in_channel"
        return None

    def _list_channels(self, arguments: Arguments) -> dict[str, Any]:
        types = str(arguments.get("types") or "public_channel").split(",")
        if not set(types) <= CHANNEL_TYPES:
            raise SlackError("invalid_types")
        limit = _limit(arguments.get("limit"))
        # Every channel of this workspace is public and none is archived.
        channels = sorted(self._channels.values(), key=lambda channel: channel.id) if "public_channel" in types else []
        start = _page_start(arguments.get("cursor"), [channel.id for channel in channels])
        page, rest = channels[start : start + limit], channels[start + limit :]
        return {
            "channels": [channel.view() for channel in page],
            "response_metadata": {"next_cursor": _cursor(rest[0].id) if rest else ""},
        }

    def _history(self, arguments: Arguments) -> dict[str, Any]:
        channel = self._by_id(arguments.get("channel"))
        oldest = _ts(arguments.get("oldest"), "invalid_ts_oldest", default=0.0)
        latest = _ts(arguments.get("latest"), "invalid_ts_latest", default=float("inf"))
        inclusive = _flag(arguments.get("inclusive"))
        limit = _limit(arguments.get("limit"))
        with_metadata = _flag(arguments.get("include_all_metadata"))
        newest_first = [
            message
            for message in reversed(channel.messages)
            if (oldest <= float(message["ts"]) <= latest if inclusive else oldest < float(message["ts"]) < latest)
        ]
        start = _page_start(arguments.get("cursor"), [message["ts"] for message in newest_first])
        page, rest = newest_first[start : start + limit], newest_first[start + limit :]
        return {
            "messages": [dict(message) if with_metadata else _without_metadata(message) for message in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "response_metadata": {"next_cursor": _cursor(rest[0]["ts"]) if rest else ""},
        }


# Reading a request ----------------------------------------------------------------------------


def _arguments(request: Request) -> Arguments:
    """Query parameters, then the body (a JSON object or a form), as Slack reads a call."""
    arguments: Arguments = dict(request.args)
    body = request_body(request)
    if isinstance(body, dict):
        arguments.update(body)
    return arguments


def _authenticate(request: Request) -> None:
    """A bot token, as `Authorization: Bearer xoxb-...` or a form's `token`: never in a JSON body,
    nor (for apps created since 2021) in the query string."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            raise SlackError("invalid_auth")
    else:
        token = request.form.get("token", "") if request.mimetype == "application/x-www-form-urlencoded" else ""
    if not token:
        raise SlackError("not_authed")
    if not BOT_TOKEN.match(token):
        raise SlackError("invalid_auth")


def _flag(value: object) -> bool:
    return value is True or value in ("true", "1", 1)


def _text(arguments: Arguments, limit: int, has_blocks: bool) -> str:
    text = arguments.get("text")
    if not isinstance(text, str) or not text:
        if has_blocks or arguments.get("attachments"):
            return ""
        raise SlackError("no_text")
    if len(text) > limit:
        raise SlackError("msg_too_long")
    return text


def _metadata(value: object) -> tuple[dict[str, Any] | None, str | None]:
    """Metadata as stored, and the warning Slack answers beside ok: an event_type with other
    characters than letters, digits, _ and - is ignored with the warning invalid_metadata_schema."""
    if value is None or value == {} or value == "":
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SlackError("invalid_metadata_format") from None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    if not EVENT_TYPE.match(value["event_type"]):
        return None, "invalid_metadata_schema"
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}, None


def _without_metadata(message: dict[str, Any]) -> dict[str, Any]:
    return {key: item for key, item in message.items() if key != "metadata"}


def _limit(value: object) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(str(value))
    except ValueError:
        raise SlackError("invalid_limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise SlackError("invalid_limit")
    return limit


def _ts(value: object, error: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(str(value))
    except ValueError:
        raise SlackError(error) from None


def _cursor(key: str) -> str:
    """Opaque to clients, as Slack's are: where the next page starts."""
    return base64.b64encode(f"next:{key}".encode()).decode()


def _page_start(cursor: object, keys: list[str]) -> int:
    if cursor is None or cursor == "":
        return 0
    try:
        key = base64.b64decode(str(cursor), validate=True).decode().removeprefix("next:")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if key not in keys:
        raise SlackError("invalid_cursor")
    return keys.index(key)
