"""Verification on a real dev server; the outside world replaced by activities of the same names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from runbook.config import load_config
from runbook.models import (
    CheckResult,
    HealthCheckRequest,
    HealthReport,
    LogMatches,
    LogSearchRequest,
    MetricsReport,
    MetricsRequest,
    ServiceMetrics,
    SlackMessage,
    SlackPosted,
)
from runbook.status import HandlerOutcome
from runbook.verification import VerificationResult
from starter.commands import verification_request
from tests.support import SANDBOX_CONFIG, status
from workflows.verification import Verification

CONFIG = load_config(SANDBOX_CONFIG)


class World:
    """What the activities report, and the Slack messages they were asked to send."""

    def __init__(self) -> None:
        self.checks = [CheckResult(name="liveness", url="u", http_status=200, latency_ms=12, verdict="pass")]
        self.integrations = {"database": "up", "redis": "up"}
        self.metrics = [ServiceMetrics(service="api-gateway", requests=1000, errors_5xx=0)]
        self.timeouts = {"api-gateway": 0}
        self.slack: list[SlackMessage] = []
        self.asked: list[MetricsRequest | LogSearchRequest] = []

    def activities(self) -> list:
        @activity.defn(name="check_health")
        async def check_health(request: HealthCheckRequest) -> HealthReport:
            return HealthReport(
                environment=request.environment, full=request.full, checks=self.checks, integrations=self.integrations
            )

        @activity.defn(name="collect_metrics")
        async def collect_metrics(request: MetricsRequest) -> MetricsReport:
            self.asked.append(request)
            return MetricsReport(environment=request.environment, window=request.window, services=self.metrics)

        @activity.defn(name="search_logs")
        async def search_logs(request: LogSearchRequest) -> LogMatches:
            self.asked.append(request)
            return LogMatches(counts=self.timeouts)

        @activity.defn(name="post_message")
        async def post_message(message: SlackMessage) -> SlackPosted:
            self.slack.append(message)
            return SlackPosted(channel=message.channel, ts=str(len(self.slack)))

        return [check_health, collect_metrics, search_logs, post_message]


@pytest.fixture
def world() -> World:
    return World()


@asynccontextmanager
async def verification(
    env: WorkflowEnvironment, world: World, *, manual: bool = False, **overrides
) -> AsyncIterator[WorkflowHandle]:
    queue = f"test-{uuid.uuid4()}"
    request = verification_request(CONFIG, "staging", True, manual, "alice").model_copy(update=overrides)
    async with Worker(env.client, task_queue=queue, workflows=[Verification], activities=world.activities()):
        yield await env.client.start_workflow(Verification.run, request, id=f"verify-{uuid.uuid4()}", task_queue=queue)


async def test_a_healthy_environment_passes_every_automated_step(temporal_env, world):
    async with verification(temporal_env, world) as handle:
        result: VerificationResult = await handle.result()
        current = await status(handle)
    assert result.passed and result.reasons == []
    states = {step.name: step.state.value for step in current.steps}
    assert states == {
        "automated_checks": "passed",
        "performance": "passed",
        "integrations": "passed",
        "error_rate": "passed",
        "log_timeouts": "passed",
        "manual_checklist": "skipped",
    }
    assert current.state.value == "COMPLETED"
    assert all(step.started_at and step.ended_at for step in current.steps if step.state.value == "passed")


async def test_each_finding_fails_its_own_step_with_the_reason(temporal_env, world):
    world.checks.append(
        CheckResult(name="readiness", url="u", http_status=503, verdict="fail", reason="HTTP 503 (not_ready)")
    )
    world.checks.append(
        CheckResult(
            name="homepage",
            url="u",
            http_status=200,
            latency_ms=3400,
            verdict="fail",
            reason="slow: 3400 ms > 3000 ms budget",
            too_slow=True,
        )
    )
    world.integrations["database"] = "down"
    world.metrics.append(ServiceMetrics(service="market-svc", requests=1000, errors_5xx=250))
    world.timeouts["market-svc"] = 4
    async with verification(temporal_env, world) as handle:
        result: VerificationResult = await handle.result()
        current = await status(handle)
    assert not result.passed
    assert result.reasons == [
        "readiness: HTTP 503 (not_ready)",
        "homepage: slow: 3400 ms > 3000 ms budget",
        "database is down",
        "market-svc: 5xx 25.0% of 1000 requests > 1%",
        "market-svc: 4 timeout errors in logs",
    ]
    assert current.state.value == "FAILED"
    assert {step.name for step in current.steps if step.state.value == "failed"} == {
        "automated_checks", "performance", "integrations", "error_rate", "log_timeouts"
    }  # fmt: skip


async def test_figures_without_data_fail_the_error_rate_step_naming_metric_dimensions_and_window(temporal_env, world):
    where = "in Skilancer {Environment=staging, Service=api-gateway} over 5m: no datapoints"
    world.metrics = [
        ServiceMetrics(service="api-gateway", no_data={"requests": f"RequestCount {where}"}),
    ]
    async with verification(temporal_env, world) as handle:
        result: VerificationResult = await handle.result()
        current = await status(handle)
    assert not result.passed
    assert result.reasons == [f"api-gateway: 5xx rate unknown, no data: RequestCount {where}"]
    assert {step.name for step in current.steps if step.state.value == "failed"} == {"error_rate"}


async def test_the_manual_checklist_is_ticked_by_update_and_signal(temporal_env, world):
    async with verification(temporal_env, world, manual=True) as handle:
        items = CONFIG.verification.checklist
        for item in items[:-1]:
            outcome = await handle.execute_update("check", {"item": item, "user": "bob"}, result_type=HandlerOutcome)
            assert outcome.accepted
        # The UI's path: a signal with one JSON object.
        await handle.signal("check", {"item": items[-1], "user": "carol", "passed": False, "note": "push not received"})
        result: VerificationResult = await handle.result()
    assert not result.passed
    assert result.reasons == [f"checklist {items[-1]}: push not received (carol)"]
    assert [item.by for item in result.checklist] == ["bob"] * 4 + ["carol"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "expected a JSON object"),
        ("user-can-log-in", "expected a JSON object"),
        ({"item": "user-can-log-in"}, "user: Field required"),
        ({"item": "teleport", "user": "bob"}, "unknown checklist item 'teleport'; known: user-can-log-in"),
        ({"item": "user-can-log-in", "user": "bob", "passed": "maybe"}, "passed: Input should be a valid boolean"),
    ],
)
async def test_bad_check_payloads_are_refused_recorded_and_harmless(temporal_env, world, payload, reason):
    async with verification(temporal_env, world, manual=True) as handle:
        outcome = await handle.execute_update("check", payload, result_type=HandlerOutcome)
        await handle.signal("check", payload)
        current = await status(handle)
        assert not outcome.accepted and reason in outcome.reason
        assert [refusal.handler for refusal in current.refusals] == ["check", "check"]
        assert all(reason in refusal.reason for refusal in current.refusals)
        assert current.state.value == "RUNNING"
        await handle.cancel()


async def test_reminders_then_the_deadline_fail_unchecked_items(skipping_env, world):
    # A reminder every 30 minutes and a one-hour deadline: each timer firing costs real time.
    async with verification(
        skipping_env, world, manual=True, reminder_every=timedelta(minutes=30), deadline=timedelta(hours=1)
    ) as handle:
        await handle.execute_update("check", {"item": "user-can-log-in", "user": "bob"}, result_type=HandlerOutcome)
        await skipping_env.fast_forward(handle)
        result: VerificationResult = await handle.result()
    [reminder] = world.slack
    assert reminder.channel == "#deployments"
    assert "user-can-view-marketplace" in reminder.text and "user-can-log-in" not in reminder.text
    assert not result.passed
    assert len(result.reasons) == 4
    assert all("not checked before the deadline" in reason for reason in result.reasons)


async def test_a_deployments_verification_judges_from_when_its_change_went_live(skipping_env, world):
    """Right after the rollout the window is seconds old: it is judged once it spans a metrics
    period (a minute here, under time skipping), and never reaches back before the change."""
    went_live = datetime.now(UTC)
    async with verification(
        skipping_env, world, since=went_live, metrics_period=timedelta(minutes=1), window=timedelta(minutes=15)
    ) as handle:
        result: VerificationResult = await handle.result()
        current = await status(handle)
    assert result.passed, result.reasons
    assert [(type(r).__name__, r.since, r.window) for r in world.asked] == [
        ("MetricsRequest", went_live, timedelta(minutes=15)),
        ("LogSearchRequest", went_live, timedelta(minutes=15)),
    ]
    young = next(e for e in current.timeline if e.event == "window too young")
    assert young.detail == "judged once it spans 1m" and young.at >= went_live
    error_rate = next(step for step in current.steps if step.name == "error_rate")
    assert error_rate.ended_at - went_live >= timedelta(minutes=1)
