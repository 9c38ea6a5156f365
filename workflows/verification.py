"""Post-Deployment Verification (RUNBOOK.md), step by step.

Automated checks, performance, integrations, error rate and log timeouts run as activities; the
manual checklist waits for `check` signals (UI) or updates (CLI), with reminders and a deadline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cloudwatch import CloudWatchActivities
    from activities.health import HealthActivities
    from runbook.durations import format_duration
    from runbook.messages import verification as messages
    from runbook.models import (
        HealthCheckRequest,
        HealthReport,
        LogMatches,
        LogSearchRequest,
        MetricsReport,
        MetricsRequest,
    )
    from runbook.status import ProcedureStatus, State, StepRecord
    from runbook.verification import (
        CheckPayload,
        ItemState,
        VerificationRequest,
        VerificationResult,
        automated_check_reasons,
        checklist_reasons,
        error_rate_reasons,
        integration_reasons,
        performance_reasons,
        timeout_reasons,
    )
    from workflows.checklist import ManualChecklist
    from workflows.options import READ_ONLY
    from workflows.procedure import Procedure, Refused, human_decision
    from workflows.steps import young_for

T = TypeVar("T")

STEPS = ["automated_checks", "performance", "integrations", "error_rate", "log_timeouts", "manual_checklist"]


@workflow.defn(name="Verification")
class Verification:
    @workflow.init
    def __init__(self, request: VerificationRequest) -> None:
        self._request = request
        self._procedure = Procedure("verification", request.environment, request.requested_by, STEPS)
        self._checklist = ManualChecklist(self._procedure, request.checklist if request.manual else [])
        self._reasons: list[str] = []

    @workflow.run
    async def run(self, request: VerificationRequest) -> VerificationResult:
        self._procedure.record(
            request.requested_by, "verification started", f"{request.environment}{' --full' if request.full else ''}"
        )
        health = await self.automated_checks()
        await self.performance(health)
        await self.integrations(health)
        metrics = await self.error_rate()
        timeouts = await self.log_timeouts()
        await self.manual_checklist()
        result = VerificationResult(
            passed=not self._reasons,
            reasons=self._reasons,
            health=health,
            metrics=metrics,
            log_timeouts=timeouts,
            checklist=list(self._checklist.items.values()),
        )
        self._procedure.finish(State.COMPLETED if result.passed else State.FAILED, result)
        return result

    async def automated_checks(self) -> HealthReport | None:
        async with self._procedure.step("automated_checks") as step:
            request = HealthCheckRequest(environment=self._request.environment, full=self._request.full)
            report = await self._observe(
                step, workflow.execute_activity_method(HealthActivities.check_health, request, **READ_ONLY)
            )
            if report:
                self._judge(step, automated_check_reasons(report))
            return report

    async def performance(self, health: HealthReport | None) -> None:
        if not self._request.full:
            self._procedure.skip("performance", "latency budgets are checked with --full")
            return
        async with self._procedure.step("performance") as step:
            self._judge(step, performance_reasons(health) if health else ["performance: no health report to judge"])

    async def integrations(self, health: HealthReport | None) -> None:
        async with self._procedure.step("integrations") as step:
            self._judge(step, integration_reasons(health) if health else ["integrations: no health report to judge"])

    async def error_rate(self) -> MetricsReport | None:
        async with self._procedure.step("error_rate") as step:
            await self._until_the_window_spans_a_period()
            request = MetricsRequest(
                environment=self._request.environment,
                services=self._request.services,
                window=self._request.window,
                since=self._request.since,
            )
            metrics = await self._observe(
                step, workflow.execute_activity_method(CloudWatchActivities.collect_metrics, request, **READ_ONLY)
            )
            if metrics:
                self._judge(step, error_rate_reasons(metrics, self._request.error_rate_percent))
            return metrics

    async def log_timeouts(self) -> LogMatches | None:
        async with self._procedure.step("log_timeouts") as step:
            request = LogSearchRequest(
                environment=self._request.environment,
                services=self._request.services,
                word="timeout",
                window=self._request.window,
                since=self._request.since,
            )
            matches = await self._observe(
                step, workflow.execute_activity_method(CloudWatchActivities.search_logs, request, **READ_ONLY)
            )
            if matches:
                self._judge(step, timeout_reasons(matches))
            return matches

    async def _until_the_window_spans_a_period(self) -> None:
        """A deployment's verification judges only what happened since its change went live."""
        wait = young_for(self._request.since, self._request.metrics_period)
        if wait:
            self._procedure.record(
                "runbook", "window too young", f"judged once it spans {format_duration(self._request.metrics_period)}"
            )
            await workflow.sleep(wait)

    async def _observe(self, step: StepRecord, call: Awaitable[T]) -> T | None:
        """The activity's report, or None with the step failed: an observation that cannot be
        made fails the verification, it does not crash it."""
        return await self._procedure.attempt(
            call, lambda why: self._judge(step, [f"{step.name}: could not be checked: {why}"])
        )

    async def manual_checklist(self) -> None:
        if not self._request.manual:
            self._procedure.skip("manual_checklist", "not requested (--manual)")
            return
        async with self._procedure.step("manual_checklist") as step:
            self._checklist.open(self._request.deadline, self._request.reminder_every)
            await self._checklist.wait(self._request.reminder_every, self._remind)
            for item in self._checklist.pending():
                item.state, item.note, item.at = ItemState.FAILED, "not checked before the deadline", workflow.now()
                self._procedure.record("runbook", "checklist item expired", item.name)
            self._judge(step, checklist_reasons(list(self._checklist.items.values())))

    async def _remind(self, pending: list[str]) -> None:
        text = messages.checklist_reminder(workflow.info().workflow_id, self._request.environment, pending)
        if await self._procedure.post(self._request.channel, text):
            self._procedure.record("runbook", "reminder sent", ", ".join(pending))

    def _judge(self, step: StepRecord, reasons: list[str]) -> None:
        if reasons:
            self._procedure.fail_step(step, reasons)
            self._reasons += reasons

    def _check(self, check: CheckPayload) -> None:
        if not self._checklist.items:
            raise Refused("this verification has no manual checklist (start it with --manual)")
        self._checklist.tick(check)

    check_signal, check_update = human_decision("check", CheckPayload, _check)

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        return dataclasses.replace(self._procedure.status, details={"checklist": self._checklist.status()})
