"""The SSH signature check runs where workflows run: in Temporal's workflow sandbox, which imports
afresh whatever a call imports late. cryptography's compiled core imports Python modules as it
works (to verify, to print a key); imported afresh inside the sandbox, that core fails the workflow
task ("bad argument to internal function") or aborts the worker's process outright. So a workflow
calls the check with its late imports passed through (workflow.unsafe.imports_passed_through), as
this one does: there it gives the signer's fingerprint, for ed25519 and RSA keys alike, and None
for a signature that does not hold."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from runbook import ssh
    from starter import signing

MESSAGE = b'{"runbook-decision":1}'


class Check(BaseModel):
    armored: str
    message: str
    public_keys: list[str]


@workflow.defn(sandboxed=True)
class CheckSignature:
    @workflow.run
    async def run(self, check: Check) -> str:
        with workflow.unsafe.imports_passed_through():  # cryptography imports late: see above
            return ssh.verify(check.armored, check.message.encode(), check.public_keys) or "none"


def new_key(folder: Path, kind: str) -> Path:
    path = folder / f"id_{kind}_{uuid.uuid4().hex[:8]}"
    bits = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", "", "-f", path], check=True)
    return path


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
async def test_the_check_gives_the_signers_fingerprint_inside_the_workflow_sandbox(temporal_env, tmp_path, kind):
    key, other = new_key(tmp_path, kind), new_key(tmp_path, kind)
    signer = signing.key_file_signer(str(key), "--key", "")
    armored = signing.sign(signer, MESSAGE)
    public, others = Path(f"{key}.pub").read_text().strip(), Path(f"{other}.pub").read_text().strip()
    queue = f"ssh-{uuid.uuid4()}"

    async with Worker(temporal_env.client, task_queue=queue, workflows=[CheckSignature]):

        async def checked(message: bytes, keys: list[str]) -> str:
            return await temporal_env.client.execute_workflow(
                CheckSignature.run,
                Check(armored=armored, message=message.decode(), public_keys=keys),
                id=f"ssh-check-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
                result_type=str,
            )

        assert await checked(MESSAGE, [others, public]) == signing.fingerprint(signer.public_key)
        assert await checked(MESSAGE.replace(b"1", b"2"), [public]) == "none"
        assert await checked(MESSAGE, [others]) == "none"
