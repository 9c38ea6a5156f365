"""The `runbook` commands that read AWS themselves (rollback's plan, assess, ecs, logs, the
deployment log for --skip-staging): the only ones that pay for importing boto3."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from botocore.exceptions import ConnectionError as AwsConnectionError
from temporalio.exceptions import ApplicationError

from activities.aws import build_aws_clients
from activities.cloudwatch import collect_metrics, tail_logs
from activities.ecs import describe_ecs_service, plan_rollback
from activities.health import check_service
from activities.lock import preempt_environment
from activities.records import RecordStore
from runbook import validate
from runbook.appendix import EcsService, LogEvent, LogQuery
from runbook.assessment import assess
from runbook.config import load_config
from runbook.durations import parse_duration
from runbook.models import (
    MetricsRequest,
    PlanRequest,
    PreemptRequest,
    Revision,
    RollbackRequest,
    RollbackResult,
    ServiceHealthRequest,
)
from runbook.temporal import connect
from starter.commands import (
    confirm,
    new_workflow_id,
    refuse_when_busy,
    requested_services,
    service_query,
    start_procedure,
    to_the_end,
)
from starter.console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Unreachable, UsageError, print_json, visible

# `logs --follow` asks CloudWatch Logs this often: new lines within seconds, far below the API's limits.
LOGS_POLL_SECONDS = 2.0


async def rollback(args: argparse.Namespace) -> int:
    config = load_config()
    config.environment(args.environment)
    services = requested_services(config, args.service)
    whole = args.service in (None, "all")
    version = validate.version(args.version) if args.version else None
    reason = validate.reason(args.reason) if args.reason is not None else f"manual rollback by {args.user}"
    aws = build_aws_clients(config)
    plan = await asyncio.to_thread(
        plan_rollback,
        aws.ecs,
        config,
        RecordStore(aws.s3, config.aws.records_bucket),
        PlanRequest(environment=args.environment, services=services, version=version, whole_environment=whole),
    )
    if plan.problems:
        raise UsageError("; ".join(plan.problems))
    if not args.json:
        print(f"rollback plan for {args.environment} ({reason}):")
        for target in plan.targets:
            current = f"{target.current.version} (rev {target.current.revision})"
            wanted = f"{target.target.version} (rev {target.target.revision})"
            print(f"  {target.service}: {current} → {wanted}")
        for unchanged in plan.unchanged:
            print(f"  {unchanged}: left as it is")
    if not args.yes and not confirm(f"Roll back {len(plan.targets)} service(s) in {args.environment}?"):
        print("not confirmed; nothing changed")
        return EXIT_USAGE
    client = await connect(config)
    workflow_id = new_workflow_id(f"rollback-{args.environment}")
    preempt = PreemptRequest(environment=args.environment, holder_id=workflow_id, kind="rollback", reason=reason)
    refuse_when_busy(args.environment, await preempt_environment(client, config.temporal.task_queue, preempt))
    request = RollbackRequest(
        environment=args.environment,
        services=services,
        version=version,
        reason=reason,
        requested_by=args.user,
        channel=config.channels.deployments,
        whole_environment=whole,
    )
    handle = await start_procedure(
        client,
        config,
        "Rollback",
        request,
        workflow_id,
        RollbackResult,
        ("rollback", args.environment, services, version or ""),
    )

    def outcome(result: RollbackResult) -> list[str]:
        lines = [
            f"{o.service}: {o.outcome} {o.from_version} → {o.to_version} {visible(o.detail)}".rstrip()
            for o in result.services
        ]
        lines += [visible(problem) for problem in result.problems]
        return lines + [f"{args.environment} still failing: {visible(check)}" for check in result.unhealthy]

    return await to_the_end(handle, config, args, "rollback", outcome)


async def assess_command(args: argparse.Namespace) -> int:
    config = load_config()
    config.environment(args.environment)
    services = requested_services(config, args.services)
    aws = build_aws_clients(config)
    metrics_request = MetricsRequest(
        environment=args.environment, services=services, window=config.thresholds.decision_window
    )
    async with httpx.AsyncClient() as http:
        metrics, reports = await asyncio.gather(
            asyncio.to_thread(collect_metrics, aws.cloudwatch, config, metrics_request),
            asyncio.gather(
                *(
                    check_service(http, config, ServiceHealthRequest(environment=args.environment, service=service))
                    for service in services
                )
            ),
        )
    assessment = assess(metrics, dict(zip(services, reports, strict=True)), config.thresholds)
    if args.json:
        print_json(
            {
                "environment": args.environment,
                "decisions": [d.model_dump(mode="json") for d in assessment.decisions],
                "worst": assessment.worst,
            }
        )
    else:
        for decision in assessment.decisions:
            print(f"{decision.service:<18} {decision.action.value:<30} {decision.rule:<24} {decision.evidence}")
        print(f"{args.environment}: worst action {assessment.worst.value}; no action taken")
    # Unknown is not healthy: figures that could not be observed fail the assessment.
    return EXIT_FAILED if assessment.no_data_services else EXIT_OK


async def read_aws(call: Callable[..., Any], *args: Any) -> Any:
    """A plain function of an activities module that reads AWS, off the event loop; Unreachable
    when AWS cannot be reached."""
    try:
        return await asyncio.to_thread(call, *args)
    except AwsConnectionError as error:
        raise Unreachable(f"cannot reach AWS: {error} (is the stack up? make up)") from None


def _moment(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if moment else "-"


def render_ecs(view: EcsService) -> str:
    def revision_text(revision: Revision) -> str:
        return f"{revision.family}:{revision.revision} ({visible(revision.version)})"

    lines = [
        f"{view.service} in {view.environment} ({view.cluster}): {visible(view.status)},"
        f" {view.desired} desired, {view.running} running, {view.pending} pending",
        f"task definition: {revision_text(view.revision)}",
        "deployments:",
    ]
    for d in view.deployments:
        lines.append(
            f"  {visible(d.status):<8} {visible(d.id)}  {revision_text(d.revision)}  {visible(d.rollout_state)}"
            f"  tasks {d.desired} desired, {d.running} running, {d.pending} pending, {d.failed} failed"
            f"  created {_moment(d.created_at)}, updated {_moment(d.updated_at)}"
        )
        if d.rollout_reason:
            lines.append(f"           {visible(d.rollout_reason)}")
    if view.events:
        lines.append("recent events:")
        lines += [f"  {_moment(event.at)}  {visible(event.message)}" for event in view.events]
    return "\n".join(lines)


async def ecs_command(args: argparse.Namespace) -> int:
    config = load_config()
    query = service_query(config, args.environment, args.service)
    try:
        view: EcsService = await read_aws(describe_ecs_service, build_aws_clients(config).ecs, config, query)
    except ApplicationError as error:
        print(f"runbook: error: {visible(error.message)}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json(view.model_dump(mode="json"))
    else:
        print(render_ecs(view))
    return EXIT_OK


def _log_line(event: LogEvent) -> str:
    return f"{_moment(event.at)} {visible(event.stream)} {visible(event.message)}"


async def logs_command(args: argparse.Namespace) -> int:
    """`aws logs tail`: the lines since --since, then with --follow every new one until Ctrl-C."""
    config = load_config()
    query = service_query(config, args.environment, args.service)
    since = parse_duration(args.since)
    request = LogQuery(**query.model_dump(), start=datetime.now(UTC) - since, text=args.filter)
    logs = build_aws_clients(config).logs
    # Lines at the moment the next read starts from, already printed: that read returns them again.
    printed: set[str] = set()
    while True:
        try:
            tail = await read_aws(tail_logs, logs, config, request)
        except ApplicationError as error:
            print(f"runbook: error: {visible(error.message)}", file=sys.stderr)
            return EXIT_FAILED
        fresh = [event for event in tail.events if event.id not in printed]
        if args.json and not args.follow:
            print_json({**tail.model_dump(mode="json"), "since": request.start.isoformat(), "filter": args.filter})
        elif args.json:
            for event in fresh:
                print(json.dumps(event.model_dump(mode="json")), flush=True)
        elif fresh:
            for event in fresh:
                print(_log_line(event), flush=True)
        elif not args.follow:
            containing = f" containing {args.filter!r}" if args.filter else ""
            print(f"no lines in {tail.log_group} in the last {args.since}{visible(containing)}")
        if not args.follow:
            return EXIT_OK
        if tail.events:
            request.start = tail.events[-1].at
            printed = {event.id for event in tail.events if event.at == request.start}
        await asyncio.sleep(LOGS_POLL_SECONDS)


HANDLERS = {
    ("rollback", None): rollback,
    ("assess", None): assess_command,
    ("ecs", None): ecs_command,
    ("logs", None): logs_command,
}
