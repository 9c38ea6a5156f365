"""Every `runbook` command given a malformed argument: exit 2, one line on standard error naming the
bad value (and what is allowed, where there is a list), nothing on standard output, nothing started.

Each case is a process of its own against the e2e stack, with a runbook.toml whose task queue is
the case's: whatever it started, a workflow or an environment lock, is found on that queue
afterwards. Most cases are forks of one process that imported the CLI once (cli_forks.py: a
subprocess spends a second and a half of CPU importing); the CONTROL cases run as a user types
them, `python -m starter`, and must end the same way. All run once per module, side by side; each
test then judges one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import uuid
from datetime import timedelta
from typing import NamedTuple

import httpx
import pytest
from temporalio.client import Client

from activities.aws import build_aws_clients
from runbook import search
from starter.commands import verification_request
from tests.support import cli_forked, eventually
from workflows.verification import Verification

ENVIRONMENTS = "known: staging, production"
SERVICES = "known: api-gateway, auth-svc, market-svc, payment-svc, notification-svc"
NO_SUCH_INCIDENT = "INC-20000101-9999"
NO_SUCH_ID = "deploy-production-v1.2.0-20000101-000000-dead"
RESOLVE = ["incident", "resolve", NO_SUCH_INCIDENT, "--resolution", "r", "--root-cause", "c"]


class Case(NamedTuple):
    name: str
    argv: list[str]
    expected: list[str]  # each must appear in the one line on standard error


def case(name: str, argv: list[str], *expected: str) -> Case:
    return Case(name, argv, list(expected))


# {running}: a verification waiting for its manual checklist; {closed}: one that was terminated.
CASES = [
    case("unknown command", ["deploi", "production"], "invalid choice: 'deploi'", "'deploy'"),
    case("health-check: unknown environment", ["health-check", "prod"], "unknown environment 'prod'", ENVIRONMENTS),
    case("verify: unknown environment", ["verify", "qa", "--manual"], "unknown environment 'qa'", ENVIRONMENTS),
    case("verify: blank --as", ["verify", "staging", "--as", " "], "argument --as: empty user"),
    case("check: unknown ID", ["check", NO_SUCH_ID, "user-can-log-in"], f"no procedure with ID '{NO_SUCH_ID}'"),
    case("check: closed procedure", ["check", "{closed}", "user-can-log-in"], "{closed} is closed (TERMINATED)"),
    case(
        "rollback: unknown environment",
        ["rollback", "-y", "prod", "api-gateway", "--reason", "r"],
        "unknown environment 'prod'",
        ENVIRONMENTS,
    ),
    case(
        "rollback: unknown service",
        ["rollback", "-y", "staging", "billing", "--reason", "r"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "rollback: empty service",
        ["rollback", "-y", "staging", "", "--reason", "r"],
        "no service named in ''",
        SERVICES,
    ),
    case(
        "rollback: bad version",
        ["rollback", "-y", "staging", "api-gateway", "v1.0;rm", "--reason", "r"],
        "bad version 'v1.0;rm'",
    ),
    case(
        "rollback: unknown version",
        ["rollback", "-y", "staging", "api-gateway", "v9.9.9", "--reason", "r"],
        "version 'v9.9.9'",
        "versions: v1.0.0, v1.1.0",
    ),
    case("rollback: blank reason", ["rollback", "-y", "staging", "api-gateway", "--reason", "  "], "empty reason"),
    case("assess: unknown environment", ["assess", "prod"], "unknown environment 'prod'", ENVIRONMENTS),
    case(
        "assess: unknown service",
        ["assess", "production", "--services", "api-gateway,billing"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "deploy: unknown environment",
        ["deploy", "prod", "--version", "v1.2.0"],
        "unknown environment 'prod'",
        ENVIRONMENTS,
    ),
    case(
        "deploy: unknown service",
        ["deploy", "production", "--version", "v1.2.0", "--services", "billing"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "deploy: no service in the list",
        ["deploy", "production", "--version", "v1.2.0", "--services", ","],
        "no service named in ','",
        SERVICES,
    ),
    case(
        "deploy: version with a shell command",
        ["deploy", "production", "--version", "v1.0;rm"],
        "bad version 'v1.0;rm'",
    ),
    case("deploy: empty version", ["deploy", "production", "--version", ""], "bad version ''"),
    case("deploy: 200-character version", ["deploy", "production", "--version", "v" + "1" * 199], "bad version 'v111"),
    case("deploy: no version", ["deploy", "production"], "the following arguments are required: --version"),
    case(
        "deploy: --no-checklist without a reason",
        ["deploy", "production", "--version", "v1.2.0", "--no-checklist"],
        "--no-checklist needs --reason TEXT",
    ),
    case(
        "hotfix: --reason without --no-checklist",
        ["hotfix", "production", "--version", "v1.2.1", "--services", "auth-svc", "--reason", "late"],
        "--reason goes with --no-checklist",
    ),
    case(
        "deploy: --no-checklist to staging",
        ["deploy", "staging", "--version", "v1.2.0", "--no-checklist", "--reason", "x"],
        "a deployment to staging has no checklist to skip",
    ),
    case(
        "deploy: empty --as", ["deploy", "production", "--version", "v1.2.0", "--as", ""], "argument --as: empty user"
    ),
    case(
        "hotfix: unknown environment",
        ["hotfix", "prod", "--version", "v1.2.1", "--services", "market-svc"],
        "unknown environment 'prod'",
        ENVIRONMENTS,
    ),
    case(
        "hotfix: bad version",
        ["hotfix", "production", "--version", "v1.2.1/../x", "--services", "market-svc"],
        "bad version 'v1.2.1/../x'",
    ),
    case(
        "hotfix: unknown incident",
        ["hotfix", "production", "--version", "v1.2.1", "--services", "market-svc", "--incident", NO_SUCH_INCIDENT],
        f"no procedure with ID '{NO_SUCH_INCIDENT}'",
    ),
    case(
        "hotfix: --incident is no incident",
        ["hotfix", "production", "--version", "v1.2.1", "--services", "market-svc", "--incident", "{running}"],
        "--incident '{running}' is not an incident (it is a Verification)",
    ),
    case("approve: unknown ID", ["approve", NO_SUCH_ID], f"no procedure with ID '{NO_SUCH_ID}'"),
    case("approve: a verification", ["approve", "{running}", "--as", "bob"], "{running} does not take `approve`"),
    case("reject: empty reason", ["reject", "{running}", "--reason", ""], "empty reason"),
    case("reject: unknown ID", ["reject", NO_SUCH_ID, "--reason", "slow"], f"no procedure with ID '{NO_SUCH_ID}'"),
    case(
        "decide: unknown action", ["decide", "{running}", "maybe"], "invalid choice: 'maybe'", "'rollback', 'continue'"
    ),
    case("decide: closed procedure", ["decide", "{closed}", "rollback"], "{closed} is closed (TERMINATED)"),
    case("done: unknown ID", ["done", NO_SUCH_ID, "--note", "n"], f"no procedure with ID '{NO_SUCH_ID}'"),
    case("done: a verification", ["done", "{running}", "--note", "n"], "{running} does not take `done`"),
    case("done: closed procedure", ["done", "{closed}", "--note", "n"], "{closed} is closed (TERMINATED)"),
    case("done: no note", ["done", NO_SUCH_ID], "the following arguments are required: --note"),
    case("done: blank note", ["done", NO_SUCH_ID, "--note", "  "], "empty --note"),
    case("cancel: unknown ID", ["cancel", NO_SUCH_ID], f"no procedure with ID '{NO_SUCH_ID}'"),
    case("cancel: closed procedure", ["cancel", "{closed}"], "{closed} is closed (TERMINATED)"),
    case("status: unknown ID", ["status", NO_SUCH_ID], f"no procedure with ID '{NO_SUCH_ID}'"),
    case("status: empty ID", ["status", ""], "empty procedure ID"),
    case("status: 1,001-character ID", ["status", "x" * 1001], "'xxxx"),
    case(
        "list: unknown kind", ["list", "--kind", "deploys"], "invalid choice: 'deploys'", "'deployment'", "'incident'"
    ),
    case("list: kind with a query in it", ["list", "--kind", "x' OR 'a'='a"], "invalid choice: \"x' OR 'a'='a\""),
    case("ecs: unknown environment", ["ecs", "prod", "api-gateway"], "unknown environment 'prod'", ENVIRONMENTS),
    case("ecs: unknown service", ["ecs", "production", "billing"], "unknown service 'billing'", SERVICES),
    case("logs: unknown service", ["logs", "staging", "billing"], "unknown service 'billing'", SERVICES),
    case(
        "logs: bad --since",
        ["logs", "staging", "auth-svc", "--since", "10 minutes", "--follow"],
        "bad duration '10 minutes'",
        "one of s, m, h, d",
    ),
    case(
        "redeploy: unknown environment",
        ["redeploy", "prod", "auth-svc", "--reason", "r"],
        "unknown environment 'prod'",
        ENVIRONMENTS,
    ),
    case(
        "redeploy: unknown service",
        ["redeploy", "staging", "billing", "--reason", "r"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case("redeploy: blank reason", ["redeploy", "staging", "auth-svc", "--reason", " "], "empty reason"),
    case("redeploy: no reason", ["redeploy", "staging", "auth-svc"], "the following arguments are required: --reason"),
    case(
        "incident declare: unknown severity",
        ["incident", "declare", "--severity", "P5", "--summary", "s"],
        "invalid choice: 'P5'",
        "'P1', 'P2', 'P3', 'P4'",
    ),
    case(
        "incident declare: lower-case severity",
        ["incident", "declare", "--severity", "p1", "--summary", "s"],
        "invalid choice: 'p1'",
        "'P1', 'P2', 'P3', 'P4'",
    ),
    case(
        "incident declare: blank summary",
        ["incident", "declare", "--severity", "P3", "--summary", "  "],
        "empty summary",
    ),
    case(
        "incident declare: 10,000-character summary",
        ["incident", "declare", "--severity", "P3", "--summary", "x" * 10_000],
        "bad --summary",
        "at most 500 characters",
    ),
    case(
        "incident declare: unknown service",
        ["incident", "declare", "--severity", "P3", "--summary", "s", "--services", "market-svc,billing"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "incident declare: bad duration",
        ["incident", "declare", "--severity", "P1", "--summary", "s", "--ack-within", "5 minutes"],
        "bad duration '5 minutes'",
    ),
    case(
        "incident declare: zero update cycle",
        ["incident", "declare", "--severity", "P1", "--summary", "s", "--update-every", "0s"],
        "bad --update-every '0s'",
    ),
    case(
        "incident ack: unknown ID", ["incident", "ack", NO_SUCH_INCIDENT], f"no procedure with ID '{NO_SUCH_INCIDENT}'"
    ),
    case("incident ack: a verification", ["incident", "ack", "{running}"], "{running} does not take `acknowledge`"),
    case(
        "incident update: unknown status",
        ["incident", "update", NO_SUCH_INCIDENT, "--status", "Fixed", "--action", "a"],
        "invalid choice: 'Fixed'",
        "'Mitigating'",
    ),
    case(
        "incident update: unknown ID",
        ["incident", "update", NO_SUCH_INCIDENT, "--status", "Mitigating", "--action", "a"],
        f"no procedure with ID '{NO_SUCH_INCIDENT}'",
    ),
    case(
        "incident mitigate: unknown action",
        ["incident", "mitigate", NO_SUCH_INCIDENT, "reboot"],
        "invalid choice: 'reboot'",
        "'scale_up', 'rate_limit', 'maintenance_page'",
    ),
    case(
        "incident mitigate: unknown service",
        ["incident", "mitigate", NO_SUCH_INCIDENT, "scale_up", "--services", "billing"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "incident resolve: unknown ID",
        ["incident", "resolve", NO_SUCH_INCIDENT, "--resolution", "r", "--root-cause", "c"],
        f"no procedure with ID '{NO_SUCH_INCIDENT}'",
    ),
    case(
        "incident resolve: no root cause",
        ["incident", "resolve", NO_SUCH_INCIDENT, "--resolution", "r"],
        "required: --root-cause",
    ),
    case(
        "incident resolve: unknown --follow-up field",
        [*RESOLVE, "--follow-up", "x;colour=red"],
        "bad --follow-up field 'colour'",
        "the fields are owner and due",
    ),
    case(
        "incident resolve: --follow-up due no duration",
        [*RESOLVE, "--follow-up", "x;due=soon"],
        "bad due 'soon'",
        "30s, 5m, 1h or 14d",
    ),
    case(
        "incident resolve: --follow-up empty owner",
        [*RESOLVE, "--follow-up", "x;owner="],
        "bad --follow-up owner in 'x;owner=': empty",
    ),
    case(
        "incident resolve: --follow-up empty text",
        [*RESOLVE, "--follow-up", " ;due=2d"],
        "bad --follow-up ' ;due=2d': no text",
    ),
    case("incident resolve: --force without --reason", [*RESOLVE, "--force"], "--force needs --reason TEXT"),
    case("incident resolve: --reason without --force", [*RESOLVE, "--reason", "r"], "--reason goes with --force"),
    case("incident resolve: --force, blank reason", [*RESOLVE, "--force", "--reason", " "], "empty reason"),
    case(
        "incident severity: unknown severity",
        ["incident", "severity", NO_SUCH_INCIDENT, "P0"],
        "invalid choice: 'P0'",
        "'P1', 'P2', 'P3', 'P4'",
    ),
    case(
        "incident severity: unknown ID",
        ["incident", "severity", NO_SUCH_INCIDENT, "P2"],
        f"no procedure with ID '{NO_SUCH_INCIDENT}'",
    ),
    case(
        "sandbox fault: unknown environment",
        ["sandbox", "fault", "prod", "auth-svc", "5xx"],
        "unknown environment 'prod'",
        ENVIRONMENTS,
    ),
    case(
        "sandbox fault: unknown service",
        ["sandbox", "fault", "staging", "billing", "5xx"],
        "unknown service 'billing'",
        SERVICES,
    ),
    case(
        "sandbox fault: unknown mode",
        ["sandbox", "fault", "staging", "auth-svc", "melt"],
        "invalid choice: 'melt'",
        "'5xx', 'slow', 'db', 'cpu', 'down', 'silent', 'clear'",
    ),
    case(
        "sandbox fault: bad delay",
        ["sandbox", "fault", "staging", "auth-svc", "slow", "--delay", "soon"],
        "bad duration 'soon'",
    ),
    case(
        "sandbox github: unknown prerequisite",
        ["sandbox", "github", "tests"],
        "invalid choice: 'tests'",
        "'ci', 'review', 'release_notes', 'none'",
    ),
]


# Run as `python -m starter` too: one refused by argparse, one by the configuration, one by Temporal.
CONTROL = {"sandbox fault: unknown mode", "deploy: unknown service", "status: empty ID"}


class Outcome(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    started: list[str]  # workflows found on the case's own task queue afterwards
    via: str


@dataclasses.dataclass
class Run:
    outcomes: dict[str, Outcome]
    ids: dict[str, str]
    sandbox_before: dict
    sandbox_after: dict


def sandbox_state(stack) -> dict:
    """What a bad command could have changed directly: faults, the GitHub fake, what ECS runs."""
    ecs = build_aws_clients(stack.config).ecs
    running = {}
    for environment in ("staging", "production"):
        cluster = stack.config.environment(environment).cluster
        for service in ecs.describe_services(cluster=cluster, services=stack.config.services.names)["services"]:
            running[f"{environment}/{service['serviceName']}"] = (service["taskDefinition"], service["desiredCount"])
    return {
        "faults": httpx.get(f"{stack.fleet_url}/_sandbox/faults").json(),
        "github": httpx.get(f"{stack.fleet_url}/_sandbox/github").json(),
        "ecs": running,
    }


async def start_verification(client: Client, stack, label: str):
    request = verification_request(stack.config, "staging", False, True, "tester")
    return await client.start_workflow(
        Verification.run,
        request,
        id=f"verify-staging-badinput-{label}-{uuid.uuid4().hex[:8]}",
        task_queue=stack.config.temporal.task_queue,
        search_attributes=search.start_attributes("verification", "staging", request.services),
        execution_timeout=timedelta(minutes=10),
    )


@pytest.fixture(scope="module")
async def run(e2e_stack, temporal_env, tmp_path_factory) -> Run:
    client = temporal_env.client
    running = await start_verification(client, e2e_stack, "running")
    closed = await start_verification(client, e2e_stack, "closed")
    await closed.terminate("a closed procedure for the bad-input cases")
    ids = {"running": running.id, "closed": closed.id}
    queue = e2e_stack.config.temporal.task_queue
    folder = tmp_path_factory.mktemp("badinput-cli")
    text = e2e_stack.config_path.read_text()
    assert f'task_queue = "{queue}"' in text

    def config_of(number: int) -> str:
        path = folder / f"case-{number}.toml"
        path.write_text(text.replace(f'task_queue = "{queue}"', f'task_queue = "{queue}-bad-{number}"'))
        return str(path)

    requests = [
        {"argv": [arg.format(**ids) for arg in each.argv], "env": {"RUNBOOK_CONFIG": config_of(number)}}
        for number, each in enumerate(CASES)
    ]

    def typed(number: int) -> dict:
        stack = dataclasses.replace(e2e_stack, env={**e2e_stack.env, **requests[number]["env"]})
        done = stack.cli(*requests[number]["argv"])
        return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    before = await asyncio.to_thread(sandbox_state, e2e_stack)
    controls = [number for number, each in enumerate(CASES) if each.name in CONTROL]
    try:
        forks, *typed_results = await asyncio.gather(
            asyncio.to_thread(cli_forked, e2e_stack.env, requests),
            *(asyncio.to_thread(typed, number) for number in controls),
        )
        done = [(result, "fork") for result in forks]
        for number, result in zip(controls, typed_results, strict=True):
            assert result == forks[number], f"{CASES[number].name}: python -m starter {result} ≠ fork {forks[number]}"
            done[number] = (result, "python -m starter")
        # Visibility lists a start a moment after it: once a workflow started after every case is
        # listed, the cases' starts are too.
        marker = await client.start_workflow(
            Verification.run,
            verification_request(e2e_stack.config, "staging", False, True, "tester"),
            id=f"badinput-visibility-{uuid.uuid4().hex[:8]}",
            task_queue=f"{queue}-bad-visibility",
        )
        await marker.terminate("visibility marker")

        async def listed() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            async for execution in client.list_workflows(f'TaskQueue STARTS_WITH "{queue}-bad-"'):
                found.setdefault(execution.task_queue, []).append(f"{execution.workflow_type} {execution.id}")
            return found

        started = await eventually(
            listed, "the marker in visibility", 30, accept=lambda found: f"{queue}-bad-visibility" in found
        )
        after = await asyncio.to_thread(sandbox_state, e2e_stack)
    finally:
        await running.terminate("bad-input cases done")
    outcomes = {
        each.name: Outcome(
            result["returncode"], result["stdout"], result["stderr"], started.get(f"{queue}-bad-{number}", []), via
        )
        for number, (each, (result, via)) in enumerate(zip(CASES, done, strict=True))
    }
    return Run(outcomes, ids, before, after)


def command_text(argv: list[str]) -> str:
    def shown(arg: str) -> str:
        if arg in ("{running}", "{closed}"):
            return arg
        return shlex.quote(arg) if len(arg) <= 24 else f"{arg[:12]}…({len(arg):,} chars)"

    return " ".join(["runbook", *map(shown, argv)])


def outcome_text(outcome: Outcome) -> str:
    lines = outcome.stderr.strip().splitlines()
    said = lines[-1] if len(lines) == 1 else f"{len(lines)} lines: {' / '.join(lines[-2:])}"
    started = f"; STARTED {', '.join(outcome.started)}" if outcome.started else ""
    printed = "; printed on stdout" if outcome.stdout else ""
    return f"exit {outcome.returncode}: {said}{printed}{started}"


@pytest.mark.parametrize("each", CASES, ids=[each.name for each in CASES])
def test_malformed_argument_is_refused_before_anything_starts(run, each, outcome_table):
    outcome = run.outcomes[each.name]
    outcome_table(
        "runbook CLI, malformed arguments",
        ("case", "command", "run as", "outcome"),
        each.name,
        command_text(each.argv),
        outcome.via,
        outcome_text(outcome),
    )
    assert outcome.returncode == 2, outcome.stdout + outcome.stderr
    assert outcome.stdout == ""
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("runbook"), lines[0]
    for fragment in each.expected:
        assert fragment.format(**run.ids) in lines[0]
    assert outcome.started == []


def test_no_bad_command_changed_the_sandbox(run):
    assert run.sandbox_after == run.sandbox_before
