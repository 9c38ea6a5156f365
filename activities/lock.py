"""Acquire and release an environment's lock: from the CLI directly, from workflows as activities."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from runbook.lock import ACQUIRE_UPDATE, HOLDER_QUERY, LOCK_WORKFLOW, RELEASE_SIGNAL, lock_workflow_id
from runbook.models import LockGrant, LockQuery, LockRelease, LockRequest, LockState, PreemptRequest


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
    """The environment for a rollback, taken from a deployment in flight if need be: the lock
    passes first, naming whom it was taken from and why, then the deployment is cancelled. The
    deployment believes it was pre-empted only because its lock says so: a `preempt` signal,
    which anyone can send, proves nothing."""
    grant = await acquire_environment(
        client, task_queue, LockRequest(environment=request.environment, holder_id=request.holder_id, kind=request.kind)
    )
    if grant.granted or grant.holder is None or grant.holder.kind not in PREEMPTIBLE_KINDS:
        return grant
    takeover = LockRequest(
        environment=request.environment,
        holder_id=request.holder_id,
        kind=request.kind,
        take_over_from=grant.holder.id,
        reason=request.reason,
    )
    taken = await _request(client, task_queue, takeover)
    if taken.granted:
        await client.get_workflow_handle(grant.holder.id).cancel()
    return taken


async def environment_holder(client: Client, request: LockQuery) -> LockState:
    handle = client.get_workflow_handle(lock_workflow_id(request.environment))
    try:
        return await handle.query(HOLDER_QUERY, result_type=LockState)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return LockState()
        raise


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
    async def lock_holder(self, request: LockQuery) -> LockState:
        return await environment_holder(self._client, request)

    @activity.defn
    async def release_lock(self, request: LockRelease) -> LockRelease:
        await release_environment(self._client, request)
        return request
