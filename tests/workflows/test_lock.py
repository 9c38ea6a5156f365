"""The environment lock on a real dev server: one holder at a time, a refusal that names the holder,
a release, and a take-over from a holder that ended without releasing. Its history is kept for
tests/workflows/test_replay.py."""

from __future__ import annotations

import uuid

from temporalio.worker import Worker

from activities.lock import acquire_environment, release_environment
from runbook.lock import lock_workflow_id
from runbook.models import LockRelease, LockRequest
from tests.conftest import keep_history
from workflows.lock import EnvironmentLock


async def test_one_holder_at_a_time_and_a_dead_holder_is_taken_over(temporal_env):
    client = temporal_env.client
    # An environment of this test's own: the session's stacks hold lock-staging and lock-production.
    environment = f"lock-test-{uuid.uuid4().hex[:8]}"
    queue = f"lock-{uuid.uuid4()}"
    handle = client.get_workflow_handle(lock_workflow_id(environment))

    def request(holder_id: str, kind: str = "deployment") -> LockRequest:
        return LockRequest(environment=environment, holder_id=holder_id, kind=kind)

    async with Worker(client, task_queue=queue, workflows=[EnvironmentLock]):
        # A holder that is a real, running workflow: the lock checks whether its holder still runs.
        first = await client.start_workflow(
            EnvironmentLock.run, None, id=f"deploy-{environment}-first", task_queue=queue
        )
        granted = await acquire_environment(client, queue, request(first.id))
        assert granted.granted and granted.holder.id == first.id
        assert (await acquire_environment(client, queue, request(first.id))).granted  # asked again: still its own

        refused = await acquire_environment(client, queue, request("rollback-second", "rollback"))
        assert not refused.granted and refused.holder.id == first.id

        await release_environment(client, LockRelease(environment=environment, holder_id="rollback-second"))
        held = (await handle.query(EnvironmentLock.holder)).holder
        assert held is not None and held.id == first.id  # not its to release
        await release_environment(client, LockRelease(environment=environment, holder_id=first.id))
        assert (await handle.query(EnvironmentLock.holder)).holder is None

        second = await acquire_environment(client, queue, request("deploy-second"))
        assert second.granted and second.holder.id == "deploy-second"
        # "deploy-second" is no running workflow: it died holding the lock, and the next one takes over.
        third = await acquire_environment(client, queue, request("rollback-third", "rollback"))
        assert third.granted and (third.holder.id, third.holder.kind) == ("rollback-third", "rollback")
        assert third.holder.taken_from == "deploy-second"

        await first.terminate("test over")
        await keep_history(handle, "environment_lock")
        await handle.terminate("test over")
