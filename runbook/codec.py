"""Payload encryption at rest: AES-256-GCM, keys only from the environment, rotation by key ID.

RUNBOOK_ENCRYPTION_KEYS holds comma-separated `ID:KEY` entries, KEY the base64 of 32 random bytes:

    RUNBOOK_ENCRYPTION_KEYS="2026-11:<base64>,2026-05:<base64>"

The first key encrypts every new payload; every key listed decrypts. Rotating is putting a new key
first and keeping the old ones until no open workflow's history still needs them. Each encrypted
payload names its key in the metadata (`encryption-key-id`), so the Temporal server stores only the
ID, never a key. Payloads written before encryption was turned on still read (they pass through).

Not encrypted, because the server must read them: workflow IDs and types, signal and update names,
task queues, search attributes (RunbookKind, RunbookEnvironment, ...). Failure messages and stack
traces are: the failure converter moves them into a payload that the codec then encrypts.

A payload that cannot be read never stops a workflow. The worker's codec (WorkerEncryptionCodec)
turns one it cannot decrypt into a `binary/undecodable` payload carrying the reason, because a
codec that raises fails the whole workflow task, again on every retry; and the worker's payload
converter (WorkerPayloadConverter, in runbook/worker_converter.py) hands any payload it cannot read
to a handler typed Any as Undecodable(reason), which the handler refuses and records. Typed values
(workflow inputs, activity results) still raise: those are the project's own payloads, and a wrong
one is a bug to stop at. The CLI keeps a plain converter (pydantic's, or the SDK's own JSON one
where it reads only runbook/status.py) and a codec that raises: a user is told at once.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from runbook.settings import ConfigError

KEYS_VARIABLE = "RUNBOOK_ENCRYPTION_KEYS"
ENCRYPTED_ENCODING = b"binary/encrypted"
UNDECODABLE_ENCODING = b"binary/undecodable"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
# A reason is recorded in the procedure's status: a sender's bytes in it stay an excerpt.
REASON_CHARACTERS = 300
# Short enough that a base64 key pasted where the ID belongs can never pass as one, so no message
# that names an ID can leak a key.
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
_EXPECTED = f"expected {KEYS_VARIABLE}=ID:KEY[,ID:KEY...], KEY the base64 of 32 random bytes, the first encrypting"


class UndecryptablePayload(Exception):
    """An encrypted payload this process cannot read: its key is missing, or it was altered."""


def parse_keys(text: str) -> dict[str, bytes]:
    """Key ID → key, in the variable's order (the first encrypts). Messages never quote a key."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(text.split(","), start=1):
        key_id, separator, encoded = (part.strip() for part in entry.partition(":"))
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise ConfigError(
                f"{KEYS_VARIABLE}: entry {position} is not ID:KEY "
                f"with an ID of 1-32 letters, digits, '.', '_' or '-'; {_EXPECTED}"
            )
        if key_id in keys:
            raise ConfigError(f"{KEYS_VARIABLE}: key ID {key_id!r} is listed twice; {_EXPECTED}")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"{KEYS_VARIABLE}: key {key_id!r} is not the base64 of {KEY_BYTES} bytes (AES-256); {_EXPECTED}"
            )
        keys[key_id] = key
    return keys


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ConfigError(f"{KEYS_VARIABLE}: no key; {_EXPECTED}")
        # cryptography only once there are keys: see runbook/proof.py.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.encrypting_key_id = next(iter(keys))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> EncryptionCodec | None:
        text = environ.get(KEYS_VARIABLE, "").strip()
        return cls(parse_keys(text)) if text else None

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.encrypting_key_id
        # The key ID is authenticated too: relabelling a payload with another ID fails to decrypt.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            # Named only when it is an ID at all: anything else a sender put there is not repeated.
            named = repr(key_id) if _KEY_ID.fullmatch(key_id) else "(not a key ID)"
            raise UndecryptablePayload(
                f"payload encrypted with key ID {named}, which {KEYS_VARIABLE} does not hold "
                f"(it holds: {', '.join(self._ciphers)})"
            )
        from cryptography.exceptions import InvalidTag

        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            # Shorter than a nonce and a tag, AES-GCM would refuse the nonce with a ValueError.
            if len(sealed) < TAG_BYTES:
                raise InvalidTag
            return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        except (InvalidTag, DecodeError):
            raise UndecryptablePayload(
                f"payload encrypted with key ID {key_id!r} fails authentication: "
                "altered, or that ID now names another key"
            ) from None

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]


class WorkerEncryptionCodec(EncryptionCodec):
    """The worker's codec: the CLI is told at once that it cannot decrypt, but a worker decodes a
    workflow's whole activation at a time, and one payload it cannot decrypt (a signal under a key
    ID nobody holds) would fail every workflow task of that workflow from then on. So that payload
    goes on as an undecodable one, carrying the reason, for the handler to refuse."""

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt_or_undecodable(payload) for payload in payloads]

    def _decrypt_or_undecodable(self, payload: Payload) -> Payload:
        try:
            return self.decrypt(payload)
        except UndecryptablePayload as error:
            return Payload(metadata={"encoding": UNDECODABLE_ENCODING}, data=str(error).encode())


def encrypting(converter: DataConverter, codec: EncryptionCodec) -> DataConverter:
    return dataclasses.replace(
        converter, payload_codec=codec, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )


def data_converter(
    environ: Mapping[str, str] = os.environ, *, worker: bool = False, typed: bool = True
) -> DataConverter:
    """The pydantic converter, encrypting when RUNBOOK_ENCRYPTION_KEYS is set. A worker's reads a
    payload it cannot decrypt or parse as a refusal for the handler; a client's (the CLI's) raises,
    even for a value asked for untyped, so that its user is told. Not typed, a client's is the SDK's
    own JSON converter, for the commands that send plain JSON and read only runbook/status.py's
    dataclasses: they start without pydantic."""
    codec = (WorkerEncryptionCodec if worker else EncryptionCodec).from_environment(environ)
    plain = _worker_converter() if worker else _client_converter(typed)
    return plain if codec is None else encrypting(plain, codec)


def _worker_converter() -> DataConverter:
    # Deferred, as the pydantic converter is: runbook/worker_converter.py is built on it.
    from runbook.worker_converter import WORKER_DATA_CONVERTER

    return WORKER_DATA_CONVERTER


def _client_converter(typed: bool) -> DataConverter:
    if not typed:
        return DataConverter.default
    from temporalio.contrib.pydantic import pydantic_data_converter

    return pydantic_data_converter
