"""Rollback Procedures (RUNBOOK.md): manual rollback, and the child that deployments and incidents run.

Lock the environment → plan each service's target revision → tell Slack → roll the services back
in parallel (update, wait for the rollout, health-check) → tell Slack → append to the deployment log.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.ecs import EcsActivities
    from activities.health import HealthActivities
    from activities.lock import LockActivities
    from activities.records import RecordsActivities
    from runbook.messages import rollback as messages
    from runbook.models import (
        HealthCheckRequest,
        HealthReport,
        LockRelease,
        PlanRequest,
        PreemptRequest,
        RollbackPlan,
        RollbackRequest,
        RollbackResult,
        ServiceHealthRequest,
        ServiceRollback,
        ServiceTarget,
    )
    from runbook.records import DeploymentRecord, ServiceChange
    from runbook.status import ProcedureStatus, State
    from workflows.options import QUICK
    from workflows.procedure import Procedure
    from workflows.steps import roll_out

STEPS = [
    "lock_environment",
    "plan",
    "notify_started",
    "roll_back_services",
    "verify_rollback",
    "notify_finished",
    "record",
]


@workflow.defn(name="Rollback")
class Rollback:
    @workflow.init
    def __init__(self, request: RollbackRequest) -> None:
        self._request = request
        self._procedure = Procedure("rollback", request.environment, request.requested_by, STEPS)
        self._holder = request.lock_holder or workflow.info().workflow_id

    @workflow.run
    async def run(self, request: RollbackRequest) -> RollbackResult:
        self._procedure.record(request.requested_by, "rollback requested", request.reason)
        if not await self.lock_environment():
            return self._finish(
                RollbackResult(
                    state=State.REJECTED, reason=request.reason, problems=[self._procedure.status.steps[0].detail]
                )
            )
        try:
            plan = await self.plan()
            if plan.problems:
                return self._finish(RollbackResult(state=State.FAILED, reason=request.reason, problems=plan.problems))
            await self.notify_started(plan)
            outcomes = await self.roll_back_services(plan)
            unhealthy = await self.verify_rollback()
            await self.notify_finished(outcomes, unhealthy)
            succeeded = all(outcome.succeeded for outcome in outcomes) and not unhealthy
            await self.record(plan, outcomes, succeeded)
            return self._finish(
                RollbackResult(
                    state=State.COMPLETED if succeeded else State.FAILED,
                    reason=request.reason,
                    services=outcomes,
                    unhealthy=unhealthy,
                )
            )
        finally:
            await self._release()

    async def lock_environment(self) -> bool:
        """Only one change per environment; a rollback pre-empts a deployment in flight."""
        async with self._procedure.step("lock_environment") as step:
            grant = await workflow.execute_activity_method(
                LockActivities.preempt_lock,
                PreemptRequest(
                    environment=self._request.environment,
                    holder_id=self._holder,
                    kind="rollback",
                    reason=self._request.reason,
                ),
                **QUICK,
            )
            if not grant.granted and grant.holder:
                self._procedure.fail_step(
                    step, [f"{self._request.environment} is being changed by {grant.holder.id} ({grant.holder.kind})"]
                )
            return grant.granted

    async def plan(self) -> RollbackPlan:
        async with self._procedure.step("plan") as step:
            plan = await workflow.execute_activity_method(
                EcsActivities.plan_rollback,
                PlanRequest(
                    environment=self._request.environment,
                    services=self._request.services,
                    version=self._request.version,
                    targets=self._request.targets,
                    whole_environment=self._request.whole_environment,
                ),
                **QUICK,
            )
            if plan.problems:
                self._procedure.fail_step(step, plan.problems)
            else:
                step.detail = "; ".join(f"{t.service} {t.current.version} → {t.target.version}" for t in plan.targets)
                for unchanged in plan.unchanged:
                    self._procedure.record("runbook", "left as it is", unchanged)
            return plan

    async def notify_started(self, plan: RollbackPlan) -> None:
        async with self._procedure.step("notify_started"):
            await self._notify(
                messages.rollback_started(
                    self._request.environment, plan, self._request.reason, self._request.requested_by
                )
            )

    async def roll_back_services(self, plan: RollbackPlan) -> list[ServiceRollback]:
        async with self._procedure.step("roll_back_services") as step:
            outcomes = await asyncio.gather(*(self._roll_back_one(target) for target in plan.targets))
            failures = [f"{o.service}: {o.detail}" for o in outcomes if not o.succeeded]
            if failures:
                self._procedure.fail_step(step, failures)
            return list(outcomes)

    async def _roll_back_one(self, target: ServiceTarget) -> ServiceRollback:
        outcome = ServiceRollback(
            service=target.service,
            from_version=target.current.version,
            to_version=target.target.version,
            from_revision=target.current.revision,
            to_revision=target.target.revision,
            outcome="unchanged" if target.current.arn == target.target.arn else "rolled_back",
        )

        def failed(why: str) -> None:
            outcome.outcome, outcome.detail = "failed", why

        health = await self._procedure.attempt(self._roll_back_and_check(target), failed)
        if health is not None and not health.healthy:
            outcome.outcome = "unhealthy"
            outcome.detail = "still unhealthy after rollback: " + "; ".join(
                f"{c.name} {c.reason}" for c in health.failures
            )
        self._procedure.record(
            "runbook",
            f"{target.service} {outcome.outcome}",
            f"{outcome.from_version} → {outcome.to_version} {outcome.detail}".strip(),
        )
        return outcome

    async def _roll_back_and_check(self, target: ServiceTarget) -> HealthReport:
        environment = self._request.environment
        await roll_out(environment, target.service, target.target.arn, self._request.rollout_timeout)
        return await workflow.execute_activity_method(
            HealthActivities.check_service_health,
            ServiceHealthRequest(environment=environment, service=target.service),
            **QUICK,
        )

    async def verify_rollback(self) -> list[str]:
        """RUNBOOK.md's "Verify Rollback": the whole environment's health check, as
        `health-check.sh production` runs it; what still fails, by check."""
        if not workflow.patched("verify-rollback"):
            self._procedure.skip("verify_rollback", "started before rollbacks were verified")
            return []
        async with self._procedure.step("verify_rollback") as step:
            report = await workflow.execute_activity_method(
                HealthActivities.check_health, HealthCheckRequest(environment=self._request.environment), **QUICK
            )
            unhealthy = [f"{check.name}: {check.reason}" for check in report.failures]
            if unhealthy:
                self._procedure.fail_step(
                    step, [f"{self._request.environment} still unhealthy: {u}" for u in unhealthy]
                )
            return unhealthy

    async def notify_finished(self, outcomes: list[ServiceRollback], unhealthy: list[str]) -> None:
        async with self._procedure.step("notify_finished"):
            summary = [(o.service, o.outcome, o.detail) for o in outcomes]
            await self._notify(
                messages.rollback_finished(
                    self._request.environment, summary, self._request.reason, self._request.requested_by, unhealthy
                )
            )

    async def record(self, plan: RollbackPlan, outcomes: list[ServiceRollback], succeeded: bool) -> None:
        async with self._procedure.step("record"):
            by_service = {target.service: target for target in plan.targets}
            changes = [
                ServiceChange(
                    service=o.service,
                    before_arn=by_service[o.service].current.arn,
                    before_version=o.from_version,
                    after_arn=by_service[o.service].target.arn,
                    after_version=o.to_version,
                    outcome=o.outcome,
                )
                for o in outcomes
            ]
            record = DeploymentRecord(
                id=workflow.info().workflow_id,
                kind="rollback",
                environment=self._request.environment,
                state=State.COMPLETED.value if succeeded else State.FAILED.value,
                requested_by=self._request.requested_by,
                started_at=workflow.info().start_time,
                ended_at=workflow.now(),
                version=self._request.version or "",
                reason=self._request.reason,
                changes=changes,
            )
            await workflow.execute_activity_method(RecordsActivities.write_record, record, **QUICK)

    async def _notify(self, text: str) -> None:
        await self._procedure.post(self._request.channel, text)

    async def _release(self) -> None:
        if self._request.lock_holder:
            return
        await workflow.execute_activity_method(
            LockActivities.release_lock,
            LockRelease(environment=self._request.environment, holder_id=self._holder),
            **QUICK,
        )

    def _finish(self, result: RollbackResult) -> RollbackResult:
        self._procedure.finish(result.state, result)
        return result

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        return self._procedure.status
