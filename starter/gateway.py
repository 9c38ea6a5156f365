"""The gateway: a signed request from Slack or PagerDuty becomes a workflow decision, attested.

`runbook-gateway [--host H] [--port P]` (runbook.toml's [gateway], 127.0.0.1:8090 in the
sandbox); `runbook-gateway --new-key` prints a new attestation key and exits.

- `POST /slack/interactivity`: a click on one of the runbook's buttons (runbook/buttons.py). The
  request's X-Slack-Signature (HMAC-SHA256 of `v0:{timestamp}:{body}` with SLACK_SIGNING_SECRET) and
  X-Slack-Request-Timestamp (within 5 minutes) are checked before anything else is read, and a
  signature seen before within that window is a replay: each answered 401. The Slack user must be
  one of [people]. Slack is answered at once (it waits 3 s at most); the decision then goes to the
  workflow as an update carrying the gateway's attestation (runbook/proof.py), and its outcome
  comes back to Slack through the message's response_url: the message with who decided instead of
  its buttons, or why not, shown to the clicker alone.
- `POST /pagerduty/webhook`: a v3 webhook, X-PagerDuty-Signature checked (one or more `v1=` HMAC-
  SHA256 of the body with PAGERDUTY_WEBHOOK_SECRET). An `incident.acknowledged` by a PagerDuty user
  who is one of [people] acknowledges the incident whose workflow ID is the PagerDuty incident's key
  (the runbook triggers with it as dedup_key). Once: the incident refuses a second acknowledgement,
  whichever of this and the worker's polling came first.
- Nothing else: any other path is 404, another method 405, a body over 64 KiB 413.

Secrets come from the environment only (runbook/integrations.gateway_secrets) and are never logged;
one log line per request says its path, outcome, person and workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import json
import logging
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from runbook import temporal
from runbook.buttons import ButtonDecision, decision_for
from runbook.config import ConfigError, RunbookConfig, load_config
from runbook.integrations import GatewaySecrets, gateway_secrets, sandbox_url
from runbook.messages import gateway as texts
from runbook.pager import acknowledged_in_pagerduty
from runbook.proof import ProofKind, attest, load_private_key, public_key_text, unsigned
from runbook.signatures import pagerduty_signature, slack_signature
from runbook.status import HandlerOutcome

logger = logging.getLogger("runbook.gateway")

SLACK_PATH = "/slack/interactivity"
PAGERDUTY_PATH = "/pagerduty/webhook"
MAX_BODY_BYTES = 64 * 1024
# Slack: "If the timestamp is more than five minutes from local time, it could be a replay attack".
SLACK_WINDOW_S = 5 * 60
# Where Slack's response URLs point (api.slack.com/interactivity/handling#message_responses): the
# gateway posts outcomes nowhere else, even on a signed request's word.
SLACK_RESPONSE_URL = "https://hooks.slack.com/"
# Requests remembered to refuse them again: genuine ones only (their signature checked first), so
# only a burst of real clicks beyond this could push one out before its window ends.
REMEMBERED = 10_000
# A workflow that has not answered by then (its worker down?) is said to be late, not failed.
DECISION_TIMEOUT_S = 60.0
RESPONSE_TIMEOUT_S = 10.0
# Decisions still in flight at shutdown get this long to finish and report.
SHUTDOWN_GRACE_S = 5


class RecentlySeen:
    """Keys (signatures, webhook event IDs) seen in the last `window_s` seconds, at most `limit`;
    the oldest is forgotten first."""

    def __init__(self, window_s: float, limit: int = REMEMBERED) -> None:
        self._window_s, self._limit = window_s, limit
        self._until: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str, now: float) -> bool:
        while self._until and next(iter(self._until.values())) <= now:
            self._until.popitem(last=False)
        if key in self._until:
            return False
        if len(self._until) >= self._limit:
            self._until.popitem(last=False)
        self._until[key] = now + self._window_s
        return True


# What the gateway reads of a request, once its signature holds -------------------------------------


class _Read(BaseModel):
    # The providers send far more than is read here, and add fields over time.
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Read):
    id: str = Field(max_length=50)


class SlackAction(_Read):
    action_id: str = Field(max_length=255)
    # The runbook's buttons carry the workflow ID.
    value: str = Field("", max_length=1000)


class SlackClickedMessage(_Read):
    text: str = ""


class BlockActions(_Read):
    """Slack's block_actions payload: api.slack.com/reference/interaction-payloads/block-actions-payload."""

    user: SlackUser
    actions: list[SlackAction] = Field(min_length=1)
    response_url: str = Field(max_length=2000)
    message: SlackClickedMessage | None = None


class PagerDutyAgent(_Read):
    id: str = Field(max_length=50)
    type: str


class PagerDutyIncident(_Read):
    incident_key: str | None = Field(None, max_length=1000)


class PagerDutyEvent(_Read):
    id: str = Field(max_length=100)
    event_type: str
    agent: PagerDutyAgent | None = None
    data: PagerDutyIncident | None = None


class PagerDutyWebhook(_Read):
    """A v3 webhook's body (developer.pagerduty.com/docs/webhooks-overview)."""

    event: PagerDutyEvent


class Decision(BaseModel):
    """What the gateway sends a workflow: the update, its payload with the proof, and for whom."""

    workflow_id: str
    update: str
    person: str
    payload: dict[str, Any]


# Checking signatures -------------------------------------------------------------------------------


def slack_refusal(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> str:
    """Why a request is not Slack's, or "" when it is (api.slack.com/authentication/verifying-requests-from-slack)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "no X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > SLACK_WINDOW_S:
        return "X-Slack-Request-Timestamp more than 5 minutes from now"
    expected = slack_signature(secret, timestamp, body)
    if not hmac.compare_digest(headers.get("x-slack-signature", "").encode(), expected.encode()):
        return "X-Slack-Signature does not match"
    return ""


def pagerduty_signed(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """One of the comma-separated `v1=` signatures matches: PagerDuty sends one per secret while a
    secret is being rotated (developer.pagerduty.com/docs/verifying-webhook-signatures)."""
    expected = pagerduty_signature(secret, body).encode()
    offered = headers.get("x-pagerduty-signature", "").split(",")
    # Every one compared, so the time taken says nothing about which matched.
    matches = [hmac.compare_digest(signature.strip().encode(), expected) for signature in offered]
    return any(matches)


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    """The raw body, never read past MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
    return bytes(body)


# The gateway -----------------------------------------------------------------------------------


class Gateway:
    """The ASGI app's state: its secrets, one Temporal client (connected at the first decision,
    then reused), one HTTP client for Slack's response URLs, and the requests seen."""

    def __init__(
        self,
        config: RunbookConfig,
        secrets: GatewaySecrets,
        *,
        connect: Callable[[], Awaitable[Client]] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._config, self._secrets = config, secrets
        self._key: Ed25519PrivateKey = load_private_key(
            secrets.attestation_key.get_secret_value(), "RUNBOOK_GATEWAY_KEY"
        )
        self._connect = connect or (lambda: temporal.connect(config))
        self._client: Client | None = None
        self._connecting = asyncio.Lock()
        self._http = http or httpx.AsyncClient(timeout=RESPONSE_TIMEOUT_S)
        self._response_urls = sandbox_url(config, "/") if config.slack.provider == "sandbox" else SLACK_RESPONSE_URL
        # A replay of a Slack request is possible while its timestamp is within the window either way.
        self._slack_signatures = RecentlySeen(2 * SLACK_WINDOW_S)
        # PagerDuty redelivers an event it thinks failed, with the same ID.
        self._pagerduty_events = RecentlySeen(24 * 60 * 60)
        self._in_flight: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route(SLACK_PATH, self.slack, methods=["POST"]),
                Route(PAGERDUTY_PATH, self.pagerduty, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )
        # A path is served as it is, or not at all: no redirect from /slack/interactivity/.
        self.app.router.redirect_slashes = False

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.settled(SHUTDOWN_GRACE_S)
        await self._http.aclose()

    async def settled(self, timeout: float) -> None:
        """Every decision in flight finished and reported, or `timeout` seconds passed."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    # Slack ---------------------------------------------------------------------------------------

    async def slack(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except _TooLarge:
            return _answer(SLACK_PATH, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over 64 KiB")
        secret = self._secrets.slack_signing_secret.get_secret_value()
        now = time.time()
        refusal = slack_refusal(request.headers, body, secret, now)
        if not refusal and not self._slack_signatures.first_time(request.headers["x-slack-signature"], now):
            refusal = "replayed: this signature was seen before"
        if refusal:
            return _answer(SLACK_PATH, HTTPStatus.UNAUTHORIZED, refusal)
        try:
            fields = parse_qs(body.decode(), max_num_fields=10)
            interaction = json.loads(fields["payload"][0])
            kind = interaction.get("type")
            if kind != "block_actions":
                return _answer(SLACK_PATH, HTTPStatus.OK, f"ignored: a {str(kind)[:40]!r} interaction")
            click = BlockActions.model_validate(interaction)
        except (UnicodeDecodeError, ValueError, KeyError, AttributeError, RecursionError):
            return _answer(SLACK_PATH, HTTPStatus.BAD_REQUEST, "not a block_actions payload")
        if not click.response_url.startswith(self._response_urls):
            return _answer(SLACK_PATH, HTTPStatus.BAD_REQUEST, f"response_url not under {self._response_urls}")
        action, slack_user = click.actions[0], click.user.id
        person = self._config.people.by_slack_id(slack_user)
        if person is None:
            return self._not_taken(click, texts.not_a_person(slack_user))
        decision = decision_for(action.action_id, person)
        if decision is None:
            return self._not_taken(click, texts.unknown_action(action.action_id), person)
        if not action.value:
            return self._not_taken(click, "the button names no workflow", person)
        attested = self._attested("slack", slack_user, action.value, decision, person)
        self._in_background(self._decide_from_slack(attested, click))
        return Response(status_code=HTTPStatus.OK)

    def _not_taken(self, click: BlockActions, reason: str, person: str | None = None) -> Response:
        """Slack is answered, and the clicker told why; no workflow is asked."""
        self._in_background(self._respond(click.response_url, texts.not_taken(reason)))
        return _answer(SLACK_PATH, HTTPStatus.OK, f"not taken: {reason}", person, click.actions[0].value)

    async def _decide_from_slack(self, decision: Decision, click: BlockActions) -> None:
        outcome = await self._send(decision)
        action = click.actions[0].action_id
        if outcome.accepted:
            original = click.message.text if click.message else ""
            answer = texts.decided(original, action, click.user.id)
        else:
            answer = texts.not_taken(outcome.reason)
        _log(SLACK_PATH, _outcome_text(decision, outcome), decision.person, decision.workflow_id)
        await self._respond(click.response_url, answer)

    async def _respond(self, response_url: str, message: dict[str, Any]) -> None:
        try:
            answered = await self._http.post(response_url, json=message)
        except httpx.HTTPError as error:
            logger.warning("response_url not reached: %s", type(error).__name__)
            return
        if answered.is_error:
            logger.warning("response_url answered %s: %r", answered.status_code, answered.text[:200])

    # PagerDuty ------------------------------------------------------------------------------------

    async def pagerduty(self, request: Request) -> Response:
        try:
            body = await _body(request)
        except _TooLarge:
            return _answer(PAGERDUTY_PATH, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over 64 KiB")
        if not pagerduty_signed(request.headers, body, self._secrets.pagerduty_webhook_secret.get_secret_value()):
            return _answer(PAGERDUTY_PATH, HTTPStatus.UNAUTHORIZED, "X-PagerDuty-Signature does not match")
        try:
            event = PagerDutyWebhook.model_validate_json(body).event
        except ValidationError:
            return _answer(PAGERDUTY_PATH, HTTPStatus.BAD_REQUEST, "not a v3 webhook event")
        incident_key = event.data.incident_key if event.data else None
        if event.event_type != "incident.acknowledged":
            return _answer(PAGERDUTY_PATH, HTTPStatus.OK, f"ignored: {event.event_type[:60]!r}", workflow=incident_key)
        if not self._pagerduty_events.first_time(event.id, time.time()):
            return _answer(PAGERDUTY_PATH, HTTPStatus.OK, f"ignored: event {event.id!r} delivered again")
        agent = event.agent
        if agent is None or agent.type != "user_reference":
            return _answer(PAGERDUTY_PATH, HTTPStatus.OK, "ignored: acknowledged by no user", workflow=incident_key)
        person = self._config.people.by_pagerduty_id(agent.id)
        if person is None:
            reason = f"ignored: PagerDuty user {agent.id!r} is not one of [people]"
            return _answer(PAGERDUTY_PATH, HTTPStatus.OK, reason, workflow=incident_key)
        if not incident_key:
            return _answer(PAGERDUTY_PATH, HTTPStatus.OK, "ignored: the incident has no incident_key", person)
        note = acknowledged_in_pagerduty(agent.id)
        acknowledge = ButtonDecision(update="acknowledge", payload={"user": person, "note": note})
        attested = self._attested("pagerduty", agent.id, incident_key, acknowledge, person)
        self._in_background(self._decide_from_pagerduty(attested))
        return Response(status_code=HTTPStatus.OK)

    async def _decide_from_pagerduty(self, decision: Decision) -> None:
        # "already acknowledged" is expected when the worker's polling read it first.
        _log(PAGERDUTY_PATH, _outcome_text(decision, await self._send(decision)), decision.person, decision.workflow_id)

    # Decisions ------------------------------------------------------------------------------------

    def _attested(
        self, kind: ProofKind, subject: str, workflow_id: str, decision: ButtonDecision, person: str
    ) -> Decision:
        claims = unsigned(kind, datetime.now(UTC), subject=subject, workflow_id=workflow_id, decision=decision.update)
        proof = attest(claims, decision.payload, self._key)
        return Decision(
            workflow_id=workflow_id,
            update=decision.update,
            person=person,
            payload={**decision.payload, "proof": proof.model_dump(mode="json")},
        )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _temporal(self) -> Client:
        async with self._connecting:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def _send(self, decision: Decision) -> HandlerOutcome:
        """The workflow's answer to the decision, or a refusal saying why it could not be asked."""
        workflow_id = decision.workflow_id
        try:
            handle = (await self._temporal()).get_workflow_handle(workflow_id)
            return await asyncio.wait_for(
                handle.execute_update(decision.update, decision.payload, result_type=HandlerOutcome),
                DECISION_TIMEOUT_S,
            )
        except temporal.TemporalUnreachable:
            reason = "Temporal cannot be reached; try again in a moment, or use the CLI"
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            reason = (
                f"{workflow_id} did not answer within {DECISION_TIMEOUT_S:g} s (is a worker running?);"
                f" it may still take it: see runbook status {workflow_id}"
            )
        except WorkflowUpdateFailedError:
            reason = f"{workflow_id} does not take {decision.update}"
        except RPCError as error:
            reason = (
                f"no running workflow {workflow_id}"
                if error.status == RPCStatusCode.NOT_FOUND
                else "Temporal cannot be reached; try again in a moment, or use the CLI"
                if error.status == RPCStatusCode.UNAVAILABLE
                else f"Temporal refused it: {error.message}"
            )
        return HandlerOutcome(accepted=False, reason=reason)


def _outcome_text(decision: Decision, outcome: HandlerOutcome) -> str:
    return f"{decision.update} {'taken' if outcome.accepted else f'refused: {outcome.reason}'}"


def _log(path: str, outcome: str, person: str | None = None, workflow: str | None = None) -> None:
    # Escaped: what came in a request, or a workflow's reason, cannot start a log line of its own.
    shown = repr(outcome)[1:-1]
    logger.info("%s %s person=%s workflow=%s", path, shown, person or "-", repr(workflow) if workflow else "-")


def _answer(
    path: str, status: HTTPStatus, outcome: str, person: str | None = None, workflow: str | None = None
) -> Response:
    _log(path, f"{status.value} {outcome}", person, workflow)
    return Response(outcome if status >= HTTPStatus.BAD_REQUEST else None, status_code=status)


# The command ---------------------------------------------------------------------------------------


def new_key() -> dict[str, str]:
    """A new attestation key: its seed for the gateway's environment, its public half for runbook.toml."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {"RUNBOOK_GATEWAY_KEY": base64.b64encode(seed).decode(), "gateway_key": public_key_text(key)}


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: 1 to 65535")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="runbook-gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", help="address to listen on (default: [gateway] host)")
    parser.add_argument("--port", type=_port, help="port to listen on (default: [gateway] port)")
    parser.add_argument("--new-key", action="store_true", help="print a new attestation key and exit")
    parser.add_argument("--json", action="store_true", help="with --new-key: as a JSON object")
    args = parser.parse_args(argv)
    if args.new_key:
        key = new_key()
        if args.json:
            print(json.dumps(key, indent=2))
        else:
            print(f"RUNBOOK_GATEWAY_KEY={key['RUNBOOK_GATEWAY_KEY']}  (the gateway's environment only; keep it secret)")
            print(f'[approvals] gateway_key = "{key["gateway_key"]}"  (runbook.toml)')
        return 0
    try:
        config = load_config()
        secrets = gateway_secrets(config)
    except ConfigError as error:
        print(f"gateway: error: {error}", file=sys.stderr)
        return 2
    host, port = args.host or config.gateway.host, args.port or config.gateway.port
    try:
        listening = socket.create_server((host, port))
    except OSError as error:
        print(f"gateway: error: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 3
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gateway = Gateway(config, secrets)
    server = uvicorn.Server(
        uvicorn.Config(gateway.app, log_level="warning", access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    )
    print(f"gateway at http://{host}:{port}: Slack {SLACK_PATH}, PagerDuty {PAGERDUTY_PATH}", flush=True)
    asyncio.run(server.serve(sockets=[listening]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
