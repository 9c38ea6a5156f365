"""The worker SIGKILLed at an exact point of production's rollout (tests/faults/crashing_worker.py),
a fresh one started: the deployment completes, and its timeline says "<service> deployed to
production" exactly once per service changed, also when the worker died between a change and
its record (issue G, 7b).

Production's deployment, per service: prepare_revision → update_service → wait_for_rollout →
the timeline entry. The kill lands where a retry meets the change already made: after
wait_for_rollout saw the rollout COMPLETED but before it said so (retried once its heartbeat is
overdue).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from runbook.status import HandlerOutcome, State
from starter.commands import deployment_request, launch_deployment
from tests.faults.test_worker_crash import SERVICES
from tests.support import eventually, reach, start_worker, status, stop

CRASHING_WORKER = Path(__file__).parent / "crashing_worker.py"


async def attempts(handle: WorkflowHandle, activity: str) -> list[int]:
    """The attempt of every start of `activity` in the history, in order."""
    events = (await handle.fetch_history()).events
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


# Killed after wait_for_rollout saw the rollout COMPLETED: a change made, its record not yet. (The
# same after update_service waits out its 60 s start-to-close, which the suite cannot afford; ECS's
# one UpdateService per service after a kill is tests/faults/test_worker_crash.py's.)
@pytest.mark.parametrize(("activity", "version"), [("wait_for_rollout", "v8.7.2")])
async def test_a_worker_killed_after_a_change_leaves_one_deployed_entry_per_service(
    own_server,
    own_stack,
    tmp_path,
    activity,
    version,
):
    stack = own_stack
    assert {stack.running("production", service).version for service in SERVICES}.isdisjoint({version})
    log = tmp_path / "worker-1.log"
    first = start_worker({**stack.env, "RUNBOOK_CRASH_AT": f"{activity}:after:production"}, log, CRASHING_WORKER)
    second = None
    try:
        request = deployment_request(
            stack.config, "production", version, SERVICES, "alice", no_checklist_reason="crash test: the automated path"
        )
        handle = await launch_deployment(own_server.client, stack.config, "deployment", request)
        await reach(handle, "approval")
        approval = await handle.execute_update("approve", {"approver": "bob"}, result_type=HandlerOutcome)
        assert approval.accepted, approval.reason

        await eventually(lambda: first.poll() is not None, f"the worker killing itself after {activity}")
        assert first.returncode == -signal.SIGKILL, log.read_text(errors="replace")
        second = start_worker(stack.env, tmp_path / "worker-2.log")
        outcome = await asyncio.wait_for(handle.result(), timeout=150)
        final = await status(handle)  # answered by the fresh worker, from the whole history
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)

    assert outcome.state == State.COMPLETED, outcome.reasons
    assert {stack.running("production", service).version for service in SERVICES} == {version}
    # The kill landed where meant: one of production's calls was tried again.
    assert 2 in (await attempts(handle, activity)), await attempts(handle, activity)
    changed = [c for c in outcome.changes if c.after_version == version and c.before_version != version]
    assert Counter(c.service for c in changed) == Counter(SERVICES * 2)  # staging and production
    assert all(c.outcome == "deployed" for c in changed), changed
    deployed = Counter(e.event for e in final.timeline if e.event.endswith("deployed to production"))
    assert deployed == Counter(f"{service} deployed to production" for service in SERVICES), [
        e.event for e in final.timeline
    ]
