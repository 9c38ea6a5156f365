"""A decision signed by the person's own SSH key, as `ssh-keygen -Y sign -n runbook` signs a file
(SSHSIG, the format of git's signed commits), so that the workflow can check who decided.

The key is `--key PATH`, else RUNBOOK_SSH_KEY (a path), else the first identity in ssh-agent that
is one of the person's `ssh_keys` in [people]; with none, the decision goes unsigned ("unverified",
refused where [approvals] require = "verified"). A key file is signed with here, in-process (no
`ssh-keygen` per decision); the agent by its protocol over SSH_AUTH_SOCK. CLI-only: the workflows
verify (runbook/ssh.py) and never sign.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbook import statement
from runbook.ssh import NAMESPACE, fingerprint, key_blob
from starter.console import UsageError

# cryptography only for a key file: an unsigned decision or ssh-agent's signature does without it,
# and it is some 30 ms of `runbook approve`'s start-up (bench/cli_speed.py).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

HASH_ALGORITHM = b"sha512"
_ARMOR_WIDTH = 70  # as ssh-keygen wraps its signatures
# The SSH agent protocol (draft-miller-ssh-agent): messages and the flag asking RSA for SHA-512.
_AGENT_FAILURE = 5
_AGENT_REQUEST_IDENTITIES, _AGENT_IDENTITIES_ANSWER = 11, 12
_AGENT_SIGN_REQUEST, _AGENT_SIGN_RESPONSE = 13, 14
_AGENT_RSA_SHA2_512 = 4
_AGENT_TIMEOUT_SECONDS = 10.0  # an agent may ask its user to confirm a signature


@dataclass(frozen=True)
class Signer:
    """A key that signs as the person: its public key blob, and how it signs (an SSH signature blob)."""

    public_key: bytes
    sign: Callable[[bytes], bytes]


def _string(data: bytes) -> bytes:
    """An SSH wire-format string: its length (uint32, big-endian), then its bytes."""
    return struct.pack(">I", len(data)) + data


def signed_data(message: bytes) -> bytes:
    """What an SSHSIG signature covers: the namespace and the message's hash, never the message itself."""
    return (
        b"SSHSIG"
        + _string(NAMESPACE.encode())
        + _string(b"")
        + _string(HASH_ALGORITHM)
        + _string(hashlib.sha512(message).digest())
    )


def sign(signer: Signer, message: bytes) -> str:
    """The armored SSH signature of `message` (namespace "runbook"), as `ssh-keygen -Y sign` writes it."""
    blob = (
        b"SSHSIG"
        + struct.pack(">I", 1)
        + _string(signer.public_key)
        + _string(NAMESPACE.encode())
        + _string(b"")
        + _string(HASH_ALGORITHM)
        + _string(signer.sign(signed_data(message)))
    )
    text = base64.b64encode(blob).decode()
    lines = [text[start : start + _ARMOR_WIDTH] for start in range(0, len(text), _ARMOR_WIDTH)]
    return "\n".join(["-----BEGIN SSH SIGNATURE-----", *lines, "-----END SSH SIGNATURE-----"]) + "\n"


def signed_payload(
    signer: Signer, payload: dict[str, Any], *, workflow_id: str, decision: str, signed_at: datetime | None = None
) -> dict[str, Any]:
    """The payload as sent, with its proof: the signature binds it to this workflow, decision and
    time (now, unless a test needs an old proof)."""
    claims = statement.claims("ssh", signed_at or datetime.now(UTC), workflow_id=workflow_id, decision=decision)
    return {**payload, "proof": {**claims, "signature": sign(signer, statement.statement(claims, payload))}}


# A key file -------------------------------------------------------------------------------------


def key_file_signer(path: str, label: str, leave_out: str) -> Signer:
    """The private key in the file at `path`, or UsageError starting with `label` saying why not."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

    try:
        data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except OSError as error:
        raise UsageError(f"{label}: cannot read it: {error.strerror or error}") from None
    try:
        key = _load_private_key(data)
    except TypeError:  # cryptography's answer to an encrypted key read without its passphrase
        raise UsageError(f"{label}: encrypted; add it to ssh-agent (ssh-add) and {leave_out}") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(
            f"{label}: not a private key; give an OpenSSH private key file (e.g. ~/.ssh/id_ed25519, not its .pub)"
        ) from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        ed25519_key = key
        return Signer(_public_blob(key), lambda data: _string(b"ssh-ed25519") + _string(ed25519_key.sign(data)))
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key = key
        return Signer(
            _public_blob(key),
            lambda data: _string(b"rsa-sha2-512") + _string(rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA512())),
        )
    raise UsageError(f"{label}: an {_key_type(key)} key; sign with an ssh-ed25519 or ssh-rsa key")


def _load_private_key(data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    # Checking an RSA key's numbers costs nearly half a second; the key is the user's own file, and
    # a broken one only makes a signature the workflow refuses.
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return serialization.load_ssh_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    # Older RSA keys: BEGIN RSA PRIVATE KEY.
    return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)


def _key_type(key: Any) -> str:
    """The key's type as OpenSSH names it (ecdsa-sha2-nistp256), else as cryptography does."""
    from cryptography.hazmat.primitives import serialization

    try:
        line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (AttributeError, ValueError):
        return type(key).__name__
    return str(line.split()[0].decode())


def _public_blob(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return key_blob(line.decode())


# ssh-agent --------------------------------------------------------------------------------------


class _Reader:
    """Reads an agent's answer field by field; a short answer is AgentError, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise AgentError("a truncated answer from ssh-agent")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())


class AgentError(UsageError):
    """ssh-agent cannot be reached, refuses, or answers what the protocol does not: when it was
    asked to sign, the decision is not sent (exit 2)."""


def _agent_call(socket_path: str, request: bytes) -> _Reader:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(_AGENT_TIMEOUT_SECONDS)
        try:
            connection.connect(socket_path)
            connection.sendall(_string(request))
            length = struct.unpack(">I", _receive(connection, 4))[0]
            return _Reader(_receive(connection, length))
        except OSError as error:
            raise AgentError(f"ssh-agent at {socket_path}: {error.strerror or error}") from None


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise AgentError("ssh-agent closed the connection")
        data += chunk
    return data


def agent_identities(socket_path: str) -> list[bytes]:
    """The public keys ssh-agent holds."""
    answer = _agent_call(socket_path, bytes([_AGENT_REQUEST_IDENTITIES]))
    if answer.take(1)[0] != _AGENT_IDENTITIES_ANSWER:
        raise AgentError("ssh-agent did not list its keys")
    keys = []
    for _ in range(answer.uint32()):
        keys.append(answer.string())
        answer.string()  # the key's comment
    return keys


def agent_signer(socket_path: str, public_key: bytes) -> Signer:
    """ssh-agent signing with one of its keys (RSA with SHA-512, as ssh-keygen -Y sign asks)."""
    flags = _AGENT_RSA_SHA2_512 if public_key.startswith(_string(b"ssh-rsa")) else 0

    def agent_sign(data: bytes) -> bytes:
        request = bytes([_AGENT_SIGN_REQUEST]) + _string(public_key) + _string(data) + struct.pack(">I", flags)
        answer = _agent_call(socket_path, request)
        code = answer.take(1)[0]
        if code != _AGENT_SIGN_RESPONSE:
            refused = "refused to sign" if code == _AGENT_FAILURE else f"answered {code} to a signing request"
            raise AgentError(f"ssh-agent {refused} with {fingerprint(public_key)}")
        return answer.string()

    return Signer(public_key, agent_sign)


# Which key signs --------------------------------------------------------------------------------


def find_signer(key_option: str | None, person: str, person_keys: tuple[str, ...]) -> Signer | None:
    """The key that signs for `person`: --key, RUNBOOK_SSH_KEY, then an ssh-agent identity among
    their keys; None to send unsigned. A named key file that cannot sign for them is UsageError."""
    allowed = {key_blob(line) for line in person_keys}
    named = _named_key_file(key_option)
    if named is not None:
        path, label, leave_out = named
        signer = key_file_signer(path, label, leave_out)
        if signer.public_key not in allowed:
            raise UsageError(
                f"{label}: its key {fingerprint(signer.public_key)} is not one of {person}'s ssh_keys in [people];"
                f" add its public key there (ssh-keygen -y -f {path})"
            )
        return signer
    agent = os.environ.get("SSH_AUTH_SOCK", "")
    if not agent or not allowed:
        return None
    try:
        held = agent_identities(agent)
    except AgentError:
        return None  # no agent to ask is no key: unsigned, as without one
    return next((agent_signer(agent, key) for key in held if key in allowed), None)


def _named_key_file(key_option: str | None) -> tuple[str, str, str] | None:
    """The key file named by --key, else by RUNBOOK_SSH_KEY: its path, how it was named, and how not to name it."""
    if key_option is not None:
        return key_option, f"--key {key_option}", "leave out --key"
    variable = os.environ.get("RUNBOOK_SSH_KEY", "")
    if variable:
        return variable, f"RUNBOOK_SSH_KEY={variable}", "unset RUNBOOK_SSH_KEY"
    return None
