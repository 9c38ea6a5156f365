"""Acquire and release an environment's lock: from the CLI directly, from workflows as activities."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from runbook.lock import ACQUIRE_UPDATE, LOCK_WORKFLOW, RELEASE_SIGNAL, lock_workflow_id
from runbook.models import LockGrant, LockRelease, LockRequest, PreemptRequest


async def _request(client: Client, task_queue: str, request: LockRequest) -> LockGrant:
    # Called by name: the lock workflow's result (none) is never read.
    start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
        LOCK_WORKFLOW,
        None,
        id=lock_workflow_id(request.environment),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    return await client.execute_update_with_start_workflow(
        ACQUIRE_UPDATE, request, start_workflow_operation=start, result_type=LockGrant
    )


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return description.status == WorkflowExecutionStatus.RUNNING


async def acquire_environment(client: Client, task_queue: str, request: LockRequest) -> LockGrant:
    """Granted, or refused naming the running holder. A holder that ended without releasing
    (terminated, or its worker gone for good) no longer blocks anyone."""
    grant = await _request(client, task_queue, request)
    if grant.granted or grant.holder is None or await is_running(client, grant.holder.id):
        return grant
    return await _request(client, task_queue, request.model_copy(update={"take_over_from": grant.holder.id}))


# A rollback may pre-empt a deployment or hotfix; it never pre-empts another rollback.
PREEMPTIBLE_KINDS = ("deployment", "hotfix")


async def preempt_environment(client: Client, task_queue: str, request: PreemptRequest) -> LockGrant:
    """The environment for a rollback, taken from a deployment in flight if need be: the
    deployment gets a `preempt` signal with the reason (so its record says why), then is
    cancelled, and the lock passes at once."""
    grant = await acquire_environment(
        client, task_queue, LockRequest(environment=request.environment, holder_id=request.holder_id, kind=request.kind)
    )
    if grant.granted or grant.holder is None or grant.holder.kind not in PREEMPTIBLE_KINDS:
        return grant
    running = client.get_workflow_handle(grant.holder.id)
    await running.signal("preempt", {"by": request.holder_id, "reason": request.reason})
    await running.cancel()
    takeover = LockRequest(
        environment=request.environment, holder_id=request.holder_id, kind=request.kind, take_over_from=grant.holder.id
    )
    return await _request(client, task_queue, takeover)


async def release_environment(client: Client, request: LockRelease) -> None:
    await client.get_workflow_handle(lock_workflow_id(request.environment)).signal(RELEASE_SIGNAL, request)


class LockActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn
    async def acquire_lock(self, request: LockRequest) -> LockGrant:
        return await acquire_environment(self._client, self._task_queue, request)

    @activity.defn
    async def preempt_lock(self, request: PreemptRequest) -> LockGrant:
        return await preempt_environment(self._client, self._task_queue, request)

    @activity.defn
    async def release_lock(self, request: LockRelease) -> LockRelease:
        await release_environment(self._client, request)
        return request
