"""Four eyes that cannot be faked: with [approvals] require = "verified", a deployment's approval gate
takes a decision only with a proof that holds for its workflow, its decision, its person and now.

The proofs are made here as their signers make them: SSH signatures by `ssh-keygen -Y sign` itself
(so the workflow's check interoperates with OpenSSH), attestations with the sandbox's gateway seed.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from runbook import proof
from runbook.deployment import DeploymentResult
from runbook.integrations import sandbox_secret
from runbook.people import People
from runbook.status import HandlerOutcome, State
from runbook.temporal import connect
from starter.commands import deployment_request, launch_deployment
from tests.support import reach, status

VERIFIED = proof.ApprovalPolicy(
    require="verified",
    gateway_key=proof.public_key_text(proof.load_private_key(sandbox_secret("RUNBOOK_GATEWAY_KEY"), "gateway")),
)


class SshKey:
    """A key pair made by ssh-keygen, signing as `ssh-keygen -Y sign -n runbook` does."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", self.path], check=True)
        self.public = (directory / f"{name}.pub").read_text().strip()

    def sign(self, message: bytes) -> str:
        signed = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", "runbook", "-f", self.path, "-q"],
            input=message,
            capture_output=True,
            check=True,
        )
        return signed.stdout.decode()


def signed(payload: dict[str, Any], key: SshKey, workflow_id: str, decision: str, age=timedelta(0)) -> dict:
    claims = proof.unsigned("ssh", datetime.now(UTC) - age, workflow_id=workflow_id, decision=decision)
    signature = key.sign(proof.statement(claims, payload))
    return {**payload, "proof": proof.with_signature(claims, signature).model_dump(mode="json")}


def clicked(payload: dict[str, Any], slack_id: str, workflow_id: str, decision: str) -> dict:
    claims = proof.unsigned("slack", datetime.now(UTC), subject=slack_id, workflow_id=workflow_id, decision=decision)
    gateway = proof.load_private_key(sandbox_secret("RUNBOOK_GATEWAY_KEY"), "gateway")
    return {**payload, "proof": proof.attest(claims, payload, gateway).model_dump(mode="json")}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, SshKey]:
    directory = tmp_path_factory.mktemp("ssh")
    return {name: SshKey(directory, name) for name in ("alice", "bob", "stranger")}


@pytest.fixture
async def client(e2e_stack, healthy_fleet) -> Client:
    return await connect(e2e_stack.config)


async def test_the_approval_gate_takes_only_proofs_that_hold(client, e2e_stack, keys):
    config = e2e_stack.config
    people = People(
        {
            **config.people.root,
            "alice": config.people.root["alice"].model_copy(update={"ssh_keys": (keys["alice"].public,)}),
            "bob": config.people.root["bob"].model_copy(update={"ssh_keys": (keys["bob"].public,)}),
        }
    )
    request = deployment_request(
        config, "production", "v5.90.0", ["auth-svc"], "alice", no_checklist_reason="proofs only"
    ).model_copy(update={"people": people, "approvals": VERIFIED})
    handle = await launch_deployment(client, config, "deployment", request)
    await reach(handle, "approval")
    wid = handle.id

    async def send(name: str, payload: dict) -> HandlerOutcome:
        return await handle.execute_update(name, payload, result_type=HandlerOutcome)

    approve = {"approver": "bob", "comment": "staging looks good"}
    altered = clicked(approve, "U0BOB000002", wid, "approve")
    altered["comment"] = "something else"
    good = signed({"approver": "bob", "reason": "checkout slow on staging"}, keys["bob"], wid, "reject")
    attempts = {
        "unsigned": await send("approve", approve),
        "for another workflow": await send("approve", signed(approve, keys["bob"], "deploy-elsewhere", "approve")),
        "for another decision": await send("approve", signed(approve, keys["bob"], wid, "reject")),
        "expired": await send("approve", signed(approve, keys["bob"], wid, "approve", timedelta(minutes=6))),
        "a key not in [people]": await send("approve", signed(approve, keys["stranger"], wid, "approve")),
        "the starter's own key": await send("approve", signed({"approver": "alice"}, keys["alice"], wid, "approve")),
        "altered after attesting": await send("approve", altered),
        "another person's click": await send("approve", clicked(approve, "U0DANA00004", wid, "approve")),
    }
    reasons = {what: outcome.reason for what, outcome in attempts.items() if not outcome.accepted}
    assert list(reasons) == list(attempts), f"taken: {set(attempts) - set(reasons)}"
    assert reasons["unsigned"].startswith("bob, unverified: [approvals] takes verified decisions only; sign it")
    assert f"runbook approve {wid} --key KEY" in reasons["unsigned"] and "click Approve in Slack" in reasons["unsigned"]
    assert "proof is for approve on deploy-elsewhere, not approve on " in reasons["for another workflow"]
    assert "proof is for reject on " in reasons["for another decision"]
    assert "proof expired: signed at " in reasons["expired"] and "valid for 5 minutes" in reasons["expired"]
    assert reasons["a key not in [people]"] == "bob: proof refused: not signed by an SSH key of bob in [people]"
    assert (
        reasons["the starter's own key"] == "alice started this deployment and cannot approve it: ask another approver"
    )
    assert "slack attestation does not verify with the gateway key" in reasons["altered after attesting"]
    assert "Slack user U0DANA00004 is not bob" in reasons["another person's click"]
    waiting = await status(handle)
    assert waiting.state == State.RUNNING and waiting.step == "approval"
    assert [r.reason for r in waiting.refusals] == list(reasons.values())

    assert (await send("reject", good)).accepted
    again = await send("reject", good)
    assert (
        not again.accepted
        and again.reason == "this proof was taken already: a signed decision counts once; sign it again"
    )
    outcome: DeploymentResult = await handle.result()
    assert outcome.state == State.REJECTED
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{keys['bob'].path}.pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert outcome.approval.verified == f"SSH key {fingerprint}"
    rejected = next(entry for entry in (await status(handle)).timeline if entry.event == "rejected")
    assert (rejected.actor, rejected.verified) == ("bob", f"SSH key {fingerprint}")
    assert base64.b64decode(fingerprint.removeprefix("SHA256:") + "=")  # as ssh-keygen -l prints it
