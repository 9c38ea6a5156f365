"""Who made a decision, proved: the statement a signer signs and the pure check a workflow runs.

A human decision (approve, reject, decide, acknowledge, mitigate) may carry a `proof`. Whoever
signs it signs one statement: the proof's kind, subject, time, workflow and decision, and every
other field of the payload as sent. So a proof cannot be moved to another workflow, another
decision or another comment, and it expires.

- `ssh`: the person's own SSH key (SSHSIG, the format of git's signed commits; namespace
  "runbook"), checked against their public keys in [people]. Made by the CLI.
- `slack`, `pagerduty`: the gateway checked the provider's request signature, then signed with its
  ed25519 key; the subject is the Slack or PagerDuty user ID, which must be the person's.
- `ui`: the codec server checked the Temporal UI user's OIDC token, then signed with its ed25519
  key; the subject is the token's subject or email, which must be the person's. The codec does not
  see which workflow or signal the payload is for, so it binds neither (README, "Who approved this?").

The check is deterministic (public keys from the workflow's input, the workflow's own clock), so it
runs inside the workflow and replays the same.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from runbook import ssh
from runbook.base import Model
from runbook.people import People
from runbook.statement import claims as statement_claims
from runbook.statement import statement as signed_statement

ProofKind = Literal["ssh", "slack", "pagerduty", "ui"]
# Which attestation key vouches for which kind: the gateway's for what came from Slack and
# PagerDuty, the codec server's for the UI. A leaked codec key cannot forge a Slack click.
ATTESTED_BY = {"slack": "gateway", "pagerduty": "gateway", "ui": "codec"}
# A signer's clock a little ahead of the server's is not a forgery.
CLOCK_SKEW = timedelta(minutes=1)
_SIGNATURE_LIMIT = 8192
ED25519_KEY_BYTES = 32


class Proof(Model):
    """`"proof"` in a decision's payload. Its own fields are signed with the rest of the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProofKind
    signed_at: datetime
    # The Slack or PagerDuty user ID, or the UI login's subject or email; "" for an SSH key.
    subject: str = Field("", max_length=320)
    workflow_id: str = Field("", max_length=1000)
    decision: str = Field("", max_length=50)
    signature: str = Field(min_length=1, max_length=_SIGNATURE_LIMIT)


class ApprovalPolicy(Model):
    """runbook.toml's [approvals], as a workflow needs it: public keys only."""

    model_config = ConfigDict(frozen=True)

    require: Literal["verified", "any"] = "any"
    proof_validity: timedelta = timedelta(minutes=5)
    # base64 of raw ed25519 public keys; "" trusts no attestation of that kind.
    gateway_key: str = ""
    codec_key: str = ""


class Verification(Model):
    """How a decision's author was verified, as status and the timeline show it: "bob, Slack U…"."""

    person: str
    how: str = "unverified"
    verified: bool = False

    def __str__(self) -> str:
        return f"{self.person}, {self.how}"


class ProofRefused(Exception):
    """A proof that does not hold, and why; the decision is refused and recorded."""


def statement(proof: Proof, payload: dict[str, Any]) -> bytes:
    """The exact bytes signed: canonical JSON of the proof's fields (but its signature) and the
    payload's fields (but the proof)."""
    return signed_statement(proof.model_dump(mode="json", exclude={"signature"}), payload)


def unsigned(
    kind: ProofKind, signed_at: datetime, *, subject: str = "", workflow_id: str = "", decision: str = ""
) -> Proof:
    """A proof's claims before signing: sign `statement(claims, payload)`, then `with_signature`."""
    claims = statement_claims(kind, signed_at, subject=subject, workflow_id=workflow_id, decision=decision)
    return Proof.model_validate({**claims, "signature": "-"})


# cryptography (and sshsig) are imported where a key is used, not with the module: some 30 ms of
# every command's start-up, and most commands (`runbook status`) neither sign, verify nor decrypt.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def with_signature(claims: Proof, signature: str) -> Proof:
    return claims.model_copy(update={"signature": signature})


def attest(claims: Proof, payload: dict[str, Any], private_key: Ed25519PrivateKey) -> Proof:
    """The gateway's or codec server's attestation of a decision it has verified itself."""
    signature = private_key.sign(statement(claims, payload))
    return with_signature(claims, base64.b64encode(signature).decode())


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The base64 public key runbook.toml's [approvals] lists for a private key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def load_private_key(text: str, variable: str) -> Ed25519PrivateKey:
    """An ed25519 private key from the environment: base64 of its 32-byte seed."""
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        seed = b""
    if len(seed) != ED25519_KEY_BYTES:
        raise ValueError(f"{variable}: expected the base64 of a 32-byte ed25519 seed")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed)


def check_public_key(text: str) -> str:
    """A base64 ed25519 public key as runbook.toml holds it, or ValueError saying what it must be."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != ED25519_KEY_BYTES:
        raise ValueError("an ed25519 public key: the base64 of 32 bytes")
    return text


def verify(
    proof: Proof,
    payload: dict[str, Any],
    *,
    person: str,
    workflow_id: str,
    decision: str,
    people: People,
    policy: ApprovalPolicy,
    now: datetime,
) -> Verification:
    """The proof holds for `person` making `decision` on `workflow_id` at `now`, or ProofRefused."""
    if proof.signed_at - now > CLOCK_SKEW:
        raise ProofRefused(f"proof signed in the future ({proof.signed_at.isoformat()}); check the signer's clock")
    if now - proof.signed_at > policy.proof_validity:
        raise ProofRefused(
            f"proof expired: signed at {proof.signed_at.isoformat()}, valid for {_minutes(policy.proof_validity)}"
        )
    bound_elsewhere = (proof.workflow_id, proof.decision) != (workflow_id, decision)
    if bound_elsewhere and not (proof.kind == "ui" and not proof.workflow_id and not proof.decision):
        raise ProofRefused(
            f"proof is for {proof.decision or 'a decision'} on {proof.workflow_id or 'no workflow'},"
            f" not {decision} on {workflow_id}"
        )
    who = people.get(person)
    if who is None:
        raise ProofRefused(f"unknown person {person!r}")
    message = statement(proof, payload)
    if proof.kind == "ssh":
        fingerprint = ssh.verify(proof.signature, message, list(who.ssh_keys))
        if fingerprint is None:
            raise ProofRefused(f"not signed by an SSH key of {person} in [people]")
        return Verification(person=person, how=f"SSH key {fingerprint}", verified=True)
    _check_attestation(proof, message, policy)
    if proof.kind == "slack":
        if not who.slack_id or proof.subject != who.slack_id:
            raise ProofRefused(f"Slack user {proof.subject} is not {person} (their Slack ID: {who.slack_id or 'none'})")
        return Verification(person=person, how=f"Slack {proof.subject}", verified=True)
    if proof.kind == "pagerduty":
        if not who.pagerduty_id or proof.subject != who.pagerduty_id:
            raise ProofRefused(
                f"PagerDuty user {proof.subject} is not {person} (their PagerDuty ID: {who.pagerduty_id or 'none'})"
            )
        return Verification(person=person, how=f"PagerDuty {proof.subject}", verified=True)
    if not people.is_login_of(person, proof.subject):
        raise ProofRefused(f"UI login {proof.subject!r} is not {person}")
    return Verification(person=person, how="UI login", verified=True)


def _check_attestation(proof: Proof, message: bytes, policy: ApprovalPolicy) -> None:
    signer = ATTESTED_BY[proof.kind]
    key_text = policy.gateway_key if signer == "gateway" else policy.codec_key
    if not key_text:
        raise ProofRefused(f"no {signer} key in [approvals]: {proof.kind} attestations are not trusted")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        signature = base64.b64decode(proof.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text)).verify(signature, message)
    except (binascii.Error, ValueError, InvalidSignature):
        raise ProofRefused(f"{proof.kind} attestation does not verify with the {signer} key in [approvals]") from None


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"


_CLI = {
    "approve": "runbook approve {id}",
    "reject": "runbook reject {id} --reason TEXT",
    "decide": "runbook decide {id} rollback|continue",
    "acknowledge": "runbook incident ack {id}",
    "mitigate": "runbook incident mitigate {id} ...",
}
_BUTTON = {"approve": "Approve", "reject": "Reject", "decide": "Roll back or Continue", "acknowledge": "Acknowledge"}


def how_to_prove(decision: str, workflow_id: str) -> str:
    """What a refused, unproved decision tells its sender to do instead."""
    command = _CLI.get(decision, "runbook ...").format(id=workflow_id)
    ways = [
        f"sign it with your SSH key (`{command} --key KEY`, RUNBOOK_SSH_KEY or ssh-agent; the key listed in [people])"
    ]
    if decision in _BUTTON:
        ways.append(f"click {_BUTTON[decision]} in Slack")
    if decision == "acknowledge":
        ways.append("acknowledge in PagerDuty")
    ways.append("or send it from the Temporal UI with a login")
    return ", ".join(ways)
