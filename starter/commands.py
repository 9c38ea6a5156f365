"""What the `runbook` commands that start procedures, or read Temporal's list, do; those asking a
running procedure are in starter/asking.py, the incident and AWS commands in modules of their own.

The activities, httpx and the requests of the procedures this module starts (their pydantic models)
are imported inside the commands that use them, so that the others start faster
(tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowHandle,
)
from temporalio.service import RPCError

from runbook import search, validate
from runbook.config import RunbookConfig, load_config
from runbook.durations import parse_duration
from runbook.models import HealthCheckRequest, LockGrant, LockRequest, RollbackResult
from runbook.redeploy import RedeployRequest, RedeployResult
from runbook.status import State
from runbook.temporal import connect
from starter.asking import describe_procedure, query_status, show
from starter.console import (
    EXIT_FAILED,
    EXIT_OK,
    Stuck,
    Unreachable,
    UsageError,
    colour_wanted,
    painted,
    print_json,
    visible,
    visible_lines,
)
from starter.parser import MAX_LIST_LIMIT
from starter.render import render_status

if TYPE_CHECKING:
    from runbook.appendix import ServiceQuery
    from runbook.deployment import DeploymentRequest
    from runbook.verification import VerificationRequest


# What a procedure the CLI waits for ends with: a result that says its state.
Finished = TypeVar("Finished", RollbackResult, RedeployResult)
# Any procedure's result, as start_procedure types its handle.
Result = TypeVar("Result", bound=BaseModel)


def new_workflow_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


async def start_procedure(
    client: Client,
    config: RunbookConfig,
    workflow_type: str,
    request: BaseModel,
    workflow_id: str,
    result_type: type[Result],
    attributes: tuple[str, str, list[str], str],
) -> WorkflowHandle[Any, Result]:
    """A procedure started by its registered name on the runbook's task queue; `attributes` are
    its search attributes (kind, environment, services, version), so the UI can list it."""
    return await client.start_workflow(
        workflow_type,
        request,
        id=workflow_id,
        result_type=result_type,
        task_queue=config.temporal.task_queue,
        search_attributes=search.start_attributes(*attributes),
    )


def ui_link(config: RunbookConfig, workflow_id: str) -> str:
    return config.temporal.workflow_link(workflow_id)


async def health_check(args: argparse.Namespace) -> int:
    import httpx

    from activities.health import check_environment
    from runbook.health import render_report

    config = load_config()
    config.environment(args.environment)
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, config, HealthCheckRequest(environment=args.environment, full=args.full))
    if args.json:
        print_json({**report.model_dump(mode="json"), "healthy": report.healthy})
    else:
        # The fleet's answers are outside text too.
        print(visible_lines(render_report(report)))
    return EXIT_OK if report.healthy else EXIT_FAILED


def verification_request(
    config: RunbookConfig, environment: str, full: bool, manual: bool, user: str
) -> VerificationRequest:
    from runbook.verification import VerificationRequest

    config.environment(environment)
    return VerificationRequest(
        environment=environment,
        full=full,
        manual=manual,
        requested_by=user,
        services=config.services.names,
        checklist=config.verification.checklist,
        reminder_every=config.verification.reminder_every,
        deadline=config.verification.deadline,
        window=config.thresholds.verification_window,
        error_rate_percent=config.thresholds.error_rate_percent,
        channel=config.channels.deployments,
    )


async def verify(args: argparse.Namespace) -> int:
    from runbook.verification import VerificationResult

    config = load_config()
    request = verification_request(config, args.environment, args.full, args.manual, args.user)
    client = await connect(config)
    workflow_id = new_workflow_id(f"verify-{args.environment}")
    handle = await start_procedure(
        client,
        config,
        "Verification",
        request,
        workflow_id,
        VerificationResult,
        ("verification", args.environment, request.services, ""),
    )
    if not args.json:
        print(workflow_id)
    if args.manual:
        if args.json:
            print_json({"id": workflow_id, "ui": ui_link(config, workflow_id)})
        else:
            print(f"UI: {ui_link(config, workflow_id)}")
            items = ", ".join(request.checklist)
            print(f"tick each item: runbook check {workflow_id} ITEM [--fail --note TEXT]; items: {items}")
        return EXIT_OK
    result: VerificationResult = await handle.result()
    if args.json:
        print_json({"id": workflow_id, **result.model_dump(mode="json")})
    else:
        print(render_status(await query_status(handle), datetime.now(UTC)))
    return EXIT_OK if result.passed else EXIT_FAILED


async def list_procedures(args: argparse.Namespace) -> int:
    config = load_config()
    client = await connect(config)
    executions, more = await newest_procedures(client, search.procedures_query(args.kind or "", args.open), args.limit)
    rows = []
    for execution in executions:
        attributes = execution.typed_search_attributes
        rows.append(
            {
                "id": execution.id,
                "kind": attributes.get(search.KIND) or "",
                "environment": attributes.get(search.ENVIRONMENT) or "",
                "stage": attributes.get(search.STAGE) or "",
                "status": execution.status.name if execution.status else "",
                "started": execution.start_time.isoformat(timespec="seconds"),
            }
        )
    if args.kind == "action-item":
        await add_action_item_facts(client, rows)
    if args.json:
        print_json(rows)
    else:
        colour = colour_wanted(sys.stdout)
        for row in rows:
            shown = {name: visible(value) for name, value in row.items()}
            # The stage ends as the procedure's state (rolled_back, completed), coloured as `status` colours it.
            stage = painted(f"{shown['stage']:<18}", row["stage"].upper(), colour)
            where = f"{shown['kind']:<13} {shown['environment']:<11} {stage}"
            item = f"  owner {shown['owner']}, due {shown['due'][:16]}: {shown['text']}" if "owner" in row else ""
            status_word = painted(f"{shown['status']:<10}", row["status"], colour)
            print(f"{shown['id']:<44} {where} {status_word} {shown['started']}{item}")
    say_if_more(more, args.limit)
    return EXIT_OK


async def newest_procedures(client: Client, query: str, limit: int) -> tuple[list[WorkflowExecution], bool]:
    """At most `limit` of the procedures `query` finds, in the server's order (newest first), read
    from the server's list query as far as needed; and whether it found more."""
    found = [execution async for execution in client.list_workflows(query, limit=limit + 1)]
    return found[:limit], len(found) > limit


def say_if_more(more: bool, limit: int) -> None:
    """On stderr, so that a script reading the rows (or --json) reads rows only."""
    if more:
        print(f"{limit} shown; --limit N for more (up to {MAX_LIST_LIMIT})", file=sys.stderr)


async def add_action_item_facts(client: Client, rows: list[dict[str, str]]) -> None:
    """Each action item's owner, due date and text, as the item tells them; blank when it cannot answer."""

    async def facts(workflow_id: str) -> dict[str, Any]:
        try:
            return (await query_status(client.get_workflow_handle(workflow_id))).details.get("action_item") or {}
        except (RPCError, Unreachable, Stuck):
            return {}

    found = await asyncio.gather(*(facts(row["id"]) for row in rows))
    for row, item in zip(rows, found, strict=True):
        row.update(owner=item.get("owner", ""), due=item.get("due", ""), text=item.get("text", ""))


async def sandbox_fault(args: argparse.Namespace) -> int:
    import httpx

    config = load_config()
    config.environment(args.environment)
    config.check_services([args.service])
    delay = parse_duration(args.delay).total_seconds() if args.mode == "slow" else None
    url = f"http://127.0.0.1:{config.sandbox.fleet_port}/_sandbox/faults"
    body = {"environment": args.environment, "service": args.service, "mode": args.mode}
    if delay is not None:
        body["delay_s"] = delay
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(url, json=body)
    except httpx.HTTPError as error:
        raise Unreachable(
            f"cannot reach the sandbox at {url}: {error or type(error).__name__} (is the stack up? make up)"
        ) from None
    if response.status_code == 400:
        raise UsageError(response.json().get("error", response.text))
    response.raise_for_status()
    if args.json:
        print_json(response.json())
    else:
        print(f"{args.environment}/{args.service}: {args.mode}" + (f" ({args.delay})" if delay is not None else ""))
    return EXIT_OK


HANDLERS = {
    ("health-check", None): health_check,
    ("verify", None): verify,
    ("list", None): list_procedures,
    ("sandbox", "fault"): sandbox_fault,
}


def requested_services(config: RunbookConfig, text: str | None) -> list[str]:
    if text is None or text == "all":
        return list(config.services.names)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        # Never read as "all": `rollback -y production ""` must not roll back every service.
        raise UsageError(f"no service named in {text!r}: give all or a,b; known: {', '.join(config.services.names)}")
    return config.check_services(names)


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on: pass -y to roll back without confirmation")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def refuse_when_busy(environment: str, grant: LockGrant) -> None:
    """One change per environment: a refused lock names who is changing it (exit 2)."""
    if not grant.granted and grant.holder:
        raise UsageError(
            f"{environment} is being changed by {grant.holder.id} ({grant.holder.kind}); wait for it or cancel it"
        )


async def to_the_end(
    handle: WorkflowHandle[Any, Finished],
    config: RunbookConfig,
    args: argparse.Namespace,
    kind: str,
    outcome: Callable[[Finished], list[str]],
) -> int:
    """A procedure the CLI started and waits for: its ID and UI link at once, then its outcome as
    lines (or one JSON object with its ID); exit 0 only if it COMPLETED."""
    if not args.json:
        print(handle.id)
        print(f"UI: {ui_link(config, handle.id)}")
    result = await handle.result()
    if args.json:
        print_json({"id": handle.id, **result.model_dump(mode="json")})
    else:
        for line in outcome(result):
            print(f"  {line}")
        print(f"{kind} {result.state.value}")
    return EXIT_OK if result.state == State.COMPLETED else EXIT_FAILED


def deployment_request(
    config: RunbookConfig,
    environment: str,
    version: str,
    services: list[str],
    user: str,
    skip_staging: bool = False,
    incident: str = "",
    no_checklist_reason: str = "",
) -> DeploymentRequest:
    from runbook.deployment import DeploymentRequest

    config.environment(environment)
    deployments = config.deployments
    return DeploymentRequest(
        environment=environment,
        version=validate.version(version),
        services=services,
        requested_by=user,
        approvers=config.approvers.users,
        channel=config.channels.deployments,
        skip_staging=skip_staging,
        incident=incident,
        approval_timeout=deployments.approval_timeout,
        approval_reminder_every=deployments.approval_reminder_every,
        monitor_window=deployments.monitor_window,
        monitor_interval=deployments.monitor_interval,
        decision_window=config.thresholds.decision_window,
        decision_timeout=deployments.decision_timeout,
        rollout_timeout=deployments.rollout_timeout,
        thresholds=config.thresholds,
        scaling=config.scaling,
        staging_verification=verification_request(config, "staging", True, False, user),
        production_verification=verification_request(config, environment, True, False, user),
        no_checklist_reason=no_checklist_reason,
        people=config.people,
        approvals=config.approvals.policy(),
    )


# Each kind's workflow, by its registered name: the CLI starts workflows without importing them.
DEPLOYMENT_TYPES = {"deployment": "StandardDeployment", "hotfix": "HotfixDeployment"}


async def launch_deployment(
    client: Client, config: RunbookConfig, kind: str, request: DeploymentRequest
) -> WorkflowHandle:
    """Start a deployment or hotfix, or refuse at once (UsageError) naming what holds the environment."""
    from activities.lock import acquire_environment
    from runbook.deployment import DeploymentResult

    workflow_id = new_workflow_id(
        f"{'deploy' if kind == 'deployment' else kind}-{request.environment}-{request.version}"
    )
    lock = LockRequest(environment=request.environment, holder_id=workflow_id, kind=kind)
    refuse_when_busy(request.environment, await acquire_environment(client, config.temporal.task_queue, lock))
    return await start_procedure(
        client,
        config,
        DEPLOYMENT_TYPES[kind],
        request,
        workflow_id,
        DeploymentResult,
        (kind, request.environment, request.services, request.version),
    )


async def start_deployment(args: argparse.Namespace, kind: str, skip_staging: bool = False, incident: str = "") -> int:
    config = load_config()
    services = requested_services(config, args.services)
    skip_reason = no_checklist_reason(args)
    request = deployment_request(
        config, args.environment, args.version, services, args.user, skip_staging, incident, skip_reason
    )
    if skip_reason and request.environment == request.staging_environment:
        raise UsageError(f"--no-checklist: a deployment to {request.environment} has no checklist to skip")
    if skip_staging:
        # Deferred: only --skip-staging reads the deployment log, and with it boto3 (start-up time).
        from starter.deployment_log import refuse_unverified_skip

        await refuse_unverified_skip(config, args.version)
    client = await connect(config)
    if incident:
        await refuse_unknown_incident(client, incident)
    handle = await launch_deployment(client, config, kind, request)
    if args.json and not args.follow:
        print_json({"id": handle.id, "ui": ui_link(config, handle.id)})
        return EXIT_OK
    print(handle.id)
    print(f"UI: {ui_link(config, handle.id)}")
    if not args.follow:
        return EXIT_OK
    return await show(handle, args.json, follow=True)


def no_checklist_reason(args: argparse.Namespace) -> str:
    """Why production's key user flows are not waited for (--no-checklist --reason TEXT), or ""."""
    if not args.no_checklist:
        if args.reason is not None:
            raise UsageError("--reason goes with --no-checklist: why the key user flows are not checked")
        return ""
    if args.reason is None:
        raise UsageError("--no-checklist needs --reason TEXT: say why the key user flows are not checked")
    return validate.reason(args.reason)


async def deploy(args: argparse.Namespace) -> int:
    return await start_deployment(args, "deployment")


async def hotfix(args: argparse.Namespace) -> int:
    return await start_deployment(args, "hotfix", skip_staging=args.skip_staging, incident=args.incident)


async def refuse_unknown_incident(client: Client, incident_id: str) -> None:
    """The hotfix's record links to the incident: a link to nothing is refused before anything starts."""
    _, description = await describe_procedure(client, incident_id)
    if description.workflow_type != "Incident":
        raise UsageError(
            f"--incident {incident_id!r} is not an incident (it is a {description.workflow_type}); "
            "see `runbook list --kind incident`"
        )


async def sandbox_github(args: argparse.Namespace) -> int:
    import httpx

    config = load_config()
    url = f"http://127.0.0.1:{config.sandbox.fleet_port}/_sandbox/github"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(url, json={"failing": None if args.failing == "none" else args.failing})
    except httpx.HTTPError as error:
        raise Unreachable(
            f"cannot reach the sandbox at {url}: {error or type(error).__name__} (is the stack up? make up)"
        ) from None
    response.raise_for_status()
    print(f"GitHub fake: {'every prerequisite passes' if args.failing == 'none' else args.failing + ' fails'}")
    return EXIT_OK


HANDLERS.update(
    {
        ("deploy", None): deploy,
        ("hotfix", None): hotfix,
        ("sandbox", "github"): sandbox_github,
    }
)


def service_query(config: RunbookConfig, environment: str, service: str) -> ServiceQuery:
    from runbook.appendix import ServiceQuery

    config.environment(environment)
    config.check_services([service])
    return ServiceQuery(environment=environment, service=service)


async def redeploy_command(args: argparse.Namespace) -> int:
    """A new deployment of the service's current revision, or refused at once naming what holds the environment."""
    from activities.lock import acquire_environment

    config = load_config()
    query = service_query(config, args.environment, args.service)
    request = RedeployRequest(
        **query.model_dump(),
        reason=validate.reason(args.reason),
        requested_by=args.user,
        channel=config.channels.deployments,
        rollout_timeout=config.deployments.rollout_timeout,
    )
    client = await connect(config)
    workflow_id = new_workflow_id(f"redeploy-{args.environment}-{args.service}")
    lock = LockRequest(environment=args.environment, holder_id=workflow_id, kind="redeploy")
    refuse_when_busy(args.environment, await acquire_environment(client, config.temporal.task_queue, lock))
    handle = await start_procedure(
        client,
        config,
        "Redeploy",
        request,
        workflow_id,
        RedeployResult,
        ("redeploy", args.environment, [args.service], ""),
    )

    def outcome(result: RedeployResult) -> list[str]:
        revision = f"{result.version} (rev {result.revision})" if result.version else ""
        deployment = f", deployment {result.deployment_id}" if result.deployment_id else ""
        return [f"{args.service}: {revision}{deployment}".rstrip(), *map(visible, result.reasons)]

    return await to_the_end(handle, config, args, "redeploy", outcome)


HANDLERS.update({("redeploy", None): redeploy_command})
