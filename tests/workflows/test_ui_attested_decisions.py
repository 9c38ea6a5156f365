"""A decision sent from the Temporal UI by a logged-in user, end to end: the stack's sandbox issues
the user's token, the codec server attests the payload at /encode as the UI sends it, and the
deployment's approval gate, with [approvals] require = "verified", takes it as "UI login".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.client import Client

from runbook.deployment import DeploymentResult
from runbook.status import HandlerOutcome, State
from runbook.temporal import connect
from starter.codec_server import CodecServer, ui_attester
from starter.commands import deployment_request, launch_deployment
from tests.badinput.test_codec_attestation import contents, encode, token
from tests.support import reach, server_url, serving, status


@pytest.fixture
async def client(e2e_stack, healthy_fleet) -> Client:
    return await connect(e2e_stack.config)


@pytest.fixture
def codec_url(e2e_stack) -> Iterator[str]:
    """The codec server as `make up` runs it without encryption keys: it attests the sandbox's logins."""
    server = CodecServer(0, None, set(), None, attester=ui_attester(e2e_stack.config, environ={}))
    with serving(server):
        yield server_url(server)


async def test_a_logged_in_ui_users_decision_counts_as_theirs_and_the_starters_does_not(client, e2e_stack, codec_url):
    config = e2e_stack.config
    verified = config.approvals.policy().model_copy(update={"require": "verified"})
    request = deployment_request(
        config, "production", "v5.91.0", ["auth-svc"], "alice", no_checklist_reason="UI logins only"
    ).model_copy(update={"approvals": verified})
    handle = await launch_deployment(client, config, "deployment", request)
    await reach(handle, "approval")

    def from_the_ui(login: str, payload: dict) -> dict:
        [attested] = contents(encode(codec_url, payload, bearer=token(e2e_stack.fleet_url, sub=login)))
        return attested

    async def send(name: str, payload: dict) -> HandlerOutcome:
        return await handle.execute_update(name, payload, result_type=HandlerOutcome)

    own = await send("approve", from_the_ui("alice", {"approver": "alice"}))
    assert not own.accepted
    assert own.reason == "alice started this deployment and cannot approve it: ask another approver"
    assert (await status(handle)).step == "approval"

    rejected = await send("reject", from_the_ui("bob", {"approver": "bob", "reason": "the UI says no"}))
    assert rejected.accepted, rejected.reason
    outcome: DeploymentResult = await handle.result()
    assert outcome.state == State.REJECTED
    assert outcome.approval.verified == "UI login"
    entry = next(entry for entry in (await status(handle)).timeline if entry.event == "rejected")
    assert (entry.actor, entry.verified) == ("bob", "UI login")
