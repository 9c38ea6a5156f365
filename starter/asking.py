"""The commands that ask a running procedure: `status`, and the decisions people send it (approve,
reject, decide, check, done) or its cancellation; and how every command is run (who acts, exit codes).

One query or one update each, so they start as a bare SDK client does, within 1.3× of it
(bench/cli_speed.py): they read runbook.toml's [temporal] and [people] only (runbook/settings.py), and
send plain JSON and read runbook/status.py's dataclasses with the SDK's own converter, importing
neither pydantic nor the models (tests/unit/test_cli_startup.py). A decision's payload is still
validated where it counts, by the workflow that takes it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from runbook import ssh, validate
from runbook.settings import CommandSettings, ConfigError, command_settings, resolve_person, unknown_person
from runbook.status import DECISIONS_WITH_PROOF, HandlerOutcome, ProcedureStatus, State, jsonable
from runbook.temporal import TemporalUnreachable, connect
from starter import signing
from starter.console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Stuck,
    Unreachable,
    UsageError,
    colour_wanted,
    print_json,
    visible,
)
from starter.follow import follow_until_end
from starter.render import render_status

# The workflows that are runbook procedures, each answering `status`, by their registered names
# (fixed: recorded histories replay against them). The environment lock is not one.
PROCEDURE_TYPES = (
    "Verification",
    "StandardDeployment",
    "HotfixDeployment",
    "Rollback",
    "Redeploy",
    "Incident",
    "ActionItem",
)
# A worker answers a query in milliseconds; the server would hold one that no worker takes for 30 s.
QUERY_TIMEOUT = timedelta(seconds=5)
# A workflow task is tried again after a worker died mid-task; failing beyond that, it is broken.
FAILING_TASK_ATTEMPTS = 3


async def describe_procedure(client: Client, workflow_id: str) -> tuple[WorkflowHandle, WorkflowExecutionDescription]:
    """The procedure by ID, or UsageError naming the ID when there is none (or it is no ID at all)."""
    if not workflow_id.strip():
        raise UsageError("empty procedure ID; see `runbook list`")
    handle = client.get_workflow_handle(workflow_id)
    try:
        return handle, await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UsageError(f"no procedure with ID {workflow_id!r}; see `runbook list`") from None
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise UsageError(f"bad procedure ID {workflow_id!r}: {error.message}") from None
        raise


def refuse_stuck(workflow_id: str, description: WorkflowExecutionDescription) -> None:
    """Stuck when the procedure's workflow task keeps failing: no query, update or cancellation
    reaches its code until the worker can run it again."""
    task = description.raw_description.pending_workflow_task
    if task.attempt >= FAILING_TASK_ATTEMPTS:
        raise Stuck(
            f"{workflow_id} is stuck: its workflow task has failed {task.attempt - 1} times on task queue "
            f"{description.task_queue}, so it can neither answer nor act; the worker's log or the Temporal UI says why"
        )


async def procedure_handle(client: Client, workflow_id: str, *, running: bool = False) -> WorkflowHandle:
    """A runbook procedure that can be asked: a workflow of another kind is refused, and so is a
    stuck one. With running, a closed one too: a decision or cancellation could not reach it."""
    handle, description = await describe_procedure(client, workflow_id)
    if description.workflow_type not in PROCEDURE_TYPES:
        raise UsageError(
            f"{workflow_id} is not a runbook procedure (a workflow of type {description.workflow_type});"
            " see `runbook list`"
        )
    if running and description.status != WorkflowExecutionStatus.RUNNING:
        closed = description.status.name if description.status else "closed"
        raise UsageError(f"{workflow_id} is closed ({closed}); see runbook status {workflow_id}")
    refuse_stuck(workflow_id, description)
    return handle


async def execute_decision(
    handle: WorkflowHandle, name: str, payload: dict[str, Any], answer: type[HandlerOutcome] = HandlerOutcome
) -> HandlerOutcome:
    """The decision as an update of the same name as the signal, answered as `answer`; a procedure
    of another kind, or one that closed meanwhile, is a UsageError, not a traceback."""
    try:
        return await handle.execute_update(name, payload, result_type=answer)
    except WorkflowUpdateFailedError as error:
        raise UsageError(
            f"{handle.id} does not take `{name}`: {getattr(error.cause, 'message', error.cause)}"
        ) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UsageError(f"{handle.id} is closed: {error.message}; see runbook status {handle.id}") from None
        raise


async def procedure_client(settings: CommandSettings | None = None) -> Client:
    """A client that sends plain JSON and reads runbook/status.py's answers: no pydantic."""
    return await connect(settings or command_settings(), typed=False)


async def check(args: argparse.Namespace) -> int:
    client = await procedure_client()
    handle = await procedure_handle(client, args.id, running=True)
    payload = {"item": args.item, "user": args.user, "passed": not args.fail, "note": args.note}
    outcome = await execute_decision(handle, "check", payload)
    return report_outcome(args, outcome, f"{args.item}: {'failed' if args.fail else 'passed'}")


def report_outcome(args: argparse.Namespace, outcome: HandlerOutcome, accepted_text: str) -> int:
    if args.json:
        print_json(jsonable(outcome))
    elif outcome.accepted:
        print(f"accepted: {accepted_text}")
    else:
        print(f"runbook: refused: {visible(outcome.reason)}", file=sys.stderr)
    return EXIT_OK if outcome.accepted else EXIT_USAGE


STATE_EXIT = {State.COMPLETED: EXIT_OK, State.RESOLVED: EXIT_OK, State.RUNNING: EXIT_OK}


async def query_status(handle: WorkflowHandle) -> ProcedureStatus:
    """The status from the procedure's worker; Unreachable naming the task queue when none answers,
    Stuck when its workflow task fails meanwhile."""
    try:
        return await handle.query("status", result_type=ProcedureStatus, rpc_timeout=QUERY_TIMEOUT)
    except WorkflowQueryFailedError as error:
        raise Stuck(f"{handle.id} cannot answer `status`: {error.message}") from None
    except RPCError as error:
        if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise
    description = await handle.describe()
    refuse_stuck(handle.id, description)
    raise Unreachable(f"no worker answers for task queue {description.task_queue}: start it with `make up`")


async def show(handle: WorkflowHandle, as_json: bool, follow: bool) -> int:
    """Print a procedure's status; with follow, keep showing its changes until it ends (starter/follow.py)."""
    if follow:
        state = await follow_until_end(lambda: query_status(handle), as_json)
        return STATE_EXIT.get(state, EXIT_FAILED)
    current = await query_status(handle)
    if as_json:
        print_json(jsonable(current))
    else:
        print(render_status(current, datetime.now(UTC), colour=colour_wanted(sys.stdout)))
    return STATE_EXIT.get(current.state, EXIT_FAILED)


async def status(args: argparse.Namespace) -> int:
    client = await procedure_client()
    return await show(await procedure_handle(client, args.id), args.json, args.follow)


async def send_decision(args: argparse.Namespace, name: str, payload: dict[str, Any], accepted_text: str) -> int:
    """The decision as an update; one of the four-eyes decisions signed with the person's SSH key
    when they have one at hand (--key, RUNBOOK_SSH_KEY, ssh-agent), checked before anything is sent."""
    settings = command_settings()
    signer = (
        signing.find_signer(args.key, args.user, settings.ssh_keys.get(args.user, ()))
        if name in DECISIONS_WITH_PROOF
        else None
    )
    client = await procedure_client(settings)
    handle = await procedure_handle(client, args.id, running=True)
    if signer is not None:
        # Signed last, so that its validity (minutes) is spent on the way, not on connecting.
        payload = signing.signed_payload(signer, payload, workflow_id=handle.id, decision=name)
        accepted_text += f" (signed with SSH key {ssh.fingerprint(signer.public_key)})"
    outcome = await execute_decision(handle, name, payload)
    return report_outcome(args, outcome, accepted_text)


async def approve(args: argparse.Namespace) -> int:
    return await send_decision(
        args, "approve", {"approver": args.user, "comment": args.comment}, f"approved by {args.user}"
    )


async def reject(args: argparse.Namespace) -> int:
    validate.reason(args.reason)
    return await send_decision(
        args, "reject", {"approver": args.user, "reason": args.reason}, f"rejected by {args.user}"
    )


async def decide_command(args: argparse.Namespace) -> int:
    return await send_decision(
        args, "decide", {"user": args.user, "action": args.action, "note": args.note}, f"{args.action} by {args.user}"
    )


async def done_command(args: argparse.Namespace) -> int:
    """A post-mortem's action item closed, with what was done; its owner is reminded no more."""
    if not args.note.strip():
        raise UsageError("empty --note: say what was done (a PR, a ticket)")
    return await send_decision(
        args, "done", {"user": args.user, "note": args.note.strip()}, f"{args.id} done by {args.user}"
    )


async def cancel(args: argparse.Namespace) -> int:
    client = await procedure_client()
    handle = await procedure_handle(client, args.id, running=True)
    await handle.cancel()
    if args.json:
        print_json({"id": args.id, "cancel_requested": True})
    else:
        print(
            f"cancellation requested for {args.id}; "
            f"a deployment rolls back what it changed (runbook status {args.id} --follow)"
        )
    return EXIT_OK


async def as_person(handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace) -> int:
    """Who acts (--as, RUNBOOK_USER, then the login name) is a person in [people], by the name
    configured there (Alice is alice), so that four eyes compares people, not spellings; anyone
    else is refused before anything is sent."""
    if getattr(args, "user", None) is not None:
        people = command_settings().ssh_keys
        person = resolve_person(people, args.user)
        if person is None:
            raise UsageError(f"{unknown_person(people, args.user)}; say who acts with --as NAME or RUNBOOK_USER")
        args.user = person
    return await handler(args)


def run(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """A command to its exit code: bad usage or input 2, the stack or Temporal unreachable 3."""
    try:
        return asyncio.run(coroutine_factory())
    except (UsageError, validate.InvalidInput, ConfigError) as error:
        print(f"runbook: error: {visible(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except Stuck as error:
        print(f"runbook: error: {visible(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except (Unreachable, TemporalUnreachable) as error:
        print(f"runbook: error: {visible(str(error))}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130


HANDLERS = {
    ("status", None): status,
    ("approve", None): approve,
    ("reject", None): reject,
    ("decide", None): decide_command,
    ("done", None): done_command,
    ("check", None): check,
    ("cancel", None): cancel,
}
