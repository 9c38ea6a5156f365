"""An approval signed with the approver's SSH key, as a user gives it: `runbook approve ID --as bob
--key KEY`, bob's public key in [people]. It counts as bob's, and status says how it was verified;
a proof that is stale, made for another workflow, or signed by a key not in runbook.toml is refused
and the refusal recorded, whoever sends it (here: a client of Temporal's, as anyone may be)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runbook.status import HandlerOutcome
from runbook.temporal import connect
from starter import signing
from tests.conftest import Stack
from tests.support import procedure_status, wait_for

BOB = 'bob = { slack_id = "U0BOB000002", email = "bob@skillancer.com", pagerduty_id = "PBOB002" }'


def new_key(folder: Path, name: str) -> Path:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path], check=True)
    return path


def fingerprint(key: Path) -> str:
    return signing.fingerprint(signing.key_file_signer(str(key), "", "").public_key)


@dataclasses.dataclass
class Keys:
    bobs: Path
    strangers: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Keys:
    folder = tmp_path_factory.mktemp("ssh-keys")
    return Keys(bobs=new_key(folder, "bob"), strangers=new_key(folder, "stranger"))


@pytest.fixture(scope="module")
def with_bobs_key(e2e_stack, keys, tmp_path_factory) -> Stack:
    """The e2e stack, its CLI's runbook.toml listing bob's public key in [people]."""
    text = e2e_stack.config_path.read_text()
    assert BOB in text, "runbook.toml's bob changed; update this test"
    public = Path(f"{keys.bobs}.pub").read_text().strip()
    path = tmp_path_factory.mktemp("signed-approval") / "runbook.toml"
    path.write_text(text.replace(BOB, f"{BOB[:-2]}, ssh_keys = [{json.dumps(public)}] }}"))
    return dataclasses.replace(e2e_stack, env={**e2e_stack.env, "RUNBOOK_CONFIG": str(path)})


def proved(key: Path, payload: dict[str, Any], workflow_id: str, signed_at: datetime) -> dict[str, Any]:
    signer = signing.key_file_signer(str(key), "", "")
    return signing.signed_payload(signer, payload, workflow_id=workflow_id, decision="approve", signed_at=signed_at)


async def send_approval(stack: Stack, workflow_id: str, payload: dict[str, Any]) -> HandlerOutcome:
    handle = (await connect(stack.config)).get_workflow_handle(workflow_id)
    return await handle.execute_update("approve", payload, result_type=HandlerOutcome)


def test_an_approval_signed_with_the_approvers_ssh_key_counts_as_theirs(with_bobs_key, keys, healthy_fleet):
    stack = with_bobs_key
    version = f"v8.2.{uuid.uuid4().int % 100000}"
    started = stack.cli(
        "hotfix", "production", "--version", version, "--services", "notification-svc", "--as", "alice", "--json"
    )
    assert started.returncode == 0, started.stderr
    hotfix_id = json.loads(started.stdout)["id"]
    approval = {"approver": "bob", "comment": "checked the diff"}
    now = datetime.now(UTC)
    try:
        refusals = {
            "expired": proved(keys.bobs, approval, hotfix_id, now - timedelta(minutes=10)),
            "for another workflow": proved(keys.bobs, approval, f"{hotfix_id}-other", now),
            "a key not in runbook.toml": proved(keys.strangers, approval, hotfix_id, now),
        }
        outcomes = {name: asyncio.run(send_approval(stack, hotfix_id, sent)) for name, sent in refusals.items()}
        # The CLI will not even send what a key not in runbook.toml signs.
        stranger = stack.cli("approve", hotfix_id, "--as", "bob", "--key", str(keys.strangers))

        signed = stack.cli("approve", hotfix_id, "--as", "bob", "--key", str(keys.bobs), "--comment", "checked")
        status = procedure_status(stack, hotfix_id)
    finally:
        cancel(stack, hotfix_id)

    reasons = {name: outcome.reason for name, outcome in outcomes.items()}
    assert not any(outcome.accepted for outcome in outcomes.values()), reasons
    assert "proof expired" in reasons["expired"]
    assert f"not approve on {hotfix_id}" in reasons["for another workflow"]
    assert "not signed by an SSH key of bob" in reasons["a key not in runbook.toml"]
    recorded = [refusal.reason for refusal in status.refusals]
    for reason in reasons.values():
        assert any(reason[:60] in entry for entry in recorded), (reason, recorded)

    assert stranger.returncode == 2 and "is not one of bob's ssh_keys" in stranger.stderr
    assert len(status.refusals) == len(refusals), "the CLI sent what it refused"

    bobs = fingerprint(keys.bobs)
    assert signed.returncode == 0, signed.stderr
    assert f"approved by bob (signed with SSH key {bobs})" in signed.stdout
    assert status.details["approval"]["approver"] == "bob"
    assert status.details["approval"]["verified"] == f"SSH key {bobs}"
    shown = stack.cli("status", hotfix_id)
    assert re.search(rf"bob, SSH key {re.escape(bobs)}", shown.stdout), shown.stdout


def cancel(stack: Stack, workflow_id: str) -> None:
    """The hotfix ended, production left as it was: the next test deploys there."""
    stack.cli("cancel", workflow_id)
    wait_for(lambda: procedure_status(stack, workflow_id).state.value != "RUNNING", "the hotfix's end", 120)


def test_an_acknowledgement_signed_with_the_responders_ssh_key_counts_as_theirs(with_bobs_key, keys):
    stack = with_bobs_key
    declared = stack.cli("incident", "declare", "--severity", "P4", "--summary", "signed ack", "--as", "alice")
    assert declared.returncode == 0, declared.stderr
    incident_id = declared.stdout.splitlines()[0]
    try:
        acked = stack.cli("incident", "ack", incident_id, "--as", "bob", "--key", str(keys.bobs), "--note", "on it")
        status = procedure_status(stack, incident_id)
        shown = stack.cli("status", incident_id).stdout
    finally:
        stack.cli("incident", "resolve", incident_id, "--resolution", "r", "--root-cause", "c", "--as", "alice")

    bobs = fingerprint(keys.bobs)
    assert acked.returncode == 0, acked.stderr
    assert f"acknowledged by bob (signed with SSH key {bobs})" in acked.stdout
    assert status.details["incident"]["acknowledged"]["verified"] == f"SSH key {bobs}"
    assert f"bob, SSH key {bobs}" in shown, shown
