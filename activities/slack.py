"""Slack Web API: the runbook's "post in #deployments", "Slack notification sent", and the war room.

Each post happens once: it carries a key in its message metadata, derived from the workflow run and
the activity, and a retry (its earlier attempt may have posted, its reply lost) looks for a message
with that key in the channel before posting again. A war room whose creation is retried finds the
channel its first attempt made.

A message that asks for a decision carries buttons (Block Kit): its text in section blocks, then
one actions block of buttons whose value is the workflow's ID, for the gateway to send the click
to; `text` stays the notification's fallback. Once decided, settle_buttons replaces the buttons
with the outcome.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import SHORTEST_WAIT, retry_after
from runbook.incident import ChannelRequest, InviteRequest, SlackChannel
from runbook.integrations import Endpoint
from runbook.models import SlackButton, SlackMessage, SlackPosted, SlackSettled

# Slack answers HTTP 200 with ok=false; these no retry can fix. ("already_in_channel" is success
# for an idempotent invite; "name_taken" for a war room means it is there already.)
_PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_text",
    "msg_too_long",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "invalid_name",
    "invalid_name_maxlength",
    "invalid_name_punctuation",
    "invalid_name_required",
    "invalid_name_specials",
    "restricted_action",
    "no_user",
    "user_not_found",
    "cant_invite",
    "cant_invite_self",
    "is_archived",
    "invalid_arguments",
    "invalid_blocks",
    "invalid_blocks_format",
    "cant_update_message",
    "edit_window_closed",
}
# Methods that read: Slack documents them as GET (and conversations.list takes no JSON body).
_READS = {"conversations.list", "conversations.history"}
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
# The metadata event every post carries; its payload's key says which workflow step posted it.
POST_EVENT = "runbook_post"
# A retry looks back to a little before its first attempt was scheduled: Temporal's clock and
# Slack's need not agree to the second.
LOOK_BACK_MARGIN = timedelta(minutes=5)
PAGE_SIZE = 100
# Pages of history a retry reads at most: a bounded look back, even in a busy channel.
HISTORY_PAGES = 10
# The actions block's ID: the gateway and the sandbox's fake know a decision's buttons by it.
DECISION_BLOCK = "runbook-decision"
# Block Kit's limit on a section's text; a longer message takes several sections.
SECTION_TEXT = 3000
# chat.update's limit on `text`, a tenth of chat.postMessage's: an outcome's notification text is
# cut to it, its sections carry the whole.
UPDATE_TEXT = 4000


def post_key(info: activity.Info) -> str:
    """The same on every attempt of one activity, different for any other: activity IDs restart
    with each run of a workflow, so the run is part of it."""
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


class SlackActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint) -> None:
        self._http = http
        self._api_url = endpoint.url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {endpoint.secret.get_secret_value()}"}
        # Channel IDs by name: channels are renamed rarely, and a worker's lifetime is short.
        self._channel_ids: dict[str, str] = {}

    @activity.defn
    async def post_message(self, message: SlackMessage) -> SlackPosted:
        info = activity.info()
        key = post_key(info)
        if info.attempt > 1:
            earlier = await self._earlier_post(message.channel, key, info.scheduled_time - LOOK_BACK_MARGIN)
            if earlier is not None:
                activity.logger.info("Slack already has this message (%s): not posted again", earlier.ts)
                return earlier
        arguments: dict[str, object] = {
            "channel": message.channel,
            "text": message.text,
            "metadata": {"event_type": POST_EVENT, "event_payload": {"key": key}},
        }
        if message.buttons:
            arguments["blocks"] = [*_sections(message.text), _actions(message.buttons)]
        body = await self._call("chat.postMessage", arguments)
        return SlackPosted(channel=str(body.get("channel", message.channel)), ts=str(body.get("ts", "")))

    @activity.defn
    async def settle_buttons(self, settled: SlackSettled) -> SlackPosted:
        """The message says the outcome, in place of its buttons: the same update on every attempt.
        A message deleted meanwhile has no buttons left to settle: that is no failure."""
        channel = await self._channel_id(settled.channel)
        text = settled.text if len(settled.text) <= UPDATE_TEXT else settled.text[: UPDATE_TEXT - 1] + "…"
        arguments = {"channel": channel, "ts": settled.ts, "text": text, "blocks": _sections(settled.text)}
        body = await self._call("chat.update", arguments, tolerated=frozenset({"message_not_found"}))
        if not body.get("ok"):
            activity.logger.info("Slack has no message %s in %s any more: no buttons to settle", settled.ts, channel)
        return SlackPosted(channel=channel, ts=settled.ts)

    @activity.defn
    async def create_channel(self, request: ChannelRequest) -> SlackChannel:
        body = await self._call("conversations.create", {"name": request.name}, tolerated=frozenset({"name_taken"}))
        if body.get("ok"):
            channel = body.get("channel") or {}
            return SlackChannel(id=str(channel.get("id", "")), name=str(channel.get("name", request.name)))
        # Taken: most likely by this very step, whose first attempt created it and lost the reply.
        existing = await self._find_channel(request.name)
        if existing is None:
            raise ApplicationError(
                f"Slack refused conversations.create: name_taken, and lists no open channel #{request.name}",
                type="SlackRefused",
                non_retryable=True,
            )
        return existing

    @activity.defn
    async def invite(self, request: InviteRequest) -> InviteRequest:
        channel = await self._channel_id(request.channel)
        users = list(dict.fromkeys(request.users))
        invited = await self._invite(channel, users)
        if not invited and len(users) > 1:
            # Slack invites nobody when one of the list is already a member: each on their own, then.
            for user in users:
                await self._invite(channel, [user])
        return request

    async def _invite(self, channel: str, users: list[str]) -> bool:
        """Whether they were invited now (False: already_in_channel, which may be only some of them)."""
        body = await self._call(
            "conversations.invite",
            {"channel": channel, "users": ",".join(users)},
            tolerated=frozenset({"already_in_channel"}),
        )
        return bool(body.get("ok"))

    async def _earlier_post(self, channel: str, key: str, since: datetime) -> SlackPosted | None:
        channel_id = await self._channel_id(channel)
        arguments = {
            "channel": channel_id,
            "oldest": f"{since.timestamp():.6f}",
            "include_all_metadata": "true",
            "limit": str(PAGE_SIZE),
        }
        async for body in self._pages("conversations.history", arguments, HISTORY_PAGES):
            for message in body.get("messages", []):
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == POST_EVENT and (metadata.get("event_payload") or {}).get("key") == key:
                    return SlackPosted(channel=channel_id, ts=str(message.get("ts", "")))
        return None

    async def _channel_id(self, channel: str) -> str:
        """An ID as it is; a name (#deployments) as conversations.list says, looked up once."""
        if _CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        if name not in self._channel_ids and await self._find_channel(name) is None:
            raise ApplicationError(f"Slack lists no open channel #{name}", type="SlackRefused", non_retryable=True)
        return self._channel_ids[name]

    async def _find_channel(self, name: str) -> SlackChannel | None:
        arguments = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "200"}
        async for body in self._pages("conversations.list", arguments):
            for channel in body.get("channels", []):
                self._channel_ids[str(channel.get("name"))] = str(channel.get("id"))
            if name in self._channel_ids:
                return SlackChannel(id=self._channel_ids[name], name=name)
        return None

    async def _pages(self, method: str, arguments: dict[str, str], most: int | None = None) -> AsyncIterator[dict]:
        """A read method's answers, page by page, following Slack's cursor; at most `most` pages."""
        arguments = dict(arguments)
        read = 0
        while most is None or read < most:
            body = await self._call(method, arguments)
            read += 1
            yield body
            cursor = (body.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return
            arguments["cursor"] = cursor

    async def _call(self, method: str, arguments: dict, tolerated: frozenset[str] = frozenset()) -> dict:
        url = f"{self._api_url}/{method}"
        if method in _READS:
            response = await self._http.get(url, params=arguments, headers=self._headers)
        else:
            response = await self._http.post(url, json=arguments, headers=self._headers)
        if response.status_code == 429:
            # Slack says how long to wait; retrying sooner only extends the limit.
            wait = retry_after(response) or SHORTEST_WAIT
            raise ApplicationError(
                f"Slack rate limited {method}; trying again in {wait.total_seconds():.0f} s",
                type="SlackRateLimited",
                next_retry_delay=wait,
            )
        response.raise_for_status()
        body = response.json()
        if not body.get("ok") and body.get("error") not in tolerated:
            error = body.get("error", "unknown")
            raise ApplicationError(
                f"Slack refused {method}: {error}", type="SlackRefused", non_retryable=error in _PERMANENT_ERRORS
            )
        return body


def _sections(text: str) -> list[dict]:
    """`text` as section blocks, each within Block Kit's limit, cut between lines where it can be."""
    sections: list[dict] = []
    rest = text
    while rest:
        cut = len(rest)
        if cut > SECTION_TEXT:
            # After the last line break that fits; a line longer than a section is cut where it must.
            cut = rest.rfind("\n", 0, SECTION_TEXT) + 1 or SECTION_TEXT
        sections.append({"type": "section", "text": {"type": "mrkdwn", "text": rest[:cut]}})
        rest = rest[cut:]
    return sections


def _actions(buttons: list[SlackButton]) -> dict:
    return {
        "type": "actions",
        "block_id": DECISION_BLOCK,
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": button.text},
                "action_id": button.action_id,
                "value": button.value,
                **({"style": button.style} if button.style else {}),
            }
            for button in buttons
        ],
    }
