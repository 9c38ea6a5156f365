"""Payload encryption: the codec, its keys from the environment, and the codec server over HTTP."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from runbook.codec import KEYS_VARIABLE, EncryptionCodec, UndecryptablePayload, data_converter, parse_keys
from runbook.config import ConfigError
from starter.codec_server import CodecServer, ui_origins
from tests.support import server_url, serving

PROJECT = Path(__file__).resolve().parents[2]
PLAINTEXT = b'{"approver": "alice", "comment": "staging looks good"}'


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


OLD_KEY, NEW_KEY = new_key(), new_key()


def plain_payload(data: bytes = PLAINTEXT) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def codec_for(text: str) -> EncryptionCodec:
    codec = EncryptionCodec.from_environment({KEYS_VARIABLE: text})
    assert codec is not None
    return codec


async def test_a_payload_round_trips_and_is_stored_as_ciphertext_naming_its_key():
    codec = codec_for(f"2026-11:{NEW_KEY}")
    [encrypted] = await codec.encode([plain_payload()])
    assert encrypted.metadata["encoding"] == b"binary/encrypted"
    assert encrypted.metadata["encryption-key-id"] == b"2026-11"
    assert b"alice" not in encrypted.SerializeToString()
    assert await codec.decode([encrypted]) == [plain_payload()]


async def test_each_payload_gets_its_own_nonce():
    codec = codec_for(f"k:{NEW_KEY}")
    first, second = await codec.encode([plain_payload(), plain_payload()])
    assert first.data[:12] != second.data[:12] and first.data != second.data


async def test_after_rotation_the_new_key_encrypts_and_the_old_still_decrypts():
    [before] = await codec_for(f"2026-05:{OLD_KEY}").encode([plain_payload()])
    rotated = codec_for(f"2026-11:{NEW_KEY}, 2026-05:{OLD_KEY}")
    [after] = await rotated.encode([plain_payload()])
    assert after.metadata["encryption-key-id"] == b"2026-11"
    assert await rotated.decode([before, after]) == [plain_payload(), plain_payload()]


async def test_an_unknown_key_id_is_an_error_naming_it_never_ciphertext_passed_on():
    [encrypted] = await codec_for(f"2026-05:{OLD_KEY}").encode([plain_payload()])
    with pytest.raises(
        UndecryptablePayload,
        match=r"key ID '2026-05', which RUNBOOK_ENCRYPTION_KEYS does not hold \(it holds: 2026-11\)",
    ):
        await codec_for(f"2026-11:{NEW_KEY}").decode([encrypted])


async def test_tampered_ciphertext_or_a_relabelled_key_id_fails_authentication():
    codec = codec_for(f"a:{NEW_KEY},b:{OLD_KEY}")
    [encrypted] = await codec.encode([plain_payload()])
    tampered = Payload()
    tampered.CopyFrom(encrypted)
    tampered.data = encrypted.data[:-1] + bytes([encrypted.data[-1] ^ 1])
    with pytest.raises(UndecryptablePayload, match="key ID 'a' fails authentication"):
        await codec.decode([tampered])
    relabelled = Payload()
    relabelled.CopyFrom(encrypted)
    relabelled.metadata["encryption-key-id"] = b"b"
    with pytest.raises(UndecryptablePayload, match="key ID 'b' fails authentication"):
        await codec.decode([relabelled])


async def test_payloads_from_before_encryption_pass_through_on_decode():
    codec = codec_for(f"k:{NEW_KEY}")
    unencrypted = [plain_payload(), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(unencrypted) == unencrypted


def test_keys_keep_the_variables_order_the_first_encrypting():
    keys = parse_keys(f"2026-11:{NEW_KEY},2026-05:{OLD_KEY}")
    assert list(keys) == ["2026-11", "2026-05"]
    assert codec_for(f"2026-11:{NEW_KEY},2026-05:{OLD_KEY}").encrypting_key_id == "2026-11"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (NEW_KEY, "entry 1 is not ID:KEY"),
        (f"k:{NEW_KEY},{OLD_KEY}:k", "entry 2 is not ID:KEY"),
        ("k:bm90IDMyIGJ5dGVz", "key 'k' is not the base64 of 32 bytes"),
        ("k:***not base64***", "key 'k' is not the base64 of 32 bytes"),
        (f"k:{NEW_KEY},k:{OLD_KEY}", "key ID 'k' is listed twice"),
        (f"has space:{NEW_KEY}", "entry 1 is not ID:KEY"),
    ],
    # Named, not shown: the keys are random, and pytest-xdist wants the same IDs in every process.
    ids=["bare-key", "key-then-id", "short-key", "not-base64", "id-twice", "id-with-space"],
)
def test_a_bad_key_variable_is_one_line_naming_the_variable_never_the_key(value, message):
    with pytest.raises(ConfigError) as raised:
        EncryptionCodec.from_environment({KEYS_VARIABLE: value})
    text = str(raised.value)
    assert text.startswith(f"{KEYS_VARIABLE}: ") and message in text and "\n" not in text
    assert "ID:KEY[,ID:KEY...]" in text
    assert NEW_KEY not in text and OLD_KEY not in text


def test_without_the_variable_the_converter_is_the_plain_pydantic_one():
    assert data_converter({}) is pydantic_data_converter
    assert data_converter({KEYS_VARIABLE: "  "}) is pydantic_data_converter
    encrypting = data_converter({KEYS_VARIABLE: f"k:{NEW_KEY}"})
    assert isinstance(encrypting.payload_codec, EncryptionCodec)
    assert encrypting.payload_converter_class is pydantic_data_converter.payload_converter_class


async def test_failure_messages_are_encrypted_too_and_read_back():
    converter = data_converter({KEYS_VARIABLE: f"k:{NEW_KEY}"})
    failure = Failure()
    await converter.encode_failure(ApplicationError("token sk-live-1234 rejected"), failure)
    assert b"sk-live-1234" not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    assert str(await converter.decode_failure(failure)) == "token sk-live-1234 rejected"


# The codec server --------------------------------------------------------------------------------


def as_json(payloads: list[Payload]) -> dict:
    return json.loads(json_format.MessageToJson(Payloads(payloads=payloads)))


def from_json(body: dict) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


@pytest.fixture
def codec() -> EncryptionCodec:
    return codec_for(f"2026-11:{NEW_KEY},2026-05:{OLD_KEY}")


@pytest.fixture
def codec_server(codec) -> Iterator[str]:
    server = CodecServer(0, codec, ui_origins("http://127.0.0.1:8233"), token=None)
    with serving(server):
        yield server_url(server)


async def test_the_codec_server_decodes_what_the_codec_encoded(codec, codec_server):
    encrypted = await codec.encode([plain_payload(), plain_payload(b'"second"')])
    answer = httpx.post(f"{codec_server}/decode", json=as_json(encrypted), headers={"X-Namespace": "default"})
    assert answer.status_code == 200
    assert from_json(answer.json()) == [plain_payload(), plain_payload(b'"second"')]


async def test_the_codec_server_encodes_for_the_ui_and_answers_under_a_namespace_path(codec, codec_server):
    answer = httpx.post(f"{codec_server}/default/encode", json=as_json([plain_payload()]))
    [encrypted] = from_json(answer.json())
    assert encrypted.metadata["encryption-key-id"] == b"2026-11"
    assert await codec.decode([encrypted]) == [plain_payload()]


async def test_the_codec_server_names_a_missing_key_and_refuses_bad_bodies(codec_server):
    [foreign] = await codec_for(f"2024-01:{new_key()}").encode([plain_payload()])
    answer = httpx.post(f"{codec_server}/decode", json=as_json([foreign]))
    assert answer.status_code == 400 and "'2024-01'" in answer.text
    assert httpx.post(f"{codec_server}/decode", content=b"not json").status_code == 400
    assert httpx.post(f"{codec_server}/elsewhere", json={"payloads": []}).status_code == 404


def test_the_ui_origin_gets_cors_answers_and_a_preflight(codec_server):
    preflight = httpx.options(
        f"{codec_server}/decode",
        headers={
            "Origin": "http://localhost:8233",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
    allowed = {header.strip().lower() for header in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    post = httpx.post(f"{codec_server}/decode", json={"payloads": []}, headers={"Origin": "http://127.0.0.1:8233"})
    assert post.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    stranger = httpx.post(f"{codec_server}/decode", json={"payloads": []}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers


def test_with_a_token_the_codec_server_wants_it_as_bearer(codec):
    server = CodecServer(0, codec, set(), token="s3cret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/decode"
        assert httpx.post(url, json={"payloads": []}).status_code == 401
        assert httpx.post(url, json={"payloads": []}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(url, json={"payloads": []}, headers={"Authorization": "Bearer s3cret"}).json() == {
            "payloads": []
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_python_m_starter_codec_server_serves_on_loopback(codec):
    port = free_port()
    env = {**os.environ, KEYS_VARIABLE: f"2026-11:{NEW_KEY},2026-05:{OLD_KEY}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "starter.codec_server", "--port", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert b"codec server at http://127.0.0.1:" in process.stdout.readline()
        encrypted = await codec.encode([plain_payload()])
        answer = httpx.post(f"http://127.0.0.1:{port}/decode", json=as_json(encrypted))
        assert from_json(answer.json()) == [plain_payload()]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_codec_server_refuses_to_start_without_keys_or_a_ui_issuer(tmp_path):
    # With [approvals] ui_issuer it starts without keys, to attest UI logins (test_codec_attestation.py).
    config = tmp_path / "runbook.toml"
    config.write_text(re.sub(r'(?m)^ui_issuer = ".*"$', 'ui_issuer = ""', (PROJECT / "runbook.toml").read_text()))
    env = {key: value for key, value in os.environ.items() if key != KEYS_VARIABLE}
    env["RUNBOOK_CONFIG"] = str(config)
    done = subprocess.run(
        [sys.executable, "-m", "starter.codec_server", "--port", "0"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "codec server: error: RUNBOOK_ENCRYPTION_KEYS is not set and [approvals] ui_issuer is empty:"
        " nothing to decode or attest"
    )
