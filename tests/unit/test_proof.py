"""The pure check a workflow runs on a decision's proof (runbook/proof.py), without a server: the
edges of time, binding and trust that the end-to-end tests pass through only once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runbook import proof, statement
from runbook.config import load_config

PEOPLE = load_config().people
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
GATEWAY = Ed25519PrivateKey.generate()
CODEC = Ed25519PrivateKey.generate()
POLICY = proof.ApprovalPolicy(
    require="verified", gateway_key=proof.public_key_text(GATEWAY), codec_key=proof.public_key_text(CODEC)
)
PAYLOAD = {"approver": "bob", "comment": "staging looks good"}


def attested(kind: proof.ProofKind = "slack", *, at: datetime = NOW, **claims: str) -> proof.Proof:
    fields = {"subject": "U0BOB000002", "workflow_id": "deploy-1", "decision": "approve", **claims}
    key = CODEC if kind == "ui" else GATEWAY
    return proof.attest(proof.unsigned(kind, at, **fields), PAYLOAD, key)


def check(given: proof.Proof, policy: proof.ApprovalPolicy = POLICY, person: str = "bob") -> proof.Verification:
    return proof.verify(
        given, PAYLOAD, person=person, workflow_id="deploy-1", decision="approve", people=PEOPLE, policy=policy, now=NOW
    )


def test_a_signers_clock_a_little_ahead_is_taken_and_further_ahead_is_refused() -> None:
    assert check(attested(at=NOW + timedelta(seconds=59))).how == "Slack U0BOB000002"
    with pytest.raises(proof.ProofRefused, match="signed in the future"):
        check(attested(at=NOW + timedelta(minutes=2)))


def test_a_proof_is_good_for_its_validity_and_not_a_second_more() -> None:
    assert check(attested(at=NOW - timedelta(minutes=5))).verified
    with pytest.raises(proof.ProofRefused, match="proof expired: .* valid for 5 minutes"):
        check(attested(at=NOW - timedelta(minutes=5, seconds=1)))


def test_only_a_ui_login_may_leave_the_workflow_unnamed_and_never_name_another() -> None:
    unbound = {"subject": "bob", "workflow_id": "", "decision": ""}
    assert check(attested("ui", **unbound)).how == "UI login"
    with pytest.raises(proof.ProofRefused, match="proof is for a decision on no workflow"):
        check(attested("slack", **{**unbound, "subject": "U0BOB000002"}))
    with pytest.raises(proof.ProofRefused, match="not approve on deploy-1"):
        check(attested("ui", subject="bob", workflow_id="deploy-2"))


def test_each_attester_vouches_only_for_its_own_kind() -> None:
    # The codec server's key cannot pass for the gateway's: a leaked codec key forges no Slack click.
    forged = proof.attest(proof.unsigned("slack", NOW, subject="U0BOB000002", workflow_id="deploy-1",
                                         decision="approve"), PAYLOAD, CODEC)  # fmt: skip
    with pytest.raises(proof.ProofRefused, match="slack attestation does not verify with the gateway key"):
        check(forged)
    with pytest.raises(proof.ProofRefused, match="no gateway key in \\[approvals\\]"):
        check(attested(), proof.ApprovalPolicy(codec_key=POLICY.codec_key))


def test_an_attested_subject_must_be_the_persons_own() -> None:
    assert check(attested("pagerduty", subject="PBOB002")).how == "PagerDuty PBOB002"
    with pytest.raises(proof.ProofRefused, match="PagerDuty user PDANA04 is not bob"):
        check(attested("pagerduty", subject="PDANA04"))
    assert check(attested("ui", subject="BOB@skillancer.com")).how == "UI login"
    with pytest.raises(proof.ProofRefused, match="UI login 'carol' is not bob"):
        check(attested("ui", subject="carol"))


@pytest.mark.parametrize(
    "at",
    [NOW, NOW + timedelta(microseconds=123456), datetime(2026, 11, 30, 17, 0, tzinfo=timezone(timedelta(hours=2)))],
    ids=["whole seconds", "microseconds", "another offset"],
)
def test_the_clis_claims_are_the_bytes_the_workflow_checks(at):
    """The CLI signs claims made without pydantic (runbook/statement.py); a proof it sends is read
    into the model, whose statement must be the very bytes signed, or every SSH proof is refused."""
    sent = statement.claims("ssh", at, workflow_id="deploy-1", decision="approve")
    received = proof.Proof.model_validate({**sent, "signature": "x"})
    assert sent == received.model_dump(mode="json", exclude={"signature"})
    assert statement.statement(sent, PAYLOAD) == proof.statement(received, PAYLOAD)
    assert statement.statement(sent, PAYLOAD) == proof.statement(
        proof.unsigned("ssh", at, workflow_id="deploy-1", decision="approve"), PAYLOAD
    )
