"""SSH signatures (SSHSIG, as `ssh-keygen -Y sign` and git's signed commits make them) over a
decision's statement, namespace "runbook": checked here against a person's public keys from
[people]. Ed25519 and RSA keys, the kinds the `sshsig` library verifies.
"""

from __future__ import annotations

import sshsig

NAMESPACE = "runbook"
KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


def parse_public_key(line: str) -> sshsig.PublicKey:
    """An OpenSSH public key line (`ssh-ed25519 AAAA… comment`), or ValueError saying what it must be."""
    try:
        return sshsig.PublicKey.from_openssh_str(line)
    except Exception:  # the library raises whatever its parser meets: every one means the same
        raise ValueError(
            f"an OpenSSH public key line of type {' or '.join(KEY_TYPES)} (as in ~/.ssh/id_ed25519.pub)"
        ) from None


def fingerprint(key: sshsig.PublicKey) -> str:
    """SHA256:… as `ssh-keygen -l` prints it."""
    return sshsig.ssh_public_key.ssh_key_fingerprint_sha256_str(key)


def verify(armored: str, message: bytes, public_keys: list[str]) -> str | None:
    """The fingerprint of the key among `public_keys` that signed `message`, or None: a bad,
    garbled or foreign signature is never an error, only not a proof."""
    allowed = []
    for line in public_keys:
        try:
            allowed.append(parse_public_key(line))
        except ValueError:
            continue
    try:
        signer = sshsig.verify(message, armored, allowed, namespace=NAMESPACE)
    except Exception:  # InvalidSignature, NotImplementedError, or a parser's error on garbage
        return None
    return fingerprint(signer)
