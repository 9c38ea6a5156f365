"""Slack Web API: the runbook's "post in #deployments" and "Slack notification sent"."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from runbook.incident import ChannelRequest, InviteRequest, SlackChannel
from runbook.integrations import Endpoint
from runbook.models import SlackMessage, SlackPosted

# Slack answers HTTP 200 with ok=false; these no retry can fix. ("already_in_channel" is success
# for an idempotent invite.)
_PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "no_text",
    "msg_too_long",
    "name_taken",
    "invalid_name",
    "restricted_action",
    "user_not_found",
    "cant_invite_self",
    "is_archived",
}


class SlackActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint) -> None:
        self._http = http
        self._api_url = endpoint.url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {endpoint.secret.get_secret_value()}"}

    @activity.defn
    async def post_message(self, message: SlackMessage) -> SlackPosted:
        body = await self._call("chat.postMessage", {"channel": message.channel, "text": message.text})
        return SlackPosted(channel=str(body.get("channel", message.channel)), ts=str(body.get("ts", "")))

    @activity.defn
    async def create_channel(self, request: ChannelRequest) -> SlackChannel:
        body = await self._call("conversations.create", {"name": request.name})
        channel = body.get("channel") or {}
        return SlackChannel(id=str(channel.get("id", "")), name=str(channel.get("name", request.name)))

    @activity.defn
    async def invite(self, request: InviteRequest) -> InviteRequest:
        await self._call(
            "conversations.invite",
            {"channel": request.channel, "users": ",".join(request.users)},
            tolerated=frozenset({"already_in_channel"}),
        )
        return request

    async def _call(self, method: str, arguments: dict[str, str], tolerated: frozenset[str] = frozenset()) -> dict:
        response = await self._http.post(f"{self._api_url}/{method}", json=arguments, headers=self._headers)
        if response.status_code == 429:
            # Slack says how long to wait; retrying sooner only extends the limit.
            retry_after = float(response.headers.get("Retry-After", "1"))
            raise ApplicationError(
                f"Slack rate limited {method}; trying again in {retry_after:.0f} s",
                type="SlackRateLimited",
                next_retry_delay=timedelta(seconds=retry_after),
            )
        response.raise_for_status()
        body = response.json()
        if not body.get("ok") and body.get("error") not in tolerated:
            error = body.get("error", "unknown")
            raise ApplicationError(
                f"Slack refused {method}: {error}", type="SlackRefused", non_retryable=error in _PERMANENT_ERRORS
            )
        return body
