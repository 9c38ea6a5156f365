"""Redeploy: a new deployment of a service's current revision, the Appendix's "Force new deployment
without changes" (new tasks of the same image, say after a secret or a dependency changed).

Lock the environment → read the service's deployments → tell Slack → force a new deployment →
wait for its rollout → health-check the service → tell Slack → append to the deployment log.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.ecs import EcsActivities
    from activities.health import HealthActivities
    from activities.lock import LockActivities
    from activities.records import RecordsActivities
    from runbook import search
    from runbook.appendix import EcsService, ServiceQuery
    from runbook.messages import redeploy as messages
    from runbook.models import LockRelease, LockRequest, RolloutRequest, ServiceHealthRequest
    from runbook.records import DeploymentRecord, ServiceChange
    from runbook.redeploy import ForceDeploymentRequest, RedeployRequest, RedeployResult
    from runbook.status import ProcedureStatus, State, StepRecord
    from workflows.options import QUICK, rollout_wait
    from workflows.procedure import Procedure

KIND = "redeploy"
STEPS = [
    "lock_environment",
    "read_service",
    "notify_started",
    "force_deployment",
    "wait_for_rollout",
    "check_health",
    "notify_finished",
    "record",
]


@workflow.defn(name="Redeploy")
class Redeploy:
    @workflow.init
    def __init__(self, request: RedeployRequest) -> None:
        self._request = request
        self._procedure = Procedure(KIND, request.environment, request.requested_by, STEPS)
        self._id = workflow.info().workflow_id
        self._reasons: list[str] = []
        self._deployment_id = ""

    @workflow.run
    async def run(self, request: RedeployRequest) -> RedeployResult:
        self._procedure.record(request.requested_by, "redeploy requested", request.reason)
        if not await self.lock_environment():
            return self._finish(State.REJECTED, None)
        try:
            service = await self.read_service()
            if service is None:
                return self._finish(State.FAILED, None)
            await self.notify_started(service)
            if await self.force_deployment(service) and await self.wait_for_rollout(service):
                await self.check_health()
            state = State.FAILED if self._reasons else State.COMPLETED
            await self.notify_finished(service, state)
            await self.record(service, state)
            return self._finish(state, service)
        finally:
            await workflow.execute_activity_method(
                LockActivities.release_lock,
                LockRelease(environment=request.environment, holder_id=self._id),
                **QUICK,
            )

    async def lock_environment(self) -> bool:
        """One change per environment: refused, naming the holder, while another procedure changes it."""
        async with self._procedure.step("lock_environment") as step:
            grant = await workflow.execute_activity_method(
                LockActivities.acquire_lock,
                LockRequest(environment=self._request.environment, holder_id=self._id, kind=KIND),
                **QUICK,
            )
            if not grant.granted and grant.holder:
                self._fail(
                    step, f"{self._request.environment} is being changed by {grant.holder.id} ({grant.holder.kind})"
                )
            return grant.granted

    async def read_service(self) -> EcsService | None:
        """The revision the service runs, and its PRIMARY deployment: what the new one replaces."""
        async with self._procedure.step("read_service") as step:
            service = await self._procedure.attempt(
                workflow.execute_activity_method(
                    EcsActivities.describe_ecs_service,
                    ServiceQuery(environment=self._request.environment, service=self._request.service),
                    **QUICK,
                ),
                self._failing(step),
            )
            if service is None:
                return None
            primary = service.primary
            if primary is None or primary.rollout_state == "IN_PROGRESS":
                # A second deployment on top of a rollout in flight would hide how that one ends.
                found = f"deployment {primary.id} is still rolling out" if primary else "no PRIMARY deployment"
                self._fail(step, f"{self._request.service}: {found}; wait for it")
                return None
            revision = service.revision
            step.detail = f"{revision.family}:{revision.revision} ({revision.version}), deployment {primary.id}"
            workflow.upsert_search_attributes([search.VERSION.value_set(revision.version)])
            return service

    async def notify_started(self, service: EcsService) -> None:
        async with self._procedure.step("notify_started"):
            await self._procedure.post(
                self._request.channel,
                messages.redeploy_started(
                    self._request.environment,
                    self._request.service,
                    service.revision,
                    self._request.reason,
                    self._request.requested_by,
                ),
            )

    async def force_deployment(self, service: EcsService) -> bool:
        async with self._procedure.step("force_deployment") as step:
            primary = service.primary
            forced = await self._procedure.attempt(
                workflow.execute_activity_method(
                    EcsActivities.force_new_deployment,
                    ForceDeploymentRequest(
                        environment=self._request.environment,
                        service=self._request.service,
                        task_definition_arn=service.revision.arn,
                        replaces_deployment=primary.id if primary else "",
                    ),
                    **QUICK,
                ),
                self._failing(step),
            )
            if forced is None:
                return False
            self._deployment_id = step.detail = forced.deployment_id
            self._procedure.record("runbook", f"{self._request.service} deployment {forced.deployment_id} started")
            return True

    async def wait_for_rollout(self, service: EcsService) -> bool:
        async with self._procedure.step("wait_for_rollout") as step:
            rollout = await self._procedure.attempt(
                workflow.execute_activity_method(
                    EcsActivities.wait_for_rollout,
                    RolloutRequest(
                        environment=self._request.environment,
                        service=self._request.service,
                        task_definition_arn=service.revision.arn,
                        timeout=self._request.rollout_timeout,
                    ),
                    **rollout_wait(self._request.rollout_timeout),
                ),
                self._failing(step),
            )
            if rollout is not None:
                step.detail = f"{rollout.state} in {rollout.seconds:.1f} s"
            return rollout is not None

    async def check_health(self) -> None:
        async with self._procedure.step("check_health") as step:
            health = await self._procedure.attempt(
                workflow.execute_activity_method(
                    HealthActivities.check_service_health,
                    ServiceHealthRequest(environment=self._request.environment, service=self._request.service),
                    **QUICK,
                ),
                self._failing(step),
            )
            if health is not None and not health.healthy:
                failing = "; ".join(f"{check.name} {check.reason}" for check in health.failures)
                self._fail(step, f"{self._request.service} unhealthy after the redeploy: {failing}")

    async def notify_finished(self, service: EcsService, state: State) -> None:
        async with self._procedure.step("notify_finished"):
            await self._procedure.post(
                self._request.channel,
                messages.redeploy_finished(
                    self._request.environment, self._request.service, service.revision, state, self._reasons
                ),
            )

    async def record(self, service: EcsService, state: State) -> None:
        async with self._procedure.step("record"):
            revision = service.revision
            change = ServiceChange(
                service=self._request.service,
                before_arn=revision.arn,
                before_version=revision.version,
                after_arn=revision.arn,
                after_version=revision.version,
                # Not "deployed": a rollback must never take a redeploy for the change that put this revision in.
                outcome="redeployed" if state == State.COMPLETED else "failed",
            )
            record = DeploymentRecord(
                id=self._id,
                kind=KIND,
                environment=self._request.environment,
                state=state.value,
                requested_by=self._request.requested_by,
                started_at=workflow.info().start_time,
                ended_at=workflow.now(),
                version=revision.version,
                reason=self._request.reason,
                changes=[change],
            )
            await workflow.execute_activity_method(RecordsActivities.write_record, record, **QUICK)

    def _fail(self, step: StepRecord, reason: str) -> None:
        self._reasons.append(reason)
        self._procedure.fail_step(step, [reason])

    def _failing(self, step: StepRecord) -> Callable[[str], None]:
        """A `failed` for `Procedure.attempt`: the step fails with the activity's reason."""
        return lambda why: self._fail(step, why)

    def _finish(self, state: State, service: EcsService | None) -> RedeployResult:
        result = RedeployResult(
            state=state,
            service=self._request.service,
            version=service.revision.version if service else "",
            revision=service.revision.revision if service else 0,
            deployment_id=self._deployment_id,
            reasons=self._reasons,
        )
        self._procedure.finish(state, result)
        return result

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        return self._procedure.status
