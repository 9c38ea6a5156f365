"""The gateway given forged, stale, replayed, oversized and misdirected requests, in this process
(its ASGI app over httpx), with a stand-in for Temporal that counts every call and one for Slack's
response URLs that keeps every message. A request refused before its signature holds reaches
neither; one from someone who is not a person, or for a button the runbook never sent, is answered
and explained to the clicker, and still reaches no workflow.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from runbook.buttons import ACTIONS, OUTCOMES
from runbook.config import load_config
from runbook.integrations import gateway_secrets, sandbox_secret, sandbox_url
from runbook.proof import Proof, ProofRefused, verify
from runbook.status import HandlerOutcome
from runbook.temporal import TemporalUnreachable
from starter.gateway import MAX_BODY_BYTES, PAGERDUTY_PATH, SLACK_PATH, Gateway

CONFIG = load_config()
SLACK_SECRET = sandbox_secret("SLACK_SIGNING_SECRET", {})
PAGERDUTY_SECRET = sandbox_secret("PAGERDUTY_WEBHOOK_SECRET", {})
WORKFLOW = "deploy-production-v2.0.0-0001"
INCIDENT = "INC-20261130-0001"
BOB, DANA = "U0BOB000002", "PDANA04"
RESPONSE_URL = sandbox_url(CONFIG, "/slack/respond/T0001-click")


class FakeTemporal:
    """Temporal as the gateway sees it: every connection and update it asks for, answered as told."""

    def __init__(self) -> None:
        self.connects = 0
        self.updates: list[tuple[str, str, dict[str, Any]]] = []
        self.answer = HandlerOutcome(accepted=True)
        self.failure: Exception | None = None
        self.unreachable = False
        self.hold: asyncio.Event | None = None

    async def connect(self) -> FakeTemporal:
        self.connects += 1
        if self.unreachable:
            raise TemporalUnreachable("cannot reach Temporal at 127.0.0.1:7233")
        return self

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)

    @property
    def touched(self) -> bool:
        return self.connects > 0 or bool(self.updates)


class FakeHandle:
    def __init__(self, temporal: FakeTemporal, workflow_id: str) -> None:
        self.temporal, self.id = temporal, workflow_id

    async def execute_update(self, name: str, payload: dict[str, Any], result_type: type) -> HandlerOutcome:
        assert result_type is HandlerOutcome
        self.temporal.updates.append((self.id, name, payload))
        if self.temporal.hold is not None:
            await self.temporal.hold.wait()
        if self.temporal.failure is not None:
            raise self.temporal.failure
        return self.temporal.answer


class Harness:
    def __init__(self) -> None:
        self.temporal = FakeTemporal()
        # What the gateway posted to response URLs: (url, message).
        self.responses: list[tuple[str, dict[str, Any]]] = []
        slack = httpx.MockTransport(self._response_url)
        self.gateway = Gateway(
            CONFIG, gateway_secrets(CONFIG, {}), connect=self.temporal.connect, http=httpx.AsyncClient(transport=slack)
        )
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.gateway.app), base_url="http://gateway")

    def _response_url(self, request: httpx.Request) -> httpx.Response:
        self.responses.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200, text="ok")

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        answer = await self.client.post(path, content=body, headers=headers)
        await self.gateway.settled(5)
        return answer

    @property
    def untouched(self) -> bool:
        """Neither Temporal nor Slack heard of it."""
        return not self.temporal.touched and not self.responses


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    made = Harness()
    yield made
    await made.client.aclose()


# Requests as Slack and PagerDuty make them ------------------------------------------------------


def click_payload(user: str = BOB, action: str = "approve", workflow_id: str = WORKFLOW, **extra: Any) -> dict:
    """A block_actions payload, the parts the gateway reads and a few it does not."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0001"},
        "api_app_id": "A0001",
        "container": {"type": "message", "message_ts": "1764514800.000100", "channel_id": "C0DEPLOYS1"},
        "message": {"ts": "1764514800.000100", "text": f":rocket: {workflow_id} is waiting for approval"},
        "response_url": RESPONSE_URL,
        "actions": [{"action_id": action, "block_id": "runbook-decision", "value": workflow_id, "type": "button"}],
        **extra,
    }


def slack_request(
    payload: dict | list | str, *, timestamp: int | None = None, secret: str = SLACK_SECRET
) -> tuple[bytes, dict[str, str]]:
    """Signed as Slack signs; a str payload is sent as it is."""
    body = urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return body, headers


def webhook(event_type: str = "incident.acknowledged", agent: str = DANA, event_id: str = "01DEN0EVENT0001") -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-11-30T15:00:00.000Z",
                "agent": {"id": agent, "type": "user_reference", "summary": "someone"},
                "client": None,
                "data": {"id": "Q0INCIDENT1", "type": "incident", "status": "acknowledged", "incident_key": INCIDENT},
            }
        }
    ).encode()


def pagerduty_headers(body: bytes, *secrets: str) -> dict[str, str]:
    signatures = ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets or (PAGERDUTY_SECRET,)
    )
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": signatures}


def checked(payload: dict[str, Any], person: str, workflow_id: str, decision: str) -> str:
    """How the workflow will see the decision: runbook.proof's check of its proof."""
    proof = Proof.model_validate(payload["proof"])
    return str(
        verify(
            proof,
            payload,
            person=person,
            workflow_id=workflow_id,
            decision=decision,
            people=CONFIG.people,
            policy=CONFIG.approvals.policy(),
            now=datetime.now(UTC),
        )
    )


# What a genuine request does: the baseline every refusal below is measured against -------------


async def test_a_genuine_click_reaches_the_workflow_attested_and_replaces_the_buttons_with_who_decided(harness):
    answer = await harness.post(SLACK_PATH, *slack_request(click_payload()))
    assert answer.status_code == 200 and answer.content == b""
    [(workflow_id, update, payload)] = harness.temporal.updates
    assert (workflow_id, update) == (WORKFLOW, "approve")
    assert {name: payload[name] for name in ("approver", "comment")} == {"approver": "bob", "comment": ""}
    assert checked(payload, "bob", WORKFLOW, "approve") == "bob, Slack U0BOB000002"
    assert harness.responses == [
        (
            RESPONSE_URL,
            {
                "replace_original": True,
                "text": f":rocket: {WORKFLOW} is waiting for approval\n\n*Approved by <@U0BOB000002>*",
            },
        )
    ]


async def test_an_attestation_altered_after_the_gateway_signed_it_does_not_hold(harness):
    await harness.post(SLACK_PATH, *slack_request(click_payload(action="reject")))
    [(_, update, payload)] = harness.temporal.updates
    assert update == "reject" and checked(payload, "bob", WORKFLOW, "reject") == "bob, Slack U0BOB000002"
    with pytest.raises(ProofRefused, match="does not verify"):
        checked({**payload, "reason": "something else"}, "bob", WORKFLOW, "reject")
    with pytest.raises(ProofRefused, match="not decide on"):
        checked(payload, "bob", WORKFLOW, "decide")


async def test_slack_is_answered_at_once_while_the_workflow_takes_its_time(harness):
    harness.temporal.hold = asyncio.Event()
    started = time.monotonic()
    body, headers = slack_request(click_payload())
    answer = await harness.client.post(SLACK_PATH, content=body, headers=headers)
    assert answer.status_code == 200 and time.monotonic() - started < 1.0
    assert harness.responses == []  # the outcome is not known yet
    harness.temporal.hold.set()
    await harness.gateway.settled(5)
    assert harness.responses[0][1]["text"].endswith("*Approved by <@U0BOB000002>*")


# Refused before the signature holds: 401, nothing reaches Temporal or Slack ----------------------


def _forged() -> tuple[bytes, dict[str, str]]:
    return slack_request(click_payload(), secret="not-the-signing-secret")


def _altered() -> tuple[bytes, dict[str, str]]:
    body, headers = slack_request(click_payload())
    return body.replace(b"U0BOB000002", b"U0ALICE0001"), headers


def _stale() -> tuple[bytes, dict[str, str]]:
    return slack_request(click_payload(), timestamp=int(time.time()) - 5 * 60 - 5)


def _from_the_future() -> tuple[bytes, dict[str, str]]:
    return slack_request(click_payload(), timestamp=int(time.time()) + 5 * 60 + 5)


def _unsigned() -> tuple[bytes, dict[str, str]]:
    body, headers = slack_request(click_payload())
    del headers["X-Slack-Signature"]
    return body, headers


def _restamped() -> tuple[bytes, dict[str, str]]:
    """A stale request's signature with a fresh timestamp: the timestamp is part of what is signed."""
    body, headers = slack_request(click_payload(), timestamp=int(time.time()) - 3600)
    return body, {**headers, "X-Slack-Request-Timestamp": str(int(time.time()))}


@pytest.mark.parametrize(
    ("request_maker", "reason"),
    [
        (_forged, "X-Slack-Signature does not match"),
        (_altered, "X-Slack-Signature does not match"),
        (_stale, "more than 5 minutes from now"),
        (_from_the_future, "more than 5 minutes from now"),
        (_unsigned, "X-Slack-Signature does not match"),
        (_restamped, "X-Slack-Signature does not match"),
    ],
    ids=["forged", "altered", "stale", "future", "unsigned", "restamped"],
)
async def test_a_slack_request_that_is_not_slacks_is_refused_401_and_goes_nowhere(harness, request_maker, reason):
    answer = await harness.post(SLACK_PATH, *request_maker())
    assert answer.status_code == 401 and reason in answer.text
    assert harness.untouched


async def test_the_same_slack_request_replayed_is_refused_and_decides_nothing_twice(harness):
    body, headers = slack_request(click_payload())
    assert (await harness.post(SLACK_PATH, body, headers)).status_code == 200
    again = await harness.post(SLACK_PATH, body, headers)
    assert again.status_code == 401 and "replayed" in again.text
    assert len(harness.temporal.updates) == 1 and len(harness.responses) == 1


async def test_a_pagerduty_webhook_with_a_wrong_signature_is_refused_401_and_goes_nowhere(harness):
    body = webhook()
    for headers in (
        pagerduty_headers(body, "not-the-webhook-secret"),
        {"Content-Type": "application/json"},
        pagerduty_headers(webhook(agent="PALICE1")),
    ):
        answer = await harness.post(PAGERDUTY_PATH, body, headers)
        assert answer.status_code == 401
    assert harness.untouched


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("POST", "/", 404),
        ("POST", "/slack/events", 404),
        ("POST", "/slack/interactivity/extra", 404),
        ("POST", "/pagerduty/webhook/", 404),
        ("GET", SLACK_PATH, 405),
        ("PUT", PAGERDUTY_PATH, 405),
    ],
)
async def test_nothing_else_is_served(harness, method, path, status):
    body, headers = slack_request(click_payload())
    answer = await harness.client.request(method, path, content=body, headers=headers)
    await harness.gateway.settled(5)
    assert answer.status_code == status
    assert harness.untouched


@pytest.mark.parametrize("path", [SLACK_PATH, PAGERDUTY_PATH])
async def test_a_body_over_64_kib_is_refused_413_without_reading_the_rest(harness, path):
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        while True:
            read += 1
            yield b"a" * 16384

    # No Content-Length to go by: the gateway stops reading at the limit.
    answer = await harness.client.post(path, content=endless(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert read * 16384 <= MAX_BODY_BYTES + 16384
    declared = await harness.client.post(path, content=b"a" * (MAX_BODY_BYTES + 1))
    assert declared.status_code == 413
    assert harness.untouched


# Signed, but not a decision the gateway sends: answered, explained, no workflow asked ---------------


async def test_a_slack_user_who_is_not_a_person_is_told_so_and_no_workflow_is_asked(harness):
    answer = await harness.post(SLACK_PATH, *slack_request(click_payload(user="U0STRANGER9")))
    assert answer.status_code == 200
    assert not harness.temporal.touched
    assert harness.responses == [
        (
            RESPONSE_URL,
            {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": "Not taken: Slack user U0STRANGER9 is not one of the runbook's people"
                " ([people] in runbook.toml)",
            },
        )
    ]


async def test_an_action_the_runbook_never_sent_is_told_so_and_no_workflow_is_asked(harness):
    answer = await harness.post(SLACK_PATH, *slack_request(click_payload(action="delete_everything")))
    assert answer.status_code == 200
    assert not harness.temporal.touched
    [(_, message)] = harness.responses
    assert message["response_type"] == "ephemeral"
    assert message["text"] == (
        "Not taken: unknown action 'delete_everything'; the runbook's buttons are approve, reject, rollback,"
        " continue, acknowledge"
    )


async def test_a_response_url_that_is_not_slacks_is_never_posted_to(harness):
    payload = click_payload(response_url="http://169.254.169.254/latest/meta-data/")
    answer = await harness.post(SLACK_PATH, *slack_request(payload))
    assert answer.status_code == 400
    assert harness.untouched


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "user": {"id": BOB}, "actions": [], "response_url": RESPONSE_URL},
        {"type": "block_actions", "actions": [{"action_id": "approve"}], "response_url": RESPONSE_URL},
        ["not", "an", "object"],
        "[" * 10000 + "]" * 10000,
    ],
    ids=["no-action", "no-user", "not-an-object", "nested-deep"],
)
async def test_a_signed_payload_that_is_not_a_click_is_refused_400(harness, payload):
    answer = await harness.post(SLACK_PATH, *slack_request(payload))
    assert answer.status_code == 400
    assert harness.untouched


# What the workflow answered, told to the clicker ---------------------------------------------------


@pytest.mark.parametrize(
    ("situation", "said"),
    [
        (
            {"answer": HandlerOutcome(accepted=False, reason="bob started this deployment <!channel>")},
            "Not taken: bob started this deployment &lt;!channel&gt;",
        ),
        ({"unreachable": True}, "Not taken: Temporal cannot be reached; try again in a moment, or use the CLI"),
        (
            {"failure": RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")},
            f"Not taken: no running workflow {WORKFLOW}",
        ),
    ],
    ids=["refused", "unreachable", "not-found"],
)
async def test_a_click_not_taken_is_explained_to_the_clicker_and_the_buttons_stay(harness, situation, said):
    for name, value in situation.items():
        setattr(harness.temporal, name, value)
    assert (await harness.post(SLACK_PATH, *slack_request(click_payload()))).status_code == 200
    assert harness.responses == [
        (RESPONSE_URL, {"response_type": "ephemeral", "replace_original": False, "text": said})
    ]


async def test_temporal_is_connected_once_for_many_clicks(harness):
    for action in ("approve", "reject", "rollback"):
        await harness.post(SLACK_PATH, *slack_request(click_payload(action=action)))
    assert harness.temporal.connects == 1 and len(harness.temporal.updates) == 3


# PagerDuty -------------------------------------------------------------------------------------------


async def test_an_acknowledgement_webhook_acknowledges_the_incident_as_that_person_once(harness):
    body = webhook()
    # During a secret's rotation PagerDuty signs with both: one matching is enough.
    answer = await harness.post(PAGERDUTY_PATH, body, pagerduty_headers(body, "the-old-secret", PAGERDUTY_SECRET))
    assert answer.status_code == 200
    again = await harness.post(PAGERDUTY_PATH, body, pagerduty_headers(body))
    assert again.status_code == 200
    [(workflow_id, update, payload)] = harness.temporal.updates
    assert (workflow_id, update, payload["user"], payload["note"]) == (
        INCIDENT,
        "acknowledge",
        "dana",
        "acknowledged in PagerDuty (PDANA04)",
    )
    assert checked(payload, "dana", INCIDENT, "acknowledge") == "dana, PagerDuty PDANA04"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"event": {"id": "E1"}}', b'{"event": ' * 5000 + b"{}" + b"}" * 5000, b"[]"],
    ids=["not-json", "no-event-type", "nested-deep", "not-an-object"],
)
async def test_a_signed_body_that_is_not_a_webhook_event_is_refused_400(harness, body):
    answer = await harness.post(PAGERDUTY_PATH, body, pagerduty_headers(body))
    assert answer.status_code == 400
    assert harness.untouched


@pytest.mark.parametrize(
    "body",
    [webhook(event_type="incident.resolved"), webhook(agent="PSTRANGE"), webhook(event_type="incident.triggered")],
    ids=["resolved", "not-a-person", "triggered"],
)
async def test_a_webhook_that_acknowledges_nothing_for_a_person_is_answered_and_ignored(harness, body):
    answer = await harness.post(PAGERDUTY_PATH, body, pagerduty_headers(body))
    assert answer.status_code == 200
    assert harness.untouched


# Logs -------------------------------------------------------------------------------------------------


async def test_the_log_says_what_happened_and_holds_no_secret_or_signature(harness, caplog):
    caplog.set_level(logging.INFO, logger="runbook.gateway")
    genuine = slack_request(click_payload())
    await harness.post(SLACK_PATH, *genuine)
    await harness.post(SLACK_PATH, *_forged())
    body = webhook()
    await harness.post(PAGERDUTY_PATH, body, pagerduty_headers(body))
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        f"{SLACK_PATH} approve taken person=bob workflow='{WORKFLOW}'",
        f"{SLACK_PATH} 401 X-Slack-Signature does not match person=- workflow=-",
        f"{PAGERDUTY_PATH} acknowledge taken person=dana workflow='{INCIDENT}'",
    ]
    text = caplog.text
    for secret in (SLACK_SECRET, PAGERDUTY_SECRET, sandbox_secret("RUNBOOK_GATEWAY_KEY", {})):
        assert secret not in text
    assert genuine[1]["X-Slack-Signature"][3:] not in text
    assert harness.temporal.updates[0][2]["proof"]["signature"] not in text


def test_the_outcomes_cover_every_button():
    assert list(OUTCOMES) == ACTIONS
