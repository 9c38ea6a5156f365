"""Standard Deployment and Hotfix Deployment (RUNBOOK.md), with the automatic rollback.

StandardDeployment.run and HotfixDeployment.run read as the runbook's procedures; the steps they
share live in DeploymentProcedure. A failure after anything changed rolls back exactly what this
deployment changed, unless database errors veto it (the decision matrix) or a rollback pre-empted
it (the pre-empting procedure owns the environment now).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cloudwatch import CloudWatchActivities
    from activities.ecs import EcsActivities
    from activities.github import GithubActivities
    from activities.health import HealthActivities
    from activities.lock import LockActivities
    from activities.mitigation import MitigationActivities
    from activities.records import RecordsActivities
    from runbook import deployment as policy
    from runbook.assessment import assess
    from runbook.buttons import approval_buttons, question_buttons
    from runbook.decision import Action, Assessment
    from runbook.deployment import (
        Approval,
        ApprovePayload,
        DecidePayload,
        DeploymentRequest,
        DeploymentResult,
        PreemptPayload,
        PrepareRevisionRequest,
        RejectPayload,
    )
    from runbook.incident import ScaleUpRequest
    from runbook.messages import deployment as messages
    from runbook.models import (
        DesiredCountRequest,
        HealthCheckRequest,
        LockHolder,
        LockQuery,
        LockRelease,
        LockRequest,
        MetricsRequest,
        RollbackRequest,
        ServiceHealthRequest,
        SlackButton,
        SlackSettled,
    )
    from runbook.prerequisites import PrerequisiteRequest
    from runbook.records import DeploymentRecord, ServiceChange, VerifiedQuery
    from runbook.status import ProcedureStatus, State, StepRecord
    from runbook.verification import (
        ChecklistItem,
        CheckPayload,
        VerificationRequest,
        VerificationResult,
        failed_on_no_data_alone,
    )
    from workflows.checklist import ManualChecklist
    from workflows.options import QUICK
    from workflows.procedure import Procedure, Refused, failure_text, human_decision, raise_if_cancelled
    from workflows.rollback import Rollback
    from workflows.steps import observe_services, roll_out, young_for
    from workflows.verification import Verification

STEPS = [
    "lock_environment",
    "prerequisites",
    "notify_team",
    "verify_staging_health",
    "deploy_staging",
    "verify_staging",
    "approval",
    "deploy_production",
    "monitor",
    "verify_production",
    "checklist",
    "automatic_rollback",
    "record",
    "notify_completion",
]
PRODUCTION_ONLY = ["approval", "deploy_production", "monitor", "verify_production", "checklist"]
STAGING_STEPS = ["verify_staging_health", "deploy_staging", "verify_staging"]


class Halt(Exception):
    """The runbook says stop here: the state to end in and why. `only` narrows a rollback;
    `no_data` says the only reason is figures nobody could observe, which never rolls back."""

    def __init__(
        self, state: State, reasons: list[str], only: list[str] | None = None, *, no_data: bool = False
    ) -> None:
        super().__init__("; ".join(reasons))
        self.state, self.reasons, self.only, self.no_data = state, reasons, only, no_data


class DeploymentProcedure:
    kind = "deployment"
    first_check = "prerequisites"
    # A hotfix is approved "immediately": its approval may come before the gate is reached.
    approves_early = False

    @workflow.init
    def __init__(self, request: DeploymentRequest) -> None:
        self._request = request
        steps = [self.first_check if step == "prerequisites" else step for step in STEPS]
        self._procedure = Procedure(
            self.kind, request.environment, request.requested_by, steps, request.people, request.approvals
        )
        self._id = workflow.info().workflow_id
        self._held: list[str] = []
        self._changes: dict[str, list[ServiceChange]] = {}
        self._approval: Approval | None = None
        self._decision: DecidePayload | None = None
        self._decided_how = ""
        # Messages whose buttons wait for a decision, by what they ask: "approval", "question".
        self._asking: dict[str, list[SlackSettled]] = {}
        # Whoever took an environment's lock from this deployment, as the lock tells it.
        self._preempted: LockHolder | None = None
        self._vetoed = False
        self._scaled: set[str] = set()
        self._alerted: set[str] = set()
        self._last_assessment: Assessment | None = None
        # A question put to a human by the monitor (investigate, consider rollback): answer due by.
        self._question_deadline: datetime | None = None
        self._question_about = ""
        # ... and whether it is about figures nobody could observe, and nothing else.
        self._question_no_data_only = False
        # When each environment's change went live: what verification and monitoring judge starts there.
        self._live_since: dict[str, datetime] = {}
        # The runbook's "Verify key user flows", ticked with `check` after production's automated checks.
        self._checklist = ManualChecklist(self._procedure, request.production_verification.checklist)
        self._flows_asked_about: set[str] = set()
        self._unconfirmed: list[str] = []
        self._desired: dict[str, int] = {}
        self._staging_verified: bool | None = None
        if request.environment == request.staging_environment:
            for step in PRODUCTION_ONLY:
                self._procedure.skip(step, "staging-only deployment")

    # The procedure ---------------------------------------------------------------------------

    async def _carry_out(self, procedure: Callable[[], Awaitable[None]]) -> DeploymentResult:
        reasons: list[str] = []
        only: list[str] | None = None
        no_data = False
        try:
            await procedure()
            state = State.COMPLETED
        except Halt as halt:
            state, reasons, only, no_data = halt.state, halt.reasons, halt.only, halt.no_data
        except (asyncio.CancelledError, CancelledError):
            state, reasons = State.CANCELLED, [await self._why_cancelled()]
        except (ActivityError, ChildWorkflowError) as error:
            if isinstance(error.cause, CancelledError):
                state, reasons = State.CANCELLED, [await self._why_cancelled()]
            else:
                # Retries exhausted somewhere the runbook has no special word for: a failed
                # deployment (rolled back below), never a failed workflow.
                state, reasons = State.FAILED, [f"{self._procedure.status.step}: {failure_text(error)}"]
        rollback_id = ""
        if state in (State.FAILED, State.CANCELLED) and self._changed() and not self._preempted:
            if self._vetoed:
                reasons.append("automatic rollback vetoed: database errors (decision matrix); investigate")
                await self._notify(
                    messages.alert(self._request, "failed; NOT rolled back because of database errors: investigate")
                )
            elif no_data:
                reasons.append("not rolled back: no data alone never rolls back (decision matrix); investigate")
                await self._notify(
                    messages.alert(
                        self._request,
                        f"failed on figures nobody could observe; NOT rolled back: investigate, "
                        f"`runbook rollback {self._request.environment} ...` if it must go",
                    )
                )
            else:
                state, rollback_id, more = await self.automatic_rollback("; ".join(reasons), only)
                reasons += more
        result = DeploymentResult(
            state=state,
            version=self._request.version,
            environment=self._request.environment,
            reasons=reasons,
            changes=[change for changes in self._changes.values() for change in changes],
            approval=self._approval,
            rollback_id=rollback_id,
            unconfirmed=self._unconfirmed,
        )
        await self.record(result)
        await self.notify_completion(result)
        await self._release_all()
        self._procedure.finish(state, result)
        return result

    async def lock_environment(self) -> None:
        async with self._procedure.step("lock_environment") as step:
            await self._lock(self._request.environment, step)

    async def notify_team(self) -> None:
        async with self._procedure.step("notify_team"):
            await self._notify(messages.announcement(self.kind, self._id, self._request))

    async def verify_staging_health(self) -> None:
        async with self._procedure.step("verify_staging_health") as step:
            await self._lock(self._request.staging_environment, step)
            report = await workflow.execute_activity_method(
                HealthActivities.check_health,
                HealthCheckRequest(environment=self._request.staging_environment, full=True),
                **QUICK,
            )
            if not report.healthy:
                self._halt(
                    step,
                    State.FAILED,
                    [f"staging unhealthy before deploying: {c.name} ({c.reason})" for c in report.failures],
                )

    async def deploy_staging(self) -> None:
        await self._deploy(self._request.staging_environment, "deploy_staging")

    async def verify_staging(self) -> None:
        async with self._procedure.step("verify_staging") as step:
            result = await self._verify(self._request.staging_verification, "staging")
            self._staging_verified = result.passed
            if not result.passed:
                self._verification_failed(step, result, "staging")
        if self._request.environment != self._request.staging_environment:
            await self._release(self._request.staging_environment)

    async def approval(self) -> None:
        async with self._procedure.step("approval") as step:
            deadline = workflow.now() + self._request.approval_timeout
            if self._approval is None and workflow.patched("decision-buttons"):
                await self._ask("approval", messages.approval_reminder(self._id, self._request, "(Send a Signal)"))
            while self._approval is None and workflow.now() < deadline:
                try:
                    await workflow.wait_condition(
                        lambda: self._approval is not None,
                        timeout=min(self._request.approval_reminder_every, deadline - workflow.now()),
                    )
                except TimeoutError:
                    if workflow.now() < deadline:
                        self._procedure.record("runbook", "approval reminder", self._request.channel)
                        await self._ask(
                            "approval", messages.approval_reminder(self._id, self._request, "(Send a Signal)")
                        )
            approval = self._approval
            await self._settle("approval", messages.approval_outcome(approval, self._request))
            if approval is None:
                self._halt(
                    step, State.EXPIRED, [f"no approval within {self._request.approval_timeout}; production untouched"]
                )
            if not approval.approved:
                self._halt(step, State.REJECTED, [f"rejected by {approval.approver}: {approval.comment}"])
            step.detail = f"approved by {approval.approver} ({approval.verified or 'unverified'})" + (
                f": {approval.comment}" if approval.comment else ""
            )

    async def deploy_production(self) -> None:
        await self._deploy(self._request.environment, "deploy_production")

    async def monitor(self) -> None:
        """Watch production for the window: the decision matrix applied, not just displayed, and
        never paused while a human is asked; past the window while a question is open."""
        async with self._procedure.step("monitor") as step:
            if workflow.patched("judge-since-live"):
                await self._until_the_window_spans_a_period()
            end = workflow.now() + self._request.monitor_window
            while True:
                await self._act_on(await self._assess(), step)
                if workflow.now() >= end and self._question_deadline is None:
                    break
                await self._until_next_look(end)
                await self._take_the_answer(step)

    async def verify_production(self) -> None:
        async with self._procedure.step("verify_production") as step:
            result = await self._verify(self._request.production_verification, "production")
            if not result.passed:
                self._verification_failed(step, result, "production")

    async def checklist(self) -> None:
        """The runbook's Post-Deployment "Verify key user flows": people tick each flow with
        `check`, reminded in #deployments until the deadline. A failed flow asks for a human
        `decide` (roll back or continue); a flow nobody confirmed by the deadline is reported in
        #deployments and in the result, never a rollback by itself."""
        if not workflow.patched("post-deployment-checklist"):
            self._procedure.skip("checklist", "not part of deployments started before the checklist was")
            return
        if self._request.no_checklist_reason:
            self._procedure.skip(
                "checklist", f"--no-checklist by {self._request.requested_by}: {self._request.no_checklist_reason}"
            )
            self._procedure.record(self._request.requested_by, "checklist skipped", self._request.no_checklist_reason)
            return
        async with self._procedure.step("checklist") as step:
            verification = self._request.production_verification
            self._decision = None  # a `continue` given to the monitor answers nothing here
            self._checklist.open(verification.deadline, verification.reminder_every)
            await self._notify(messages.checklist_opened(self._id, self._request))
            while True:
                await self._take_the_answer(step)
                newly_failed = [i for i in self._checklist.failed() if i.name not in self._flows_asked_about]
                if newly_failed:
                    await self._ask_about_failed_flows(newly_failed)
                if self._checklist.is_open():
                    await self._checklist.wait(
                        verification.reminder_every,
                        self._remind_of_the_flows,
                        interrupted=self._flow_failed_or_answered,
                        wake_by=self._question_deadline,
                    )
                elif self._question_deadline is not None:
                    try:
                        await workflow.wait_condition(
                            lambda: self._decision is not None, timeout=self._question_deadline - workflow.now()
                        )
                    except TimeoutError:
                        pass
                else:
                    break
            self._unconfirmed = [item.name for item in self._checklist.pending()]
            for item in self._checklist.pending():
                item.note = "nobody confirmed it before the deadline"
            failed = [f"{i.name} failed ({i.by}: {i.note or 'no note'})" for i in self._checklist.failed()]
            unconfirmed = [f"nobody confirmed {', '.join(self._unconfirmed)}"] if self._unconfirmed else []
            step.detail = "; ".join(failed + unconfirmed) or "every key user flow confirmed"
            if self._unconfirmed:
                self._procedure.record("runbook", "checklist deadline", ", ".join(self._unconfirmed))
                await self._notify(messages.checklist_unconfirmed(self._id, self._request, self._unconfirmed))

    async def _ask_about_failed_flows(self, failed: list[ChecklistItem]) -> None:
        """A failed key user flow: roll back or continue is a human's call, asked in #deployments."""
        self._flows_asked_about.update(item.name for item in failed)
        about = "; ".join(f"checklist {i.name} failed ({i.by}: {i.note or 'no note'})" for i in failed)
        self._decision = None
        self._question_deadline = workflow.now() + self._request.decision_timeout
        self._question_about, self._question_no_data_only = about, False
        self._procedure.record("runbook", "alert", about)
        await self._ask(
            "question",
            messages.alert(
                self._request, f"{about}. Decide: `runbook decide {self._id} rollback|continue` or signal `decide`"
            ),
            question_buttons(self._id),
        )

    def _flow_failed_or_answered(self) -> bool:
        newly_failed = any(i.name not in self._flows_asked_about for i in self._checklist.failed())
        return newly_failed or (self._question_deadline is not None and self._decision is not None)

    async def _remind_of_the_flows(self, pending: list[str]) -> None:
        text = messages.checklist_reminder(self._id, self._request, pending)
        if await self._procedure.post(self._request.channel, text):
            self._procedure.record("runbook", "reminder sent", ", ".join(pending))

    async def automatic_rollback(self, reason: str, only: list[str] | None) -> tuple[State, str, list[str]]:
        """Every service this deployment changed goes back to the revision it replaced."""
        async with self._procedure.step("automatic_rollback") as step:
            rollback_ids, problems, warnings = [], [], []
            for environment in self._rollback_order():
                changes = [
                    c
                    for c in self._changes[environment]
                    if c.outcome != "unchanged" and (only is None or c.service in only)
                ]
                if not changes:
                    continue
                child_id = f"{self._id}-rollback-{environment}"
                result = await workflow.execute_child_workflow(
                    Rollback.run,
                    RollbackRequest(
                        environment=environment,
                        services=[c.service for c in changes],
                        reason=f"automatic: {reason}",
                        requested_by=f"{self._id}",
                        channel=self._request.channel,
                        lock_holder=self._id,
                        targets={c.service: c.before_arn for c in changes},
                        rollout_timeout_seconds=self._request.rollout_timeout.total_seconds(),
                    ),
                    id=child_id,
                )
                rollback_ids.append(child_id)
                for change in changes:
                    change.outcome = "rolled_back"
                problems += [
                    f"rollback of {s.service} in {environment} failed: {s.detail}"
                    for s in result.services
                    if s.outcome == "failed"
                ]
                problems += result.problems
                # Reverted, but the environment is not well: the deployment says so, and rolled back it is.
                warnings += [f"{environment} after the rollback: {check}" for check in result.unhealthy]
                warnings += [
                    f"{s.service} in {environment}: {s.detail}" for s in result.services if s.outcome == "unhealthy"
                ]
            await self._notify(
                messages.rolled_back(
                    self._request,
                    reason,
                    {env: [c for c in cs if c.outcome == "rolled_back"] for env, cs in self._changes.items()},
                )
            )
            if problems:
                self._procedure.fail_step(step, problems)
                return State.FAILED, ", ".join(rollback_ids), problems
            step.detail = ", ".join(rollback_ids + warnings)
            return State.ROLLED_BACK, ", ".join(rollback_ids), warnings

    async def record(self, result: DeploymentResult) -> None:
        """The runbook's "Update deployment log": one record per environment touched."""
        async with self._procedure.step("record"):
            environments = list(self._changes) or [self._request.environment]
            for environment in environments:
                staging = environment == self._request.staging_environment
                record = DeploymentRecord(
                    id=self._id,
                    kind=self.kind,
                    environment=environment,
                    state=result.state.value,
                    requested_by=self._request.requested_by,
                    started_at=workflow.info().start_time,
                    ended_at=workflow.now(),
                    version=self._request.version,
                    reason="; ".join(result.reasons),
                    approver=self._approval.approver if self._approval and self._approval.approved else "",
                    incident=self._request.incident,
                    verification_passed=self._staging_verified if staging else result.state == State.COMPLETED,
                    changes=self._changes.get(environment, []),
                    unconfirmed=[] if staging else result.unconfirmed,
                )
                await workflow.execute_activity_method(RecordsActivities.write_record, record, **QUICK)

    async def notify_completion(self, result: DeploymentResult) -> None:
        async with self._procedure.step("notify_completion"):
            if result.state == State.COMPLETED:
                duration = workflow.now() - workflow.info().start_time
                await self._notify(
                    messages.completion(self._request, self._changes, duration, self._approval, self._unconfirmed)
                )
            elif result.state != State.ROLLED_BACK:
                await self._notify(
                    messages.alert(self._request, f"ended {result.state.value}: {'; '.join(result.reasons)}")
                )

    # Shared machinery ------------------------------------------------------------------------

    async def _github_says_ready(self, step_name: str, activity_method: Any) -> None:
        """What GitHub says of the release; a failed check refuses the deployment, nothing deploys."""
        async with self._procedure.step(step_name) as step:
            try:
                report = await workflow.execute_activity_method(
                    activity_method, PrerequisiteRequest(version=self._request.version), **QUICK
                )
            except ActivityError as error:
                raise_if_cancelled(error)
                self._halt(step, State.FAILED, [f"GitHub could not be asked: {failure_text(error)}"])
            step.detail = "; ".join(f"{c.name}: {c.detail}" for c in report.checks)
            if not report.passed:
                self._halt(step, State.REJECTED, [f"{c.name}: {c.detail}" for c in report.failures])

    async def _deploy(self, environment: str, step_name: str) -> None:
        async with self._procedure.step(step_name) as step:
            self._changes.setdefault(environment, [])
            failures = [
                f
                for f in await asyncio.gather(*(self._deploy_one(environment, s) for s in self._request.services))
                if f
            ]
            if failures:
                self._halt(step, State.FAILED, failures)
            self._live_since[environment] = workflow.now()
            step.detail = "; ".join(
                f"{c.service} {c.before_version} → {c.after_version}" for c in self._changes[environment]
            )

    async def _deploy_one(self, environment: str, service: str) -> str:
        """Per service: a revision with the new image tag, the update, the rollout to its end."""
        prepared = await workflow.execute_activity_method(
            EcsActivities.prepare_revision,
            PrepareRevisionRequest(environment=environment, service=service, version=self._request.version),
            **QUICK,
        )
        change = ServiceChange(
            service=service,
            before_arn=prepared.current.arn,
            before_version=prepared.current.version,
            after_arn=prepared.target.arn,
            after_version=prepared.target.version,
            outcome="unchanged" if prepared.current.arn == prepared.target.arn else "deploying",
        )
        # Recorded before the update, so that a failure from here on rolls this service back too.
        self._changes[environment].append(change)
        self._desired[service] = prepared.desired_count
        if change.outcome == "unchanged":
            return ""
        try:
            await roll_out(environment, service, prepared.target.arn, self._request.rollout_timeout)
        except ActivityError as error:
            raise_if_cancelled(error)
            change.outcome = "failed"
            return f"{service} in {environment}: {failure_text(error)}"
        change.outcome = "deployed"
        self._procedure.record(
            "runbook", f"{service} deployed to {environment}", f"{change.before_version} → {change.after_version}"
        )
        return ""

    async def _verify(self, request: VerificationRequest, label: str) -> VerificationResult:
        if workflow.patched("judge-since-live"):
            # Only what happened since this change went live is the change's doing.
            request = request.model_copy(
                update={
                    "since": self._live_since.get(request.environment),
                    "metrics_period": self._request.thresholds.metrics_period,
                }
            )
        return await workflow.execute_child_workflow(Verification.run, request, id=f"{self._id}-verify-{label}")

    def _verification_failed(self, step: StepRecord, result: VerificationResult, label: str) -> NoReturn:
        reasons = [f"{label} verification: {reason}" for reason in result.reasons]
        no_data = failed_on_no_data_alone(result) and workflow.patched("no-data-never-rolls-back")
        self._procedure.fail_step(step, reasons)
        raise Halt(State.FAILED, reasons, no_data=no_data)

    async def _until_the_window_spans_a_period(self) -> None:
        """The monitor's first look judges only what happened since the change went live."""
        wait = young_for(self._live_since.get(self._request.environment), self._request.thresholds.metrics_period)
        if wait:
            await workflow.sleep(wait)

    async def _assess(self) -> Assessment:
        environment, services = self._request.environment, self._request.services
        if workflow.patched("observe-health-then-metrics"):
            problems: list[str] = []
            metrics, health = await observe_services(
                self._procedure,
                environment,
                services,
                self._request.decision_window,
                problems,
                since=self._live_since.get(environment) if workflow.patched("judge-since-live") else None,
            )
            if metrics is None or problems:
                # Unknown is not healthy: a production that cannot be watched is not passed.
                raise Halt(State.FAILED, [f"monitoring could not observe {problem}" for problem in problems])
        else:
            # As before the patch: metrics first, every service's health beside it.
            metrics_task = asyncio.create_task(
                workflow.execute_activity_method(
                    CloudWatchActivities.collect_metrics,
                    MetricsRequest(environment=environment, services=services, window=self._request.decision_window),
                    **QUICK,
                )
            )
            health_tasks = [
                asyncio.create_task(
                    workflow.execute_activity_method(
                        HealthActivities.check_service_health,
                        ServiceHealthRequest(environment=environment, service=service),
                        **QUICK,
                    )
                )
                for service in services
            ]
            metrics = await metrics_task
            health = {service: await task for service, task in zip(services, health_tasks, strict=True)}
        self._last_assessment = assess(metrics, health, self._request.thresholds)
        return self._last_assessment

    async def _act_on(self, assessment: Assessment, step: StepRecord) -> None:
        """The matrix's action, taken: roll back, scale up, alert, or ask a human."""
        evidence = {d.service: f"{d.rule}: {d.evidence}" for d in assessment.decisions}
        if assessment.vetoed:
            self._vetoed = True
            vetoing = [d.service for d in assessment.decisions if d.action == Action.DO_NOT_ROLLBACK]
            await self._alert_once(
                "veto", "database errors: NOT rolling back, investigate. " + "; ".join(evidence[s] for s in vetoing)
            )
        if assessment.rollback_services:
            reasons = [evidence[s] for s in assessment.rollback_services]
            if self._question_deadline is not None:
                self._procedure.record("runbook", "question answered by the decision matrix", "; ".join(reasons))
            self._halt(step, State.FAILED, reasons, only=_only(assessment))
        for service in assessment.scale_up_services:
            await self._scale_up(service, evidence[service])
        if assessment.needs_human:
            await self._ask_human(assessment, evidence, step)
        elif self._question_no_data_only and self._question_deadline is not None:
            await self._withdraw_the_no_data_question()

    async def _scale_up(self, service: str, evidence: str) -> None:
        if service in self._scaled:
            return
        self._scaled.add(service)
        before = self._desired.get(service, 0)
        if workflow.patched("scale-up-as-mitigation"):
            # The incident's mitigation: the target is the worker's policy, applied in one place.
            changes = await workflow.execute_activity_method(
                MitigationActivities.scale_up,
                ScaleUpRequest(environment=self._request.environment, desired_before={service: before}),
                **QUICK,
            )
            target = changes[0].after
        else:
            target = self._request.scaling.scale_up_target(before)
            await workflow.execute_activity_method(
                EcsActivities.set_desired_count,
                DesiredCountRequest(environment=self._request.environment, service=service, desired_count=target),
                **QUICK,
            )
        self._procedure.record("runbook", f"scaled up {service} to {target} tasks", evidence)
        await self._notify(
            messages.alert(self._request, f"scaled up {service} to {target} tasks first ({evidence}); investigate")
        )

    async def _ask_human(self, assessment: Assessment, evidence: dict[str, str], step: StepRecord) -> None:
        proposed = [d.service for d in assessment.decisions if d.action == Action.PROPOSE_ROLLBACK]
        no_data = assessment.no_data_services
        if self._decision and self._decision.action == "continue":
            return
        await self._alert_once(
            "propose",
            f"{messages.question(proposed, no_data, evidence)}. Decide: "
            f"`runbook decide {self._id} rollback|continue` or signal `decide`",
            question_buttons(self._id),
        )
        about = "; ".join(f"{s}: {evidence[s]}" for s in proposed + no_data)
        if workflow.patched("monitor-while-asking"):
            # Asked once; the monitor loop keeps assessing and takes the answer (_take_the_answer).
            if self._question_deadline is None:
                self._question_deadline = workflow.now() + self._request.decision_timeout
                self._question_about, self._question_no_data_only = about, not proposed
            elif proposed and self._question_no_data_only:
                # Now a symptom too: unanswered, it ends as a slow-response question does.
                self._question_about, self._question_no_data_only = about, False
            return
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=self._request.decision_timeout)
        except TimeoutError:
            self._halt(step, State.FAILED, [f"no decision within {self._request.decision_timeout} on: {about}"])
        self._take_the_decision(step)

    async def _until_next_look(self, end: datetime) -> None:
        """The monitor's interval, cut short by the window's end, the open question's deadline, or
        its answer."""
        now = workflow.now()
        if self._question_deadline is None:
            await workflow.sleep(min(self._request.monitor_interval, end - now))
            return
        wake = min(self._request.monitor_interval, self._question_deadline - now)
        if now < end:
            wake = min(wake, end - now)
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=wake)
        except TimeoutError:
            pass

    async def _take_the_answer(self, step: StepRecord) -> None:
        """The open question's answer, or its deadline passing unanswered."""
        if self._question_deadline is None:
            return
        if self._decision is not None:
            self._question_deadline = None
            await self._settle("question", messages.decision_outcome(self._decision, self._decided_how, self._request))
            self._take_the_decision(step)
        elif workflow.now() >= self._question_deadline:
            timeout = self._request.decision_timeout
            await self._settle("question", f"*No decision within {timeout}*")
            reasons = [f"no decision within {timeout} on: {self._question_about}"]
            # The matrix's No data row alerts and asks; unanswered, the deployment fails (nothing
            # vouches for the release) but is not rolled back: no data alone never rolls back.
            no_data = self._question_no_data_only and workflow.patched("no-data-never-rolls-back")
            self._procedure.fail_step(step, reasons)
            raise Halt(State.FAILED, reasons, no_data=no_data)

    async def _withdraw_the_no_data_question(self) -> None:
        """Every figure observed again and nothing to ask about: the open question about no data
        is withdrawn on the record, rather than failing the deployment at its deadline."""
        if not workflow.patched("no-data-never-rolls-back"):
            return
        self._procedure.record("runbook", "question withdrawn", f"figures observed again: {self._question_about}")
        await self._settle("question", "*Withdrawn: figures observed again*")
        self._question_deadline, self._question_no_data_only = None, False
        self._alerted.discard("propose")
        await self._notify(
            messages.alert(self._request, "figures observed again; the question about no data is withdrawn")
        )

    def _take_the_decision(self, step: StepRecord) -> None:
        decision = self._decision
        if decision is not None and decision.action == "rollback":
            why = decision.note or self._question_about or "slow responses"
            self._halt(step, State.FAILED, [f"{decision.user} decided to roll back: {why}"])

    async def _alert_once(self, key: str, text: str, buttons: list[SlackButton] | None = None) -> None:
        if key not in self._alerted:
            self._alerted.add(key)
            self._procedure.record("runbook", "alert", text)
            if buttons:
                await self._ask("question", messages.alert(self._request, text), buttons)
            else:
                await self._notify(messages.alert(self._request, text))

    async def _ask(self, about: str, text: str, buttons: list[SlackButton] | None = None) -> None:
        """A message asking for a decision, with its buttons (the approval's by default): kept
        until the decision settles them."""
        buttons = buttons if buttons is not None else approval_buttons(self._id)
        asked = await self._procedure.ask(self._request.channel, text, buttons)
        if asked is not None:
            self._asking.setdefault(about, []).append(asked)

    async def _settle(self, about: str, outcome: str) -> None:
        asked = self._asking.pop(about, [])
        if asked and workflow.patched("decision-buttons"):
            await self._procedure.settle(asked, outcome)

    def _halt(self, step: StepRecord, state: State, reasons: list[str], only: list[str] | None = None) -> NoReturn:
        self._procedure.fail_step(step, reasons)
        raise Halt(state, reasons, only)

    async def _lock(self, environment: str, step: StepRecord) -> None:
        grant = await workflow.execute_activity_method(
            LockActivities.acquire_lock,
            LockRequest(environment=environment, holder_id=self._id, kind=self.kind),
            **QUICK,
        )
        if not grant.granted:
            holder = grant.holder
            self._halt(
                step,
                State.REJECTED,
                [f"{environment} is being changed by {holder.id if holder else 'another procedure'}"],
            )
        self._held.append(environment)

    async def _release(self, environment: str) -> None:
        if environment in self._held:
            self._held.remove(environment)
            await workflow.execute_activity_method(
                LockActivities.release_lock, LockRelease(environment=environment, holder_id=self._id), **QUICK
            )

    async def _release_all(self) -> None:
        for environment in list(self._held):
            await self._release(environment)

    async def _notify(self, text: str) -> None:
        await self._procedure.post(self._request.channel, text)

    def _changed(self) -> bool:
        return any(c.outcome != "unchanged" for changes in self._changes.values() for c in changes)

    def _rollback_order(self) -> list[str]:
        """Production first: it is where users are."""
        return sorted(self._changes, key=lambda environment: environment == self._request.staging_environment)

    async def _taken_from_us(self) -> LockHolder | None:
        """The procedure that took an environment's lock from this deployment, if one did: a
        pre-emption is believed only when the lock itself says so."""
        for environment in self._held:
            lock = await workflow.execute_activity_method(
                LockActivities.lock_holder, LockQuery(environment=environment), **QUICK
            )
            if lock.holder and lock.holder.taken_from == self._id:
                self._procedure.record(lock.holder.id, "pre-empted", f"took {environment}: {lock.holder.reason}")
                return lock.holder
        return None

    async def _why_cancelled(self) -> str:
        self._preempted = await self._taken_from_us()
        if self._preempted:
            return f"pre-empted by {self._preempted.id}: {self._preempted.reason}"
        return "cancelled"

    # Human decisions: signals from the UI, updates of the same name from the CLI --------------

    def _approve(self, decision: ApprovePayload) -> None:
        self._take_approval(decision.approver, True, decision.comment)

    def _reject(self, decision: RejectPayload) -> None:
        self._take_approval(decision.approver, False, decision.reason)

    def _take_approval(self, approver: str, approved: bool, note: str) -> None:
        refusal = policy.approval_refusal(approver, self._request.requested_by, self._request.approvers)
        if refusal:
            raise Refused(refusal)
        if self._approval is not None:
            raise Refused(
                f"already {'approved' if self._approval.approved else 'rejected'} by {self._approval.approver}"
            )
        if self._procedure.status.step != "approval" and not self.approves_early:
            raise Refused(f"not at the approval gate yet (now: {self._procedure.status.step or 'finished'})")
        deciding = self._procedure.deciding
        self._approval = Approval(
            approver=approver,
            at=workflow.now(),
            comment=note,
            approved=approved,
            verified=deciding.how if deciding else "unverified",
        )
        self._procedure.record(approver, "approved" if approved else "rejected", note)

    def _decide(self, decision: DecidePayload) -> None:
        allowed = [*self._request.approvers, self._request.requested_by]
        if decision.user not in allowed:
            raise Refused(f"{decision.user!r} may not decide; allowed: {', '.join(allowed)}")
        step = self._procedure.status.step
        asked_about_a_flow = step == "checklist" and self._question_deadline is not None
        if step != "monitor" and not asked_about_a_flow:
            raise Refused(f"nothing to decide now (step: {step or 'finished'})")
        self._decision = decision
        deciding = self._procedure.deciding
        self._decided_how = deciding.how if deciding else "unverified"
        self._procedure.record(decision.user, f"decided: {decision.action}", decision.note)

    def _check(self, check: CheckPayload) -> None:
        if self._procedure.status.step != "checklist":
            opens = "" if self._checklist.deadline else " (it opens after verify_production)"
            raise Refused(f"the checklist is not open{opens}; step now: {self._procedure.status.step or 'finished'}")
        self._checklist.tick(check)

    approve_signal, approve_update = human_decision("approve", ApprovePayload, _approve)
    reject_signal, reject_update = human_decision("reject", RejectPayload, _reject)
    decide_signal, decide_update = human_decision("decide", DecidePayload, _decide)
    check_signal, check_update = human_decision("check", CheckPayload, _check)

    def _preempt(self, claim: PreemptPayload) -> None:
        raise Refused(
            f"pre-emption by {claim.by!r} not taken: a deployment is pre-empted only by the procedure that"
            " took its environment's lock, and the lock says so itself"
        )

    @workflow.signal(name="preempt")
    def preempt_signal(self, payload: Any = None) -> None:
        self._procedure.decide("preempt", PreemptPayload, payload, self._preempt)

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        details = {
            "version": self._request.version,
            "services": self._request.services,
            "approval": self._approval.model_dump(mode="json") if self._approval else None,
            "changes": {env: [c.model_dump(mode="json") for c in changes] for env, changes in self._changes.items()},
            "assessment": [d.model_dump(mode="json") for d in self._last_assessment.decisions]
            if self._last_assessment
            else [],
            # Production's key user flows, once the checklist is open: each item's state, and those pending.
            "checklist": self._checklist.status() if self._checklist.deadline else [],
            "pending": [item.name for item in self._checklist.pending()] if self._checklist.deadline else [],
        }
        return dataclasses.replace(self._procedure.status, details=details)


def _only(assessment: Assessment) -> list[str] | None:
    """ "Single service failing → roll back that service"; otherwise everything changed."""
    only_services = [d.service for d in assessment.decisions if d.action == Action.ROLLBACK_SERVICE]
    return only_services or None


@workflow.defn(name="StandardDeployment")
class StandardDeployment(DeploymentProcedure):
    @workflow.run
    async def run(self, request: DeploymentRequest) -> DeploymentResult:
        return await self._carry_out(self._standard)

    async def _standard(self) -> None:
        await self.lock_environment()
        await self.prerequisites()
        await self.notify_team()
        await self.verify_staging_health()
        await self.deploy_staging()
        await self.verify_staging()
        if self._request.environment == self._request.staging_environment:
            return
        await self.approval()
        await self.deploy_production()
        await self.monitor()
        await self.verify_production()
        await self.checklist()

    async def prerequisites(self) -> None:
        """CI green on main, reviewed and approved, release notes; the team is told next."""
        await self._github_says_ready("prerequisites", GithubActivities.check_prerequisites)


@workflow.defn(name="HotfixDeployment")
class HotfixDeployment(DeploymentProcedure):
    kind = "hotfix"
    first_check = "hotfix_ready"
    approves_early = True

    @workflow.run
    async def run(self, request: DeploymentRequest) -> DeploymentResult:
        return await self._carry_out(self._hotfix)

    async def _hotfix(self) -> None:
        await self.lock_environment()
        await self.hotfix_ready()
        await self.notify_team()
        if await self.staging_already_verified():
            for step in STAGING_STEPS:
                self._procedure.skip(step, f"--skip-staging: {self._request.version} passed verification on staging")
        else:
            await self.verify_staging_health()
            await self.deploy_staging()
            await self.verify_staging()
        await self.approval()
        await self.deploy_production()
        await self.monitor()
        await self.verify_production()
        await self.checklist()

    async def hotfix_ready(self) -> None:
        """The fix is merged to main and CI is green on it."""
        await self._github_says_ready("hotfix_ready", GithubActivities.check_hotfix_ready)

    async def staging_already_verified(self) -> bool:
        """--skip-staging only when this version passed Verification on staging (the records say)."""
        if not self._request.skip_staging:
            return False
        found = await workflow.execute_activity_method(
            RecordsActivities.find_verified,
            VerifiedQuery(environment=self._request.staging_environment, version=self._request.version),
            **QUICK,
        )
        if not found.record_id:
            step = self._procedure.status.steps[STEPS.index("verify_staging_health")]
            self._halt(
                step,
                State.REJECTED,
                [f"--skip-staging refused: {self._request.version} has not passed verification on staging"],
            )
        self._procedure.record("runbook", "staging skipped", f"verified on staging by {found.record_id}")
        return True
