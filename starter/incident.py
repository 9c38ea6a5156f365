"""`runbook incident declare|ack|update|mitigate|resolve|severity`: Incident Response from a terminal,
and `runbook list --kind incident` with each incident's severity, age and last update.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import SearchAttributePair, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from runbook import search, validate
from runbook.action_items import parse_follow_up
from runbook.config import RunbookConfig, load_config
from runbook.durations import format_elapsed, parse_duration
from runbook.incident import IncidentRequest, ResolveOutcome
from runbook.severity import Severity
from runbook.status import jsonable
from runbook.temporal import connect
from starter.asking import execute_decision, procedure_handle, query_status, report_outcome, send_decision
from starter.commands import list_procedures, newest_procedures, say_if_more, ui_link
from starter.console import EXIT_FAILED, EXIT_OK, Stuck, Unreachable, UsageError, print_json, visible

# Incident IDs are INC-<day>-<number>; this many numbers are tried past the day's count.
ID_ATTEMPTS = 50


def _drill_window(flag: str, text: str | None) -> timedelta | None:
    """A drill's window; zero would escalate or post updates in a loop without pause."""
    if text is None:
        return None
    window = parse_duration(text)
    if not window:
        raise UsageError(f"bad {flag} {text!r}: must be longer than 0s (e.g. 2m)")
    return window


def _services(text: str | None) -> list[str]:
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return load_config().check_services(names)


async def declare(args: argparse.Namespace) -> int:
    config = load_config()
    if not args.summary.strip():
        raise UsageError('empty summary: say what users see (--summary "checkout failing")')
    try:
        request = IncidentRequest(
            severity=Severity(args.severity),
            summary=args.summary.strip(),
            services=_services(args.services),
            declared_by=args.user,
            channel=config.channels.incidents,
            known_services=config.services.names,
            policy=config.incidents,
            thresholds=config.thresholds,
            ack_within=_drill_window("--ack-within", args.ack_within),
            update_every=_drill_window("--update-every", args.update_every),
            people=config.people,
            approvals=config.approvals.policy(),
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise UsageError(f"bad --{'-'.join(map(str, first['loc']))}: {first['msg']}") from None
    incident_id = await start_incident(await connect(config), config, request)
    if args.json:
        print_json({"id": incident_id, "ui": ui_link(config, incident_id)})
    else:
        print(incident_id)
        print(f"UI: {ui_link(config, incident_id)}")
        print(f"acknowledge: runbook incident ack {incident_id}    follow: runbook status {incident_id} --follow")
    return EXIT_OK


async def start_incident(client: Client, config: RunbookConfig, request: IncidentRequest) -> str:
    """Start it under the day's next readable ID, INC-20261126-0001. Visibility counts the day's
    incidents; an ID taken meanwhile (visibility lags) is refused by the server and the next tried."""
    prefix = f"INC-{datetime.now(ZoneInfo(config.incidents.timezone)):%Y%m%d}-"
    taken = (await client.count_workflows(f"WorkflowId STARTS_WITH '{prefix}'")).count
    attributes = search.start_attributes("incident", request.environment, request.services).updated(
        SearchAttributePair(search.SEVERITY, request.severity.value)
    )
    for number in range(taken + 1, taken + 1 + ID_ATTEMPTS):
        incident_id = f"{prefix}{number:04d}"
        try:
            await client.start_workflow(
                "Incident",
                request,
                id=incident_id,
                task_queue=config.temporal.task_queue,
                search_attributes=attributes,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            continue
        return incident_id
    raise UsageError(f"no free incident ID among {prefix}{taken + 1:04d}..{taken + ID_ATTEMPTS:04d}; try again")


async def _tell(args: argparse.Namespace, name: str, payload: dict[str, Any], accepted_text: str) -> int:
    """The signal as an update: accepted, or refused and why, at once (exit 2 when refused; a
    closed procedure or one of another kind too)."""
    return await send_decision(args, name, payload, accepted_text)


async def ack(args: argparse.Namespace) -> int:
    return await _tell(
        args, "acknowledge", {"user": args.user, "note": args.note}, f"{args.id} acknowledged by {args.user}"
    )


async def update(args: argparse.Namespace) -> int:
    payload = {"user": args.user, "status": args.status, "action": args.action, "eta": args.eta}
    return await _tell(args, "update", payload, f"{args.id}: {args.status}, {args.action} (ETA {args.eta})")


async def mitigate(args: argparse.Namespace) -> int:
    services = _services(args.services)
    payload = {"user": args.user, "action": args.action, "services": services, "reason": args.reason}
    return await _tell(
        args, "mitigate", payload, f"{args.id}: {args.action} requested; runbook status {args.id} shows how it went"
    )


async def resolve(args: argparse.Namespace) -> int:
    payload = {
        "user": args.user,
        "resolution": args.resolution,
        "root_cause": args.root_cause,
        "impact": args.impact,
        "follow_up": [parse_follow_up(item) for item in args.follow_up or []],
        "improvements": args.improvement or [],
        **_forced(args),
    }
    handle = await procedure_handle(await connect(load_config()), args.id, running=True)
    # Answered once the incident has checked the affected services' health and figures.
    outcome = await execute_decision(handle, "resolve", payload, ResolveOutcome)
    unverified = outcome.unverified if isinstance(outcome, ResolveOutcome) else []
    if outcome.accepted or not unverified:
        forced = "".join(f"\n  not verified: {visible(reason)}" for reason in unverified)
        how = "resolved by force" if unverified else "resolved, its services seen healthy"
        return report_outcome(
            args, outcome, f"{args.id} {how}; the post-mortem follows in runbook status {args.id}{forced}"
        )
    # Refused on what was seen, not on what was typed: unhealthy (1), not bad input (2).
    if args.json:
        print_json(jsonable(outcome))
    else:
        print(f"runbook: {args.id} not resolved: the resolution is not verified", file=sys.stderr)
        for reason in unverified:
            print(f"  {visible(reason)}", file=sys.stderr)
        print("resolve anyway, on the record: --force --reason TEXT", file=sys.stderr)
    return EXIT_FAILED


def _forced(args: argparse.Namespace) -> dict[str, Any]:
    """`--force --reason TEXT`: resolved though not seen healthy, on the record and in the post-mortem."""
    if not args.force:
        if args.reason is not None:
            raise UsageError("--reason goes with --force: why resolve what is not seen healthy")
        return {}
    if args.reason is None:
        raise UsageError("--force needs --reason TEXT: why resolve what is not seen healthy")
    return {"force": True, "force_reason": validate.reason(args.reason)}


async def severity(args: argparse.Namespace) -> int:
    payload = {"user": args.user, "severity": args.severity, "reason": args.reason}
    return await _tell(args, "severity", payload, f"{args.id} is {args.severity} now")


SUBCOMMANDS = {
    "declare": declare,
    "ack": ack,
    "update": update,
    "mitigate": mitigate,
    "resolve": resolve,
    "severity": severity,
}


async def incident_command(args: argparse.Namespace) -> int:
    return await SUBCOMMANDS[args.incident_command](args)


async def list_with_incidents(args: argparse.Namespace) -> int:
    """`runbook list`; with `--kind incident`, each incident's severity, age and last update."""
    if args.kind != "incident":
        return await list_procedures(args)
    config = load_config()
    client = await connect(config)
    executions, more = await newest_procedures(client, search.procedures_query("incident", args.open), args.limit)
    states = await asyncio.gather(*(_incident_state(client, execution.id) for execution in executions))
    now = datetime.now(UTC)
    rows = []
    for execution, state in zip(executions, states, strict=True):
        known = state or {}
        declared = datetime.fromisoformat(known["declared_at"]) if known else execution.start_time
        updates = known.get("updates") or []
        rows.append(
            {
                "id": execution.id,
                "severity": known.get("severity") or execution.typed_search_attributes.get(search.SEVERITY) or "",
                "status": execution.status.name if execution.status else "",
                "age": format_elapsed(now - declared),
                "declared_at": declared.isoformat(timespec="seconds"),
                "acknowledged_by": (known.get("acknowledged") or {}).get("by", ""),
                "last_update": updates[-1] if updates else None,
                "summary": known.get("summary", ""),
            }
        )
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row in rows:
        last = row["last_update"]
        said = (
            f"{visible(last['status'])} {format_elapsed(now - datetime.fromisoformat(last['at']))} ago: "
            f"{visible(last['action'])}"
            if last
            else "no update yet"
        )
        shown = {name: visible(value) for name, value in row.items() if isinstance(value, str)}
        acknowledged = f"ack {shown['acknowledged_by']}" if row["acknowledged_by"] else "NOT ACKNOWLEDGED"
        standing = f"{shown['severity']:<3} {shown['status']:<10} {shown['age']:>11}  {acknowledged:<18}"
        print(f"{shown['id']:<20} {standing} {shown['summary']}  | last update: {said}")
    if not rows:
        print("no open incidents" if args.open else "no incidents", file=sys.stderr)
    say_if_more(more, args.limit)
    return EXIT_OK


async def _incident_state(client: Client, workflow_id: str) -> dict[str, Any] | None:
    """What the incident says of itself; None when it cannot answer (no worker, or stuck), and the
    row falls back on the search attributes."""
    try:
        return (await query_status(client.get_workflow_handle(workflow_id))).details.get("incident")
    except (RPCError, Unreachable, Stuck):
        return None


HANDLERS = {("incident", None): incident_command, ("list", None): list_with_incidents}
