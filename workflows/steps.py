"""Steps more than one procedure takes: rolling a service out to a revision (deployment, rollback)
and observing services for the decision matrix (deployment monitoring, incident assessment)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cloudwatch import CloudWatchActivities
    from activities.ecs import EcsActivities
    from activities.health import HealthActivities
    from runbook.models import (
        HealthReport,
        MetricsReport,
        MetricsRequest,
        RolloutRequest,
        ServiceHealthRequest,
        UpdateServiceRequest,
    )
    from workflows.options import QUICK, rollout_wait
    from workflows.procedure import Procedure, noted_in


def young_for(since: datetime | None, period: timedelta) -> timedelta:
    """How long a window that starts when a change went live (`since`) is still too young to judge.

    Right after a rollout that window is seconds old: CloudWatch has no datapoint in it yet,
    which would read as "no data" about a healthy release. So it is judged once it spans one
    metrics period, the shortest window CloudWatch can fill (real symptoms cannot show earlier),
    rather than widened back to before the change. Without `since` (`runbook verify`, or a
    procedure started before `since` existed) the window is judged at once, as it always was."""
    if since is None:
        return timedelta(0)
    return max(since + period - workflow.now(), timedelta(0))


async def roll_out(environment: str, service: str, task_definition_arn: str, timeout: timedelta) -> None:
    """The service updated to the revision, and its rollout followed to the end (or `timeout`)."""
    await workflow.execute_activity_method(
        EcsActivities.update_service,
        UpdateServiceRequest(environment=environment, service=service, task_definition_arn=task_definition_arn),
        **QUICK,
    )
    await workflow.execute_activity_method(
        EcsActivities.wait_for_rollout,
        RolloutRequest(
            environment=environment, service=service, task_definition_arn=task_definition_arn, timeout=timeout
        ),
        **rollout_wait(timeout),
    )


async def observe_services(
    procedure: Procedure,
    environment: str,
    services: list[str],
    window: timedelta,
    problems: list[str],
    since: datetime | None = None,
) -> tuple[MetricsReport | None, dict[str, HealthReport]]:
    """Each service's health, then CloudWatch's figures over the last `window` (from `since` at the
    earliest). What could not be observed is left out and named in `problems`: no data, never a
    healthy answer."""
    reports = await asyncio.gather(
        *(
            procedure.attempt(
                workflow.execute_activity_method(
                    HealthActivities.check_service_health,
                    ServiceHealthRequest(environment=environment, service=service),
                    **QUICK,
                ),
                noted_in(problems, f"health of {service}"),
            )
            for service in services
        )
    )
    health = {service: report for service, report in zip(services, reports, strict=True) if report is not None}
    metrics = await procedure.attempt(
        workflow.execute_activity_method(
            CloudWatchActivities.collect_metrics,
            MetricsRequest(environment=environment, services=services, window=window, since=since),
            **QUICK,
        ),
        noted_in(problems, "metrics"),
    )
    return metrics, health
