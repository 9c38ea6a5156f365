"""SSH signatures (SSHSIG, as `ssh-keygen -Y sign` and git's signed commits make them) over a
decision's statement, namespace "runbook": checked here against a person's public keys from
[people]. Ed25519 and RSA keys, the kinds the `sshsig` library verifies.
"""

from __future__ import annotations

import base64
import hashlib
from types import ModuleType
from typing import TYPE_CHECKING

from temporalio import workflow

if TYPE_CHECKING:
    import sshsig

NAMESPACE = "runbook"
KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


def _sshsig() -> ModuleType:
    """sshsig, and with it cryptography, imported where a key is used (not with the module: some
    30 ms of every command's start-up, which most commands do without) and always passed through
    Temporal's sandbox: a key in a workflow's input is checked while the input is decoded, inside the
    sandbox, where cryptography's compiled core cannot be imported afresh."""
    with workflow.unsafe.imports_passed_through():
        import sshsig as module
    return module


def parse_public_key(line: str) -> sshsig.PublicKey:
    """An OpenSSH public key line (`ssh-ed25519 AAAA… comment`), or ValueError saying what it must be."""
    try:
        return _sshsig().PublicKey.from_openssh_str(line)
    except Exception:  # the library raises whatever its parser meets: every one means the same
        raise ValueError(
            f"an OpenSSH public key line of type {' or '.join(KEY_TYPES)} (as in ~/.ssh/id_ed25519.pub)"
        ) from None


def key_blob(line: str) -> bytes:
    """The wire-format public key of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)."""
    return base64.b64decode(line.split()[1])


def fingerprint(blob: bytes) -> str:
    """SHA256:… of a wire-format public key, as `ssh-keygen -l` prints it. Computed from the bytes
    themselves: cryptography's serializers are not usable inside Temporal's workflow sandbox."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def verify(armored: str, message: bytes, public_keys: list[str]) -> str | None:
    """The fingerprint of the key among `public_keys` that signed `message`, or None: a bad,
    garbled or foreign signature is never an error, only not a proof."""
    for line in public_keys:
        try:
            key = parse_public_key(line)
            _sshsig().verify(message, armored, [key], namespace=NAMESPACE)
        except Exception:  # not this key; InvalidSignature, NotImplementedError, or garbage
            continue
        return fingerprint(key_blob(line))
    return None
