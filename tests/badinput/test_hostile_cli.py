"""The CLI facing what others wrote and what is not there.

- Text from outside (a note, a user name, a workflow ID, a search attribute, an incident's summary)
  reaches the terminal with its control and bidi characters made visible: no signal can clear the
  screen, retitle the window or reorder a line. `--json` is escaped by JSON.
- A workflow of another kind, one that no worker serves, one whose workflow task keeps failing, and
  a reader that went away: one line and the documented exit code, never a traceback.
- Every free-text argument is bounded as its payload is (runbook/limits.py): exit 2, one line
  naming the argument, its length and the limit, nothing started.

The command lines run as forks of one process that imported the CLI once (cli_forks.py), each
with a runbook.toml of its own task queue: whatever one started is found on that queue afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
import unicodedata
import uuid
from datetime import timedelta
from typing import NamedTuple

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair
from temporalio.service import RPCError, RPCStatusCode

from runbook import search
from starter.commands import verification_request
from tests.support import PROJECT, cli_forked, eventually, until
from workflows.verification import Verification

COLUMNS = ("case", "input", "expected", "observed")
ANSWERS_TABLE = "runbook CLI: workflows that cannot answer"
NO_SUCH_INCIDENT = "INC-20000101-9999"

CLEAR = "\x1b[2J\x1b[H\x1b[32mAPPROVED\x1b[0m"  # clears the screen, paints APPROVED in green
TITLE = "\x1b]0;deploy APPROVED\x07"  # an OSC sequence: the window's title
BIDI = "\u202eDEVORPPA"  # a right-to-left override: shown as APPROVED
FORGED = "ok\n  PASSED   payments-process-correctly"  # a newline forging a checklist line
C1 = "\x9b2J"  # the 8-bit CSI: clears the screen on terminals that take C1 controls
ORDINARY = "rolled → fine ✓ 🚀 café 👩‍💻"


def raw(char: str) -> bool:
    """What a terminal would act on or hide: controls but the line breaks between lines, line and
    paragraph separators, and format characters but the joiners that compose emoji."""
    category = unicodedata.category(char)
    return char != "\n" and (category in ("Cc", "Zl", "Zp") or (category == "Cf" and char not in "\u200c\u200d"))


def raw_controls(text: str) -> list[str]:
    return [f"U+{ord(char):04X}" for char in text if raw(char)]


def plain(text: str) -> str:
    """For the table: what the old code printed raw, escaped, and the rest as it is."""
    return "".join(ascii(char)[1:-1] if raw(char) or char == "\n" else char for char in text)


def strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for each in value.values() for text in strings(each)]
    if isinstance(value, list):
        return [text for each in value for text in strings(each)]
    return [value] if isinstance(value, str) else []


class Case(NamedTuple):
    name: str
    argv: list[str]
    code: int  # the exit code expected
    expected: list[str]  # each in the output (standard output for 0, the one line on standard error otherwise)
    env: dict[str, str] = {}


def case(name: str, argv: list[str], code: int, *expected: str, env: dict[str, str] | None = None) -> Case:
    return Case(name, argv, code, list(expected), env or {})


# {manual}: a verification whose checklist people ticked with hostile notes and names (signals, as
# from the UI); {odd}: a verification whose ID and stage carry escapes, on a queue no worker serves.
ESCAPES = [
    case("status: a note that clears the screen", ["status", "{manual}"], 0, r"\x1b[2J\x1b[H\x1b[32mAPPROVED"),
    case("status: a user name with a right-to-left override", ["status", "{manual}"], 0, r"\u202eDEVORPPA"),
    case("status: an OSC window title in a note", ["status", "{manual}"], 0, r"\x1b]0;deploy APPROVED\x07"),
    case("status: a newline forging a checklist line", ["status", "{manual}"], 0, r"ok\x0a  PASSED   payments"),
    case("status: an 8-bit CSI in a note", ["status", "{manual}"], 0, r"\x9b2J"),
    case("status: ordinary Unicode kept", ["status", "{manual}"], 0, ORDINARY),
    case("status --json: escaped by JSON", ["status", "{manual}", "--json"], 0, r"\u001b[2J", r"\u202e"),
    case("list: a workflow ID and a stage with escapes", ["list", "--kind", "verification"], 0, r"\x1b[2J", r"\x07"),
    case("list --json: escaped by JSON", ["list", "--kind", "verification", "--json"], 0, r"\u001b[2J"),
    case("list --kind incident: a summary and a name", ["list", "--kind", "incident"], 0, r"\x1b[2J", r"\u202e"),
    case("check: a refusal that names the item", ["check", "{manual}", CLEAR], 2, r"\x1b[2J"),
]

ANSWERS = [
    case(
        "status: an environment lock", ["status", "{lock}"], 2, "{lock} is not a runbook procedure", "EnvironmentLock"
    ),
    case("approve: an environment lock", ["approve", "{lock}"], 2, "{lock} is not a runbook procedure"),
    case("cancel: an environment lock", ["cancel", "{lock}"], 2, "{lock} is not a runbook procedure"),
    case("status: no worker serves it", ["status", "{unserved}"], 3, "no worker answers for task queue", "make up"),
    case("status: its workflow task keeps failing", ["status", "{broken}"], 1, "{broken} is stuck", "task has failed"),
    case("approve: its workflow task keeps failing", ["approve", "{broken}", "--as", "bob"], 1, "{broken} is stuck"),
    case("check: its workflow task keeps failing", ["check", "{broken}", "user-can-log-in"], 1, "{broken} is stuck"),
    case("cancel: its workflow task keeps failing", ["cancel", "{broken}"], 1, "{broken} is stuck"),
]


def long(length: int) -> str:
    return "x" * length


def bound(argument: str, length: int, limit: int) -> str:
    return f"bad {argument}: {length:,} characters; at most {limit:,} characters"


BOUNDS = [
    case(
        "verify: 120,000-character --as",
        ["verify", "staging", "--manual", "--as", long(120_000)],
        2,
        bound("--as", 120_000, 100),
    ),
    case(
        "verify: 101-character RUNBOOK_USER",
        ["verify", "staging", "--manual"],
        2,
        bound("--as", 101, 100),
        env={"RUNBOOK_USER": long(101)},
    ),
    case(
        "check: 2,001-character --note",
        ["check", "{bounded}", "user-can-log-in", "--note", long(2001)],
        2,
        bound("--note", 2001, 2000),
    ),
    case("check: 201-character item", ["check", "{bounded}", long(201)], 2, bound("item", 201, 200)),
    case(
        "approve: 2,001-character --comment",
        ["approve", "{bounded}", "--comment", long(2001)],
        2,
        bound("--comment", 2001, 2000),
    ),
    case(
        "reject: 2,001-character --reason",
        ["reject", "{bounded}", "--reason", long(2001)],
        2,
        bound("--reason", 2001, 2000),
    ),
    case(
        "decide: 2,001-character --note",
        ["decide", "{bounded}", "rollback", "--note", long(2001)],
        2,
        bound("--note", 2001, 2000),
    ),
    case(
        "rollback: 2,001-character --reason",
        ["rollback", "staging", "api-gateway", "--reason", long(2001)],
        2,
        bound("--reason", 2001, 2000),
    ),
    case(
        "incident declare: 120,000-character --as",
        ["incident", "declare", "--severity", "P4", "--summary", "s", "--as", long(120_000)],
        2,
        bound("--as", 120_000, 100),
    ),
    case(
        "incident declare: 501-character --summary",
        ["incident", "declare", "--severity", "P4", "--summary", long(501)],
        2,
        bound("--summary", 501, 500),
    ),
    case(
        "incident ack: 2,001-character --note",
        ["incident", "ack", NO_SUCH_INCIDENT, "--note", long(2001)],
        2,
        bound("--note", 2001, 2000),
    ),
    case(
        "incident update: 2,001-character --action",
        ["incident", "update", NO_SUCH_INCIDENT, "--status", "Mitigating", "--action", long(2001)],
        2,
        bound("--action", 2001, 2000),
    ),
    case(
        "incident update: 201-character --eta",
        ["incident", "update", NO_SUCH_INCIDENT, "--status", "Mitigating", "--action", "a", "--eta", long(201)],
        2,
        bound("--eta", 201, 200),
    ),
    case(
        "incident mitigate: 2,001-character --reason",
        ["incident", "mitigate", NO_SUCH_INCIDENT, "scale_up", "--reason", long(2001)],
        2,
        bound("--reason", 2001, 2000),
    ),
    case(
        "incident resolve: 4,001-character --resolution",
        ["incident", "resolve", NO_SUCH_INCIDENT, "--resolution", long(4001), "--root-cause", "c"],
        2,
        bound("--resolution", 4001, 4000),
    ),
    case(
        "incident resolve: 4,001-character --follow-up",
        [
            "incident",
            "resolve",
            NO_SUCH_INCIDENT,
            "--resolution",
            "r",
            "--root-cause",
            "c",
            "--follow-up",
            "a",
            "--follow-up",
            long(4001),
        ],
        2,
        bound("--follow-up", 4001, 4000),
    ),
    case(
        "incident severity: 2,001-character --reason",
        ["incident", "severity", NO_SUCH_INCIDENT, "P2", "--reason", long(2001)],
        2,
        bound("--reason", 2001, 2000),
    ),
    case(
        "control: check at the limits (--as the longest person name, 63, --note 2,000)",
        ["check", "{bounded}", "user-can-log-in", "--as", long(63), "--note", long(2000)],
        0,
        "accepted",
    ),
]

CASES = ESCAPES + ANSWERS + BOUNDS


class Outcome(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    started: list[str]


@dataclasses.dataclass
class Run:
    outcomes: dict[str, Outcome]
    ids: dict[str, str]


async def start_verification(client: Client, stack, label: str, **options) -> WorkflowHandle:
    request = verification_request(stack.config, "staging", False, True, "tester")
    options.setdefault("id", f"verify-staging-hostile-{label}-{uuid.uuid4().hex[:8]}")
    options.setdefault("task_queue", stack.config.temporal.task_queue)
    options.setdefault("search_attributes", search.start_attributes("verification", "staging", request.services))
    return await client.start_workflow(Verification.run, request, execution_timeout=timedelta(minutes=10), **options)


async def failing_task(client: Client, stack) -> WorkflowHandle:
    """A Verification whose input it cannot read: its first workflow task fails, and every retry."""
    handle = await client.start_workflow(
        "Verification",
        {"not": "a verification request"},
        id=f"verify-staging-hostile-broken-{uuid.uuid4().hex[:8]}",
        task_queue=stack.config.temporal.task_queue,
        execution_timeout=timedelta(minutes=10),
    )

    async def attempt() -> int:
        return (await handle.describe()).raw_description.pending_workflow_task.attempt

    await eventually(attempt, "its workflow task failed twice", 60, accept=lambda number: number >= 3)
    return handle


async def someone_ticks(handle: WorkflowHandle) -> None:
    """Signals, as from the Temporal UI: notes and names the CLI never checked."""
    ticks = [
        {"item": "user-can-log-in", "user": BIDI, "passed": True, "note": CLEAR},
        {"item": "user-can-view-marketplace", "user": "mallory", "passed": True, "note": TITLE + " " + C1},
        {"item": "user-can-create-view-projects", "user": "mallory", "passed": False, "note": FORGED},
        {"item": "notifications-are-delivered", "user": "alice", "passed": True, "note": ORDINARY},
    ]
    for tick in ticks:
        await handle.signal("check", tick)
    await until(
        handle,
        lambda current: sum(1 for item in current.details.get("checklist", []) if item.get("by")) == len(ticks),
        "every item ticked",
    )


async def end(handle: WorkflowHandle) -> None:
    try:
        await handle.terminate("hostile-cli cases done")
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:  # not found: closed already
            raise


@pytest.fixture(scope="module")
async def run(e2e_stack, temporal_env, tmp_path_factory) -> Run:
    client = temporal_env.client
    queue = e2e_stack.config.temporal.task_queue
    manual = await start_verification(client, e2e_stack, "manual")
    bounded = await start_verification(client, e2e_stack, "bounded")
    unserved = await start_verification(client, e2e_stack, "unserved", task_queue=f"{queue}-nobody")
    stage = SearchAttributePair(search.STAGE, TITLE)
    odd = await start_verification(
        client,
        e2e_stack,
        "odd",
        id=f"verify-staging-{CLEAR}-{uuid.uuid4().hex[:8]}",
        task_queue=f"{queue}-nobody",
        search_attributes=search.start_attributes("verification", "staging", []).updated(stage),
    )
    lock = await client.start_workflow(
        "EnvironmentLock", None, id=f"lock-hostile-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    broken = await failing_task(client, e2e_stack)
    await someone_ticks(manual)
    declared = e2e_stack.cli("incident", "declare", "--severity", "P4", "--summary", CLEAR + " " + BIDI, "--as", "erin")
    assert declared.returncode == 0, declared.stderr
    incident = client.get_workflow_handle(declared.stdout.splitlines()[0])
    ids = {"manual": manual.id, "bounded": bounded.id, "unserved": unserved.id, "odd": odd.id}
    ids |= {"lock": lock.id, "broken": broken.id}
    folder = tmp_path_factory.mktemp("hostile-cli")
    # The control case's longest --as is a person, as whoever acts must be (a name is at most 63).
    text = e2e_stack.config_path.read_text().replace("[people]\n", f"[people]\n{long(63)} = {{}}\n")

    def config_of(number: int) -> str:
        path = folder / f"case-{number}.toml"
        path.write_text(text.replace(f'task_queue = "{queue}"', f'task_queue = "{queue}-hostile-{number}"'))
        return str(path)

    requests = [
        {"argv": [arg.format(**ids) for arg in each.argv], "env": {"RUNBOOK_CONFIG": config_of(number), **each.env}}
        for number, each in enumerate(CASES)
    ]
    try:
        results = await asyncio.to_thread(cli_forked, e2e_stack.env, requests)
        marker = await start_verification(client, e2e_stack, "marker", task_queue=f"{queue}-hostile-marker")
        await marker.terminate("visibility marker")

        async def listed() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            async for execution in client.list_workflows(f'TaskQueue STARTS_WITH "{queue}-hostile-"'):
                found.setdefault(execution.task_queue, []).append(f"{execution.workflow_type} {execution.id}")
            return found

        started = await eventually(
            listed, "the marker in visibility", 30, accept=lambda f: f"{queue}-hostile-marker" in f
        )
        for found in started.values():
            for each in found:
                await end(client.get_workflow_handle(each.split(" ", 1)[1]))
    finally:
        for handle in (manual, bounded, unserved, odd, lock, broken, incident):
            await end(handle)
    outcomes = {
        each.name: Outcome(r["returncode"], r["stdout"], r["stderr"], started.get(f"{queue}-hostile-{number}", []))
        for number, (each, r) in enumerate(zip(CASES, results, strict=True))
    }
    return Run(outcomes, ids)


def shown(argv: list[str]) -> str:
    def one(arg: str) -> str:
        if len(arg) > 24 and set(arg) == {"x"}:
            return f"<{len(arg):,} chars>"
        return plain(arg)

    return " ".join(["runbook", *map(one, argv)])


def observed(outcome: Outcome, expected: list[str]) -> str:
    lines = outcome.stderr.strip().splitlines()
    said = lines[-1][:70] if len(lines) == 1 else f"{len(lines)} lines on stderr: {lines[-1][:50]}" if lines else ""
    if outcome.returncode == 0:
        said = "shows " + " … ".join(expected) if all(each in outcome.stdout for each in expected) else said
    found = raw_controls(outcome.stdout + outcome.stderr)
    controls = f"; RAW {len(found)} controls ({', '.join(sorted(set(found))[:4])})" if found else ""
    started = f"; STARTED {', '.join(outcome.started)}" if outcome.started else ""
    return f"exit {outcome.returncode}: {plain(said)}{controls}{started}"


def judge(run: Run, each: Case, table: str, outcome_table) -> Outcome:
    outcome = run.outcomes[each.name]
    expected = [fragment.format(**run.ids) for fragment in each.expected]
    wanted = f"exit {each.code}: {' … '.join(expected)[:60]}, no raw controls"
    outcome_table(table, COLUMNS, each.name, shown(each.argv), wanted, observed(outcome, expected))
    assert outcome.returncode == each.code, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    assert raw_controls(outcome.stdout + outcome.stderr) == [], outcome.stdout + outcome.stderr
    said = outcome.stdout if each.code == 0 else outcome.stderr
    if each.code != 0:
        assert len(said.splitlines()) == 1 and said.startswith("runbook"), said
    for fragment in expected:
        assert fragment in said, (fragment, said[-3000:])
    assert outcome.started == []
    return outcome


@pytest.mark.parametrize("each", ESCAPES, ids=[each.name for each in ESCAPES])
def test_outside_text_reaches_the_terminal_made_visible(run, each, outcome_table):
    outcome = judge(run, each, "runbook CLI: control and bidi characters from workflows", outcome_table)
    if "--json" in each.argv:
        assert any(CLEAR in text for text in strings(json.loads(outcome.stdout)))
    if each.argv[:1] == ["status"] and "--json" not in each.argv:
        assert not any(line.startswith("  PASSED   payments") for line in outcome.stdout.splitlines())


@pytest.mark.parametrize("each", ANSWERS, ids=[each.name for each in ANSWERS])
def test_a_workflow_that_cannot_answer_gets_one_line(run, each, outcome_table):
    judge(run, each, ANSWERS_TABLE, outcome_table)


@pytest.mark.parametrize("each", BOUNDS, ids=[each.name for each in BOUNDS])
def test_free_text_is_bounded_as_its_payload_is(run, each, outcome_table):
    judge(run, each, "runbook CLI: free-text arguments over their payload's limit", outcome_table)


def test_status_to_a_reader_that_went_away_ends_quietly(e2e_stack, outcome_table):
    """`runbook status ID | head`: the reader closes before the status is written."""
    verification = e2e_stack.cli("verify", "staging", "--manual", "--json")
    workflow_id = json.loads(verification.stdout)["id"]
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "starter", "status", workflow_id],
            cwd=PROJECT,
            env=e2e_stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        process.stdout.close()  # long before the CLI has imported what it needs and answered
        started = time.monotonic()
        _, errors = process.communicate(timeout=60)
    finally:
        e2e_stack.cli("cancel", workflow_id)
    lines = errors.strip().splitlines()
    said = f"exit {process.returncode}: {len(lines)} lines on stderr{': ' + lines[-1] if lines else ''}"
    outcome_table(
        ANSWERS_TABLE,
        COLUMNS,
        "status: the reader went away",
        "runbook status ID | (closed at once)",
        "exit 141, nothing said",
        f"{said} ({time.monotonic() - started:.1f}s)",
    )
    assert errors == ""
    assert process.returncode == 141
