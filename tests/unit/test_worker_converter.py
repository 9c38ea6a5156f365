"""The worker's data converter reads what it cannot read as a refusal: its codec never raises on
decode, and its payload converter gives a handler typed Any Undecodable(reason). Typed values, and
every value a client (the CLI) reads, still raise."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from runbook.codec import (
    KEYS_VARIABLE,
    UNDECODABLE_ENCODING,
    EncryptionCodec,
    UndecryptablePayload,
    WorkerEncryptionCodec,
    data_converter,
)
from runbook.models import Undecodable
from runbook.status import HandlerOutcome
from runbook.worker_converter import WORKER_DATA_CONVERTER

KEY = base64.b64encode(secrets.token_bytes(32)).decode()
KEYS = {KEYS_VARIABLE: f"2026-11:{KEY}"}
CONVERTER = WORKER_DATA_CONVERTER.payload_converter


def json_payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def encrypted(key_id: bytes, data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": key_id}, data=data)


def worker_codec() -> WorkerEncryptionCodec:
    codec = WorkerEncryptionCodec.from_environment(KEYS)
    assert isinstance(codec, WorkerEncryptionCodec)
    return codec


async def altered() -> Payload:
    [sealed] = await worker_codec().encode([json_payload(b'{"user": "bob"}')])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    return sealed


def test_the_worker_gets_the_refusing_converter_and_codec_and_the_cli_the_strict_ones():
    assert data_converter({}, worker=True) is WORKER_DATA_CONVERTER
    assert isinstance(data_converter(KEYS, worker=True).payload_codec, WorkerEncryptionCodec)
    assert data_converter({}) is pydantic_data_converter
    assert type(data_converter(KEYS).payload_codec) is EncryptionCodec


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (encrypted(b"bogus", b'{"user": "bob"}'), "key ID 'bogus', which RUNBOOK_ENCRYPTION_KEYS does not hold"),
        (encrypted(b"2026-11", b"abc"), "key ID '2026-11' fails authentication"),
        (encrypted(KEY.encode(), b"abc"), "key ID (not a key ID), which"),
    ],
    ids=["unknown key ID", "3 bytes of ciphertext", "a key where the ID belongs"],
)
async def test_the_worker_codec_never_raises_and_says_why_without_key_material(payload, reason):
    [decoded] = await worker_codec().decode([payload])
    assert decoded.metadata["encoding"] == UNDECODABLE_ENCODING
    assert reason in decoded.data.decode()
    assert KEY not in decoded.data.decode()
    [value] = CONVERTER.from_payloads([decoded], None)
    assert isinstance(value, Undecodable) and reason in value.reason
    with pytest.raises(UndecryptablePayload, match="key ID"):
        CONVERTER.from_payloads([decoded], [HandlerOutcome])


async def test_an_altered_ciphertext_too_and_the_cli_codec_still_raises():
    [decoded] = await worker_codec().decode([await altered()])
    assert b"fails authentication" in decoded.data
    with pytest.raises(UndecryptablePayload, match="fails authentication"):
        await EncryptionCodec.from_environment(KEYS).decode([await altered()])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (json_payload(b"[" * 5000 + b"]" * 5000), "Invalid JSON: recursion limit exceeded"),
        (json_payload(b"{not json"), "Invalid JSON"),
        (Payload(metadata={"encoding": b"text/x-" + b"y" * 1000}, data=b"hi"), "Unknown payload encoding text/x-y"),
        (Payload(metadata={"encoding": UNDECODABLE_ENCODING}, data=b"z" * 100_000), "zzz"),
    ],
    ids=["nested 5,000 deep", "not JSON", "an unknown encoding", "a sender's own undecodable payload"],
)
@pytest.mark.parametrize("hint", [None, Any], ids=["no type", "Any"])
def test_an_untyped_value_that_cannot_be_read_is_undecodable_and_a_typed_one_raises(payload, reason, hint):
    [value] = CONVERTER.from_payloads([payload], None if hint is None else [hint])
    assert isinstance(value, Undecodable)
    assert value.reason.startswith(reason) and len(value.reason) <= 300
    with pytest.raises(Exception):  # noqa: B017, PT011 - as the SDK's converter raised before, whatever it was
        CONVERTER.from_payloads([payload], [HandlerOutcome])


def test_what_can_be_read_reads_as_before():
    good = json_payload(b'{"accepted": true}')
    assert CONVERTER.from_payloads([good, Payload(metadata={"encoding": b"binary/null"})], None) == [
        {"accepted": True},
        None,
    ]
    assert CONVERTER.from_payloads([good], [HandlerOutcome]) == [HandlerOutcome(accepted=True)]
