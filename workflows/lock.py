"""One change per environment at a time: a small workflow per environment that holds the lock.

Acquired with update-with-start (atomic on the server), released by the holder when it ends. A
holder that died without releasing is taken over by the next acquirer (see activities/lock.py).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from runbook.lock import ACQUIRE_UPDATE, HOLDER_QUERY, LOCK_WORKFLOW, RELEASE_SIGNAL
    from runbook.models import LockGrant, LockHolder, LockRelease, LockRequest, LockState

# Bounded history: a lock that has granted this many times starts afresh, carrying its holder.
GRANTS_PER_RUN = 200


@workflow.defn(name=LOCK_WORKFLOW)
class EnvironmentLock:
    @workflow.init
    def __init__(self, holder: LockHolder | None) -> None:
        self._holder = holder
        self._grants = 0

    @workflow.run
    async def run(self, holder: LockHolder | None) -> None:
        await workflow.wait_condition(lambda: self._grants >= GRANTS_PER_RUN and workflow.all_handlers_finished())
        workflow.continue_as_new(self._holder)

    @workflow.update(name=ACQUIRE_UPDATE)
    def acquire(self, request: LockRequest) -> LockGrant:
        free = self._holder is None or self._holder.id in (request.holder_id, request.take_over_from)
        if not free:
            return LockGrant(granted=False, holder=self._holder)
        if self._holder is None or self._holder.id != request.holder_id:
            self._holder = LockHolder(
                id=request.holder_id,
                kind=request.kind,
                since=workflow.now(),
                taken_from=self._holder.id if self._holder else "",
                reason=request.reason,
            )
            self._grants += 1
        return LockGrant(granted=True, holder=self._holder)

    @workflow.signal(name=RELEASE_SIGNAL)
    def release(self, request: LockRelease) -> None:
        if self._holder and self._holder.id == request.holder_id:
            self._holder = None

    @workflow.query(name=HOLDER_QUERY)
    def holder(self) -> LockState:
        return LockState(holder=self._holder)
