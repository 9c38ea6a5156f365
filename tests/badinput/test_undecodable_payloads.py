"""Payloads that cannot even be read, sent as a signal and as an update to a Verification waiting for
its manual checklist: ciphertext under a key ID the worker does not hold, ciphertext too short to be
any, JSON nested 5,000 deep, bytes that are not JSON. Each must reach the handler as a refusal:
recorded in `status` with the reason, the update answered "refused", the procedure still running
and taking a good `check` afterwards, and no workflow task failed on the way.

Two real workers (worker.py processes) run them: the e2e stack's, without encryption, and one with
RUNBOOK_ENCRYPTION_KEYS on its own task queue. The payloads go out raw (temporalio's RawValue, by a
client without a codec), as `temporal workflow signal --input-meta ...` sends them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import NamedTuple

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import RawValue
from temporalio.converter import DataConverter

from runbook import search
from runbook.codec import KEYS_VARIABLE, data_converter
from runbook.config import RunbookConfig, load_config
from runbook.status import HandlerOutcome, ProcedureStatus, State, jsonable
from starter.commands import verification_request
from tests.conftest import stack_config_text, stack_environment
from tests.support import eventually, start_worker, stop
from workflows.verification import Verification

KEYS = f"2026-11:{base64.b64encode(secrets.token_bytes(32)).decode()}"
PATIENCE_S = 15.0  # for any one answer; a jammed workflow never gives one
GOOD_JSON = b'{"item": "user-can-log-in", "user": "mallory"}'


def json_payload(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


def encrypted(key_id: bytes, data: bytes) -> Payload:
    """What `temporal workflow signal --input-meta encoding=binary/encrypted --input-meta
    encryption-key-id=...` sends."""
    return Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": key_id}, data=data)


class Case(NamedTuple):
    worker: str  # "plain" or "encrypted"
    via: str  # "signal" or "update"
    name: str
    payload: Payload
    reason: str  # what the recorded refusal must say

    @property
    def id(self) -> str:
        return f"{self.worker}-{self.via}-{self.name}"


PAYLOADS = {
    "encrypted": [
        ("an unknown key ID", encrypted(b"bogus", GOOD_JSON), "key ID 'bogus'"),
        ("3 bytes of ciphertext under a held key ID", encrypted(b"2026-11", b"abc"), "fails authentication"),
    ],
    "plain": [
        ("JSON nested 5,000 deep", json_payload(b"[" * 5000 + b"]" * 5000), "recursion limit exceeded"),
        ("bytes that are not JSON", json_payload(b"{not json"), "Invalid JSON"),
    ],
}
CASES = [
    Case(worker, via, name, payload, reason)
    for worker, payloads in PAYLOADS.items()
    for name, payload, reason in payloads
    for via in ("signal", "update")
]


class Procedure(NamedTuple):
    raw: WorkflowHandle  # a client without a codec: sends payloads as they are
    reader: Client  # a client that reads what the procedure's worker writes
    converter: DataConverter


@pytest.fixture(scope="module")
async def encrypted_config(e2e_stack, temporal_env, tmp_path_factory) -> AsyncIterator[RunbookConfig]:
    """A second worker.py, with the keys, on its own task queue beside the e2e stack's."""
    folder = tmp_path_factory.mktemp("encrypted-worker")
    target = temporal_env.client.service_client.config.target_host
    sandbox = e2e_stack.config.sandbox
    path = folder / "runbook.toml"
    path.write_text(stack_config_text(target, f"encrypted-{uuid.uuid4()}", sandbox.fleet_port, sandbox.aws_port))
    process = start_worker({**stack_environment(path), KEYS_VARIABLE: KEYS}, folder / "worker.log")
    try:
        yield load_config(path)
    finally:
        stop(process)


@pytest.fixture(scope="module")
async def procedures(e2e_stack, temporal_env, encrypted_config) -> AsyncIterator[dict[str, Procedure]]:
    """A Verification per case, all started at once, on the case's worker."""
    plain: Client = temporal_env.client
    target = plain.service_client.config.target_host
    keyed = await Client.connect(
        target, namespace=plain.namespace, data_converter=data_converter({KEYS_VARIABLE: KEYS})
    )
    setups = {"plain": (e2e_stack.config, plain), "encrypted": (encrypted_config, keyed)}
    started: dict[str, Procedure] = {}
    for case in CASES:
        config, reader = setups[case.worker]
        request = verification_request(config, "staging", False, True, "alice")
        handle = await reader.start_workflow(
            Verification.run,
            request,
            id=f"verify-staging-undecodable-{uuid.uuid4().hex[:8]}",
            task_queue=config.temporal.task_queue,
            search_attributes=search.start_attributes("verification", "staging", request.services),
            execution_timeout=timedelta(minutes=10),
        )
        started[case.id] = Procedure(plain.get_workflow_handle(handle.id), reader, reader.data_converter)
    yield started
    for procedure in started.values():
        if (await procedure.raw.describe()).status == WorkflowExecutionStatus.RUNNING:
            await procedure.raw.terminate("undecodable payloads: test over")


async def status(procedure: Procedure) -> ProcedureStatus:
    return await procedure.reader.get_workflow_handle(procedure.raw.id).query(
        "status", result_type=ProcedureStatus, rpc_timeout=timedelta(seconds=PATIENCE_S)
    )


async def send(procedure: Procedure, case: Case) -> str:
    """What the sender was told: nothing for a signal; the handler's answer for an update."""
    if case.via == "signal":
        await procedure.raw.signal("check", RawValue(case.payload))
        return "signal sent"
    answer = await asyncio.wait_for(
        procedure.raw.execute_update("check", RawValue(case.payload), result_type=RawValue), PATIENCE_S
    )
    [outcome] = await procedure.converter.decode([answer.payload], [HandlerOutcome])
    return f"update answered accepted={outcome.accepted}: {outcome.reason}"


async def workflow_task_failures(procedure: Procedure) -> int:
    history = await procedure.raw.fetch_history()
    return sum(event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for event in history.events)


async def until(
    procedure: Procedure, ready: Callable[[ProcedureStatus], object], what: str, timeout: float = PATIENCE_S
) -> ProcedureStatus:
    async def probe() -> ProcedureStatus:
        return await status(procedure)

    return await eventually(probe, what, timeout, accept=ready)


async def checklist_ticked(procedure: Procedure) -> bool:
    """A good `check` afterwards is taken: the procedure goes on."""
    await procedure.reader.get_workflow_handle(procedure.raw.id).signal(
        "check", {"item": "user-can-log-in", "user": "bob"}
    )
    current = await until(procedure, lambda s: s.details["checklist"][0]["state"] != "pending", "the good check")
    return current.details["checklist"][0]["state"] == "passed"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_an_undecodable_payload_is_refused_and_recorded(procedures, case: Case, outcome_table):
    procedure = procedures[case.id]
    before = await until(procedure, lambda s: s.step == "manual_checklist", "at its manual checklist", timeout=90)
    observed: list[str] = []
    refusal = None
    try:
        observed.append(await send(procedure, case))
        after = await until(procedure, lambda s: len(s.refusals) > len(before.refusals), "the refusal recorded")
        refusal = after.refusals[-1]
        observed.append(f"refused and recorded: {refusal.reason}")
        observed.append("a good check then taken" if await checklist_ticked(procedure) else "a good check not taken")
    except Exception as error:  # what went wrong is the observation; the assertions below judge it
        observed.append(f"{type(error).__name__}: {error}")
    failures = await workflow_task_failures(procedure)
    observed.append(f"{failures} workflow task failures")
    outcome_table(
        "undecodable signals and updates",
        ("worker", "via", "payload", "expected refusal", "observed"),
        case.worker,
        case.via,
        case.name,
        case.reason,
        "; ".join(reversed(observed)),  # what became of the procedure first, then what was said
    )
    assert refusal is not None, observed
    assert refusal.handler == "check" and case.reason in refusal.reason, refusal
    assert refusal.reason.startswith("payload could not be read: ")
    if case.via == "update":
        assert observed[0].startswith("update answered accepted=False: payload could not be read: "), observed
    assert observed[-2:] == ["a good check then taken", "0 workflow task failures"], observed
    current = await status(procedure)
    assert current.state == State.RUNNING
    assert KEYS.split(":", 1)[1] not in json.dumps(jsonable(current))
