"""Every signal a long-lived procedure takes from the Temporal UI, sent with a bad payload: null,
the wrong type, 1 MB in a field, an unknown field. Each is refused and recorded in `status`, the
procedure keeps running and answering, and no workflow task fails; a good payload afterwards
still does what it says.

The procedures run on the e2e stack, by its worker: a Verification waiting for its manual
checklist, a StandardDeployment at its approval gate, a P1 Incident, an ActionItem before its due
date. The signals are raw, as the
UI sends them: plain JSON, no CLI in between.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from runbook import search
from runbook.action_items import ActionItem, ActionItemRequest
from runbook.incident import IncidentRequest
from runbook.severity import Severity
from runbook.status import ProcedureStatus, State, StepState
from starter.commands import deployment_request, launch_deployment, verification_request
from starter.incident import start_incident
from tests.support import status, until
from workflows.action_items import ActionItemFollowUp
from workflows.incident import Incident
from workflows.verification import Verification

ONE_MB = "x" * (1 << 20)
NOTHING = object()  # the signal sent with no payload at all


class Signal(NamedTuple):
    procedure: str
    name: str
    good: dict[str, Any]  # a payload the procedure would take
    text_field: str  # where the 1 MB goes


SIGNALS = [
    Signal(
        "verification", "check", {"item": "user-can-log-in", "user": "bob", "passed": True, "note": "logged in"}, "note"
    ),
    Signal("incident", "acknowledge", {"user": "bob", "note": "on it"}, "note"),
    Signal(
        "incident",
        "update",
        {"user": "alice", "status": "Mitigating", "action": "rolling back", "eta": "30 minutes"},
        "action",
    ),
    Signal(
        "incident",
        "mitigate",
        {"user": "alice", "action": "scale_up", "services": ["market-svc"], "reason": "CPU 97%"},
        "reason",
    ),
    Signal(
        "incident",
        "resolve",
        {"user": "alice", "resolution": "rolled back", "root_cause": "a bad build", "follow_up": ["alarm on CPU"]},
        "follow_up",
    ),
    Signal("incident", "severity", {"user": "alice", "severity": "P2", "reason": "fewer users hit"}, "reason"),
    Signal("deployment", "approve", {"approver": "bob", "comment": "staging looks good"}, "comment"),
    Signal("deployment", "reject", {"approver": "bob", "reason": "checkout slow on staging"}, "reason"),
    Signal("deployment", "decide", {"user": "bob", "action": "continue", "note": "p99 is fine"}, "note"),
    Signal("deployment", "preempt", {"by": "rollback-production-badinput", "reason": "incident rollback"}, "reason"),
    Signal("action-item", "done", {"user": "bob", "note": "alerts added in PR 412"}, "note"),
]


def first_field(signal: Signal) -> str:
    return next(iter(signal.good))


def oversized(signal: Signal) -> dict[str, Any]:
    value = [ONE_MB] if isinstance(signal.good[signal.text_field], list) else ONE_MB
    return {**signal.good, signal.text_field: value}


PAYLOADS: dict[str, Callable[[Signal], Any]] = {
    "no payload": lambda signal: NOTHING,
    "null": lambda signal: None,
    "a string": lambda signal: signal.good[first_field(signal)],
    "a number": lambda signal: 42,
    "a list": lambda signal: [signal.good],
    "a field of the wrong type": lambda signal: {
        **signal.good,
        first_field(signal): [signal.good[first_field(signal)]],
    },
    "1 MB in a field": oversized,
    "an unknown field": lambda signal: {**signal.good, "as_admin": True},
}

# What the refusal must say: refused for the payload's fault, not for the procedure's state.
REASONS: dict[str, Callable[[Signal], str]] = {
    "no payload": lambda signal: "got NoneType",
    "null": lambda signal: "got NoneType",
    "a string": lambda signal: "got str",
    "a number": lambda signal: "got int",
    "a list": lambda signal: "got list",
    "a field of the wrong type": lambda signal: f"{first_field(signal)}: Input should be a valid string",
    "1 MB in a field": lambda signal: "payload too large",
    "an unknown field": lambda signal: "unknown field 'as_admin'",
}

CASES = [(signal, payload) for signal in SIGNALS for payload in PAYLOADS]


def step_state(current: ProcedureStatus, name: str) -> StepState:
    return next(step.state for step in current.steps if step.name == name)


@pytest.fixture(scope="module")
async def procedures(e2e_stack, temporal_env) -> dict[str, WorkflowHandle]:
    """The four procedures, started at once; each test waits for its own to be where humans act."""
    client: Client = temporal_env.client
    config = e2e_stack.config
    verification = verification_request(config, "staging", False, True, "alice")
    deployment = deployment_request(
        config, "production", f"v6.0.{uuid.uuid4().int % 100000}", ["notification-svc"], "alice"
    )
    incident = IncidentRequest(
        severity=Severity.P1,
        summary="checkout failing (bad-input drill)",
        services=["market-svc"],
        declared_by="alice",
        channel=config.channels.incidents,
        known_services=config.services.names,
        policy=config.incidents,
        thresholds=config.thresholds,
    )
    item_id = f"INC-badinput-{uuid.uuid4().hex[:8]}-item-1"
    action_item = ActionItemRequest(
        item=ActionItem(id=item_id, text="alert on 5xx", owner="bob", due=datetime.now(UTC) + timedelta(days=14)),
        incident_id=item_id.removesuffix("-item-1"),
        incident_summary="checkout failing (bad-input drill)",
        environment="production",
        created_by="alice",
        channel=config.channels.incidents,
    )
    handles = {
        "verification": await client.start_workflow(
            Verification.run,
            verification,
            id=f"verify-staging-badinput-{uuid.uuid4().hex[:8]}",
            task_queue=config.temporal.task_queue,
            search_attributes=search.start_attributes("verification", "staging", verification.services),
            execution_timeout=timedelta(minutes=10),
        ),
        "deployment": await launch_deployment(client, config, "deployment", deployment),
        "incident": client.get_workflow_handle_for(Incident.run, await start_incident(client, config, incident)),
        "action-item": await client.start_workflow(
            ActionItemFollowUp.run,
            action_item,
            id=action_item.item.id,
            task_queue=config.temporal.task_queue,
            search_attributes=search.start_attributes("action-item", "production", ["market-svc"]),
        ),
    }
    yield handles
    for handle in handles.values():
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("bad-input signals: left running by a failed test")
        except RPCError:
            pass


WAITING = {
    "verification": ("at its manual checklist", lambda s: s.step == "manual_checklist"),
    "deployment": ("at its approval gate", lambda s: s.step == "approval"),
    "incident": ("assessed", lambda s: step_state(s, "assess") in (StepState.PASSED, StepState.FAILED)),
    "action-item": ("waiting for its due date", lambda s: s.step == "wait_until_due"),
}

# What a human decision would have changed: a bad payload must leave it as it was.
DECISIONS: dict[str, Callable[[ProcedureStatus], Any]] = {
    "verification": lambda s: [item["state"] for item in s.details["checklist"]],
    "deployment": lambda s: (s.step, s.details["approval"]),
    "incident": lambda s: {
        key: s.details["incident"][key] for key in ("severity", "acknowledged", "updates", "mitigations", "resolution")
    },
    "action-item": lambda s: s.details["action_item"]["done"],
}


@pytest.mark.parametrize(("signal", "payload"), CASES, ids=[f"{s.procedure}-{s.name}-{p}" for s, p in CASES])
async def test_a_bad_payload_is_refused_and_recorded(procedures, signal: Signal, payload: str, outcome_table):
    handle = procedures[signal.procedure]
    what, ready = WAITING[signal.procedure]
    before = await until(handle, ready, what, timeout=90)
    value = PAYLOADS[payload](signal)
    outcome = "NOT REFUSED: taken, or dropped unrecorded"
    try:
        await (handle.signal(signal.name) if value is NOTHING else handle.signal(signal.name, value))
    except RPCError as error:
        # The server may refuse a payload outright (blob size limit): then it never reached the
        # procedure, which must be as healthy as before.
        outcome = f"refused by the server: {error.message}"
        after = await status(handle)
        assert len(after.refusals) == len(before.refusals)
    else:
        # `status` is answered once the workflow has handled what arrived before the query.
        after = await until(
            handle,
            lambda s: len(s.refusals) > len(before.refusals) or s.state != State.RUNNING,
            f"refusing {payload}",
            timeout=5,
        )
        if len(after.refusals) > len(before.refusals):
            outcome = f"refused and recorded: {after.refusals[-1].reason}"
    finally:
        outcome_table(
            "signals with bad payloads",
            ("procedure", "signal", "payload", "outcome"),
            signal.procedure,
            signal.name,
            payload,
            outcome,
        )
    assert outcome.startswith("refused"), outcome
    if outcome.startswith("refused and recorded"):
        refusal = after.refusals[-1]
        assert refusal.handler == signal.name and len(refusal.payload) <= 200
        assert REASONS[payload](signal) in refusal.reason
        assert [entry.event for entry in after.timeline[len(before.timeline) :]] == [f"{signal.name} refused"]
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    # A handler that raised would fail its workflow task, retried again and again from then on.
    assert description.raw_description.pending_workflow_task.attempt <= 1
    assert after.state == State.RUNNING and ready(after), f"{signal.procedure} moved on: {after.step}"
    assert DECISIONS[signal.procedure](after) == DECISIONS[signal.procedure](before)


async def workflow_task_failures(client: Client, workflow_id: str) -> list[str]:
    """Across every run of the workflow (an incident may continue as new)."""
    failures = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        history = await client.get_workflow_handle(workflow_id, run_id=execution.run_id).fetch_history()
        failures += [
            f"{execution.run_id}: {event.workflow_task_failed_event_attributes.failure.message}"
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
    return failures


async def test_after_the_bad_payloads_good_ones_still_work_and_no_workflow_task_failed(
    procedures, temporal_env, e2e_stack
):
    client = temporal_env.client
    verification, deployment, incident = procedures["verification"], procedures["deployment"], procedures["incident"]
    for item in e2e_stack.config.verification.checklist:
        await verification.signal("check", {"item": item, "user": "bob"})
    await deployment.signal("reject", {"approver": "bob", "reason": "bad-input drill over"})
    await incident.signal("resolve", {"user": "alice", "resolution": "drill over", "root_cause": "none: a drill"})
    item = procedures["action-item"]
    await item.signal("done", {"user": "bob", "note": "drill over"})
    passed, rejected, resolved, done = await asyncio.wait_for(
        asyncio.gather(verification.result(), deployment.result(), incident.result(), item.result()), timeout=120
    )
    assert passed.passed, passed.reasons
    assert rejected.state == State.REJECTED and rejected.reasons == ["rejected by bob: bad-input drill over"]
    assert resolved.id == incident.id
    assert (done.done_by, done.note) == ("bob", "drill over")
    for handle in procedures.values():
        assert await workflow_task_failures(client, handle.id) == [], handle.id
