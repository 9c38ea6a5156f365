"""Encrypted at rest: a real Verification, run through connect() with RUNBOOK_ENCRYPTION_KEYS set,
leaves only ciphertext in the server's history, and the key holder reads it all back."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from runbook.codec import KEYS_VARIABLE, EncryptionCodec
from runbook.config import load_config
from runbook.models import (
    CheckResult,
    HealthCheckRequest,
    HealthReport,
    LogMatches,
    LogSearchRequest,
    MetricsReport,
    MetricsRequest,
    ServiceMetrics,
    SlackMessage,
    SlackPosted,
)
from runbook.status import HandlerOutcome
from runbook.temporal import connect
from runbook.verification import VerificationResult
from starter.commands import verification_request
from tests.support import SANDBOX_CONFIG
from workflows.verification import Verification

CONFIG = load_config(SANDBOX_CONFIG)
MARKER = f"plaintext-{uuid.uuid4().hex}"


def activities() -> list:
    """The outside world's answers, each carrying the marker somewhere."""

    @activity.defn(name="check_health")
    async def check_health(request: HealthCheckRequest) -> HealthReport:
        check = CheckResult(
            name="liveness", url=f"https://{MARKER}.example/health/live", http_status=200, latency_ms=12, verdict="pass"
        )
        return HealthReport(
            environment=request.environment,
            full=request.full,
            checks=[check],
            integrations={"database": "up", "redis": "up"},
        )

    @activity.defn(name="collect_metrics")
    async def collect_metrics(request: MetricsRequest) -> MetricsReport:
        return MetricsReport(
            environment=request.environment,
            window=request.window,
            services=[ServiceMetrics(service=name, requests=100) for name in request.services],
        )

    @activity.defn(name="search_logs")
    async def search_logs(request: LogSearchRequest) -> LogMatches:
        raise ApplicationError(f"log group /{MARKER} is unreadable", non_retryable=True)

    @activity.defn(name="post_message")
    async def post_message(message: SlackMessage) -> SlackPosted:
        return SlackPosted(channel=message.channel, ts="1")

    return [check_health, collect_metrics, search_logs, post_message]


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a history event, except search attributes: the server indexes
    those, so they are plaintext by design (and hold no user data)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            children = list(value.values())
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            yield from payloads_in(child)


def event_kind(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


@pytest.fixture
def encryption_keys(monkeypatch, temporal_env) -> EncryptionCodec:
    """The environment a user sets: the keys, and the test server's address for connect()."""
    keys = ",".join(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for kid in ("2026-11", "2026-05"))
    monkeypatch.setenv(KEYS_VARIABLE, keys)
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", temporal_env.client.namespace)
    codec = EncryptionCodec.from_environment()
    assert codec is not None
    return codec


async def test_the_stored_history_holds_only_ciphertext_and_the_key_reads_it_back(temporal_env, encryption_keys):
    client = await connect(CONFIG)
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    queue = f"test-{uuid.uuid4()}"
    workflow_id = f"verify-encrypted-{uuid.uuid4()}"
    request = verification_request(CONFIG, "staging", True, True, "alice")
    request = request.model_copy(update={"services": ["api-gateway", f"svc-{MARKER}"]})
    items = CONFIG.verification.checklist
    async with Worker(client, task_queue=queue, workflows=[Verification], activities=activities()):
        handle = await client.start_workflow(Verification.run, request, id=workflow_id, task_queue=queue)
        outcome = await handle.execute_update(
            "check", {"item": items[0], "user": "bob", "note": f"update {MARKER}"}, result_type=HandlerOutcome
        )
        assert outcome.accepted
        for item in items[1:]:
            await handle.signal("check", {"item": item, "user": "carol", "note": f"signal {MARKER}"})
        result = await handle.result()

    # The key holder's client reads everything back.
    assert isinstance(result, VerificationResult)
    assert result.health.checks[0].url == f"https://{MARKER}.example/health/live"
    assert [item.note for item in result.checklist] == [f"update {MARKER}"] + [f"signal {MARKER}"] * (len(items) - 1)
    assert f"log group /{MARKER} is unreadable" in " ".join(result.reasons)

    # The server, and any client without the key, hold only ciphertext.
    plain = temporal_env.client.get_workflow_handle(workflow_id)
    history = await plain.fetch_history()
    assert MARKER not in history.to_json()
    revealing: set[str] = set()
    stored = 0
    for event in history.events:
        assert MARKER.encode() not in event.SerializeToString(), f"plaintext in {event_kind(event)}"
        for payload in payloads_in(event):
            stored += 1
            assert payload.metadata["encoding"] == b"binary/encrypted", f"unencrypted payload in {event_kind(event)}"
            assert payload.metadata["encryption-key-id"] == b"2026-11"
            [decoded] = await encryption_keys.decode([payload])
            if MARKER.encode() in decoded.data:
                revealing.add(event_kind(event))
    assert stored >= 10
    # Where the marker went in: the input, activity inputs and results, an activity failure's
    # message, an update, signals and the result. Each was stored encrypted and decrypts.
    assert revealing >= {
        "WORKFLOW_EXECUTION_STARTED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_COMPLETED",
        "ACTIVITY_TASK_FAILED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_COMPLETED",
    }
    with pytest.raises(Exception, match="binary/encrypted"):
        await plain.result()
