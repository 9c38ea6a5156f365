"""A person clicks a button in the sandbox's Slack, and Slack tells the app, as it does for real.

`POST /_sandbox/slack/click` `{"target": TS_OR_WORKFLOW_ID, "action": ACTION_ID, "as": PERSON}`
plays the click: the fake builds the `block_actions` payload Slack sends, signs it with the
signing secret as Slack signs its requests, and posts it form-encoded to the gateway's
interactivity URL, waiting as long as Slack does (3 s). The payload carries a response URL,
`/slack/respond/<token>`, the fake's stand-in for hooks.slack.com: what the app posts there
replaces or deletes the clicked message, or shows a message to the clicker alone (ephemeral), at
most five times in thirty minutes. `GET /_sandbox/slack/responses` shows what came back.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig
from runbook.integrations import sandbox_secret
from runbook.signatures import slack_signature
from sandbox.recorder import Recorder, now_iso
from sandbox.slack import Clicked, SlackError, SlackFake
from sandbox.web import ApiError, json_response, request_json

# Slack waits this long for the app's answer to an interaction, then shows the person an error.
ACK_TIMEOUT = 3.0
# A response URL takes this many messages, within this many seconds of the click.
RESPONSE_USES = 5
RESPONSE_LIFETIME = 30 * 60
# The sandbox workspace and app, as a payload names them.
TEAM_ID = "T0SANDBOX01"
TEAM_DOMAIN = "skillancer-sandbox"
APP_ID = "A0RUNBOOK01"
# The deprecated verification token every payload still carries: the gateway must not trust it.
VERIFICATION_TOKEN = "sandbox-verification-token"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class ResponseUrl:
    url: str
    channel_id: str
    message_ts: str
    user: str
    created: float
    uses: int = 0


class SlackInteractivity:
    def __init__(self, slack: SlackFake, config: RunbookConfig) -> None:
        self._slack = slack
        self._people = config.people
        self._gateway = f"http://{config.gateway.host}:{config.gateway.port}/slack/interactivity"
        self._signing_secret = sandbox_secret("SLACK_SIGNING_SECRET")
        # One client for every click, as Slack keeps its connections: a new one per click costs
        # tens of milliseconds that would be counted against the gateway.
        self._http = httpx.Client()
        self._lock = threading.Lock()
        self._hooks: dict[str, ResponseUrl] = {}
        self._responses: list[dict[str, Any]] = []
        # Seconds, for a response URL's age: a test moves it on rather than wait half an hour.
        self.clock: Callable[[], float] = time.monotonic

    def rules(self, recorder: Recorder) -> list[Rule]:
        def click(request: Request) -> Response:
            return self.click(request, recorder)

        return [
            Rule("/_sandbox/slack/click", endpoint=click, methods=["POST"]),
            Rule("/_sandbox/slack/responses", endpoint=self.responses, methods=["GET"]),
            Rule("/slack/respond/<token>", endpoint=recorder.recorded("slack", self.respond), methods=["POST"]),
        ]

    # The click -------------------------------------------------------------------------------

    def click(self, request: Request, recorder: Recorder) -> Response:
        delivered: dict[str, Any] = {}
        try:
            answer = self._click(request, delivered)
        finally:
            recorder.record("slack", request, interactivity=delivered)
        return answer

    def _click(self, request: Request, delivered: dict[str, Any]) -> Response:
        body = request_json(request)
        target, action, person = (_field(body, name) for name in ("target", "action", "as"))
        name, user = self._slack_user(person)
        try:
            clicked = self._slack.clicked(target, action)
        except LookupError as missing:
            raise ApiError(404, str(missing)) from None
        response_url = self._open_response_url(request.host_url, clicked, user)
        payload = block_actions(clicked, user, name, response_url)
        form = urlencode({"payload": json.dumps(payload)})
        delivered.update(url=self._gateway, payload=payload)
        try:
            answer = self._http.post(
                self._gateway, content=form, headers=signed_headers(self._signing_secret, form), timeout=ACK_TIMEOUT
            )
        except httpx.TimeoutException:
            raise ApiError(504, f"the gateway at {self._gateway} did not answer within {ACK_TIMEOUT:.0f} s") from None
        except httpx.HTTPError as error:
            raise ApiError(
                502, f"cannot reach the gateway at {self._gateway}: {error or type(error).__name__}"
            ) from None
        delivered["status"] = answer.status_code
        return json_response(
            {
                "status": answer.status_code,
                "answer": answer.text[:2000],
                "response_url": response_url,
                "channel": clicked.channel_id,
                "message_ts": clicked.message["ts"],
                "action": action,
                "user": user,
            }
        )

    def _slack_user(self, person: str) -> tuple[str, str]:
        """The configured person `person` names, and their Slack user ID."""
        name = self._people.resolve(person)
        known = self._people.get(name) if name else None
        if name is None or known is None or not known.slack_id:
            in_slack = sorted(name for name, one in self._people.root.items() if one.slack_id)
            raise ApiError(
                400, f"{person!r} is nobody in the sandbox's Slack; people with a Slack ID: {', '.join(in_slack)}"
            )
        return name, known.slack_id

    def _open_response_url(self, host_url: str, clicked: Clicked, user: str) -> str:
        token = secrets.token_urlsafe(24)
        url = f"{host_url.rstrip('/')}/slack/respond/{token}"
        hook = ResponseUrl(url, clicked.channel_id, str(clicked.message["ts"]), user, self.clock())
        with self._lock:
            self._hooks[token] = hook
        return url

    # The response URL ------------------------------------------------------------------------

    def respond(self, request: Request, token: str) -> Response:
        with self._lock:
            hook = self._hooks.get(token)
            if hook is None:
                return json_response({"ok": False, "error": "invalid_token"}, 404)
            if self.clock() - hook.created > RESPONSE_LIFETIME:
                return json_response({"ok": False, "error": "expired_url"}, 404)
            if hook.uses >= RESPONSE_USES:
                return json_response({"ok": False, "error": "used_url"}, 404)
            hook.uses += 1
        try:
            body = request_json(request)
        except ApiError:
            return json_response({"ok": False, "error": "invalid_payload"}, 400)
        try:
            effect = self._apply(hook, body)
        except SlackError as refused:
            return json_response({"ok": False, "error": refused.error, **refused.details}, 400)
        response = {
            "response_url": hook.url,
            "channel": hook.channel_id,
            "message_ts": hook.message_ts,
            "user": hook.user,
            "effect": effect,
            "text": body.get("text", ""),
            "blocks": body.get("blocks", []),
            "time": now_iso(),
        }
        with self._lock:
            self._responses.append(response)
        return json_response({"ok": True})

    def _apply(self, hook: ResponseUrl, body: dict[str, Any]) -> str:
        """What the response does to the conversation: replaced, deleted, in_channel or ephemeral."""
        if body.get("delete_original") is True:
            self._slack.delete_message(hook.channel_id, hook.message_ts)
            return "deleted"
        if body.get("replace_original") is True:
            self._slack.replace_message(hook.channel_id, hook.message_ts, body.get("text"), body.get("blocks"))
            return "replaced"
        if body.get("response_type") == "in_channel":
            self._slack.post_in_channel(hook.channel_id, body.get("text"), body.get("blocks"))
            return "in_channel"
        # Anything else is shown to the clicker alone: no one else sees it, nothing is kept in the channel.
        self._slack.check_message(body.get("text"), body.get("blocks"))
        return "ephemeral"

    def responses(self, request: Request) -> Response:
        """What came back through response URLs, oldest first; `?response_url=` one click's,
        `?user=` (a Slack ID or a person) one person's, `?effect=ephemeral` what only they saw."""
        wanted = {key: request.args.get(key) for key in ("response_url", "effect")}
        user = request.args.get("user")
        if user is not None:
            name = self._people.resolve(user)
            known = self._people.get(name) if name else None
            wanted["user"] = known.slack_id if known and known.slack_id else user
        with self._lock:
            found = [
                response
                for response in self._responses
                if all(value is None or response[key] == value for key, value in wanted.items())
            ]
        return json_response({"responses": found})


def block_actions(clicked: Clicked, user: str, name: str, response_url: str) -> dict[str, Any]:
    """The payload Slack sends when `user` (`name` in the workspace) clicks the button
    (docs.slack.dev's block_actions payload)."""
    now = f"{time.time():.6f}"
    button = clicked.button
    return {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": clicked.message["ts"],
            "channel_id": clicked.channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{now}.{secrets.token_hex(8)}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": clicked.channel_id, "name": clicked.channel_name},
        "message": clicked.message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": button.get("action_id"),
                "block_id": clicked.block_id,
                "text": button.get("text"),
                "value": button.get("value"),
                **({"style": button["style"]} if "style" in button else {}),
                "type": "button",
                "action_ts": now,
            }
        ],
    }


def signed_headers(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request, its signature among them."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": slack_signature(signing_secret, str(timestamp), body.encode()),
    }


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} is required: a non-empty string")
    return value
