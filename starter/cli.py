"""`runbook`: the runbook's procedures from a terminal.

Exit codes: 0 done/healthy · 1 failed, rejected, rolled back or unhealthy · 2 bad usage or input
refused · 3 the stack or Temporal cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from runbook.config import ConfigError
from runbook.temporal import TemporalUnreachable
from runbook.validate import InvalidInput
from starter import commands, incident
from starter.console import EXIT_UNREACHABLE, EXIT_USAGE, Unreachable, UsageError, default_user, user_name

FAULT_MODES = ["5xx", "slow", "db", "cpu", "down", "clear"]
GITHUB_FAILURES = ["ci", "review", "release_notes", "none"]
KINDS = ["verification", "deployment", "hotfix", "rollback", "incident"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbook", description="Skillancer's deployment runbook as durable Temporal workflows.")
    command_parsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str, *, json_flag: bool = True, user: bool = False) -> argparse.ArgumentParser:
        sub = command_parsers.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print the result as JSON")
        if user:
            sub.add_argument(
                "--as",
                dest="user",
                type=user_name,
                default=default_user(),
                help="who acts (default: RUNBOOK_USER, then the login name)",
            )
        return sub

    health = command("health-check", "check an environment's health endpoints (the runbook's health-check.sh)")
    health.add_argument("environment")
    health.add_argument(
        "--full", action="store_true", help="also dashboard, circuit breakers, auth status and latency budgets"
    )

    verify = command("verify", "run Post-Deployment Verification as a workflow", user=True)
    verify.add_argument("environment")
    verify.add_argument("--full", action="store_true", help="full health checks and latency budgets")
    verify.add_argument(
        "--manual", action="store_true", help="also wait for the manual checklist (ticked with `runbook check`)"
    )

    check = command("check", "tick a manual checklist item of a running verification", user=True)
    check.add_argument("id")
    check.add_argument("item")
    check.add_argument("--fail", action="store_true", help="the item failed")
    check.add_argument("--note", default="", help="what you saw")

    rollback = command("rollback", "roll back services to the previous (or a named) version", user=True)
    rollback.add_argument("-y", "--yes", action="store_true", help="start at once, without confirmation")
    rollback.add_argument("environment")
    rollback.add_argument("service", help="a service, or all")
    rollback.add_argument("version", nargs="?", help="roll back to this version (default: the previous revision)")
    rollback.add_argument("--reason", help="why (default: manual rollback by USER)")

    assess = command("assess", "apply the rollback decision matrix to live figures; takes no action")
    assess.add_argument("environment")
    assess.add_argument("--services", help="comma-separated services (default: all)")

    deploy = command(
        "deploy", "Standard Deployment: prerequisites, staging, approval, production, monitoring", user=True
    )
    deploy.add_argument("environment")
    deploy.add_argument("--version", required=True, help="the release tag to deploy, e.g. v1.2.0")
    deploy.add_argument("--services", default="all", help="all (default) or a,b")
    deploy.add_argument("--follow", action="store_true", help="follow it live until it ends")

    hotfix = command(
        "hotfix", "Hotfix Deployment: fix on main with CI green, immediate approval, production", user=True
    )
    hotfix.add_argument("environment")
    hotfix.add_argument("--version", required=True, help="the hotfix release tag, e.g. v1.2.1")
    hotfix.add_argument("--services", required=True, help="a,b")
    hotfix.add_argument(
        "--skip-staging", action="store_true", help="only when this version already passed verification on staging"
    )
    hotfix.add_argument("--incident", default="", help="the incident this hotfix fixes, e.g. INC-20261126-0001")
    hotfix.add_argument("--follow", action="store_true", help="follow it live until it ends")

    approve = command("approve", "approve a deployment waiting at its approval gate", user=True)
    approve.add_argument("id")
    approve.add_argument("--comment", default="", help="what you checked")

    reject = command("reject", "reject a deployment at its approval gate", user=True)
    reject.add_argument("id")
    reject.add_argument("--reason", required=True, help="why")

    decide_cmd = command("decide", "answer a deployment whose monitoring proposes a rollback", user=True)
    decide_cmd.add_argument("id")
    decide_cmd.add_argument("action", choices=["rollback", "continue"], metavar="ACTION", help="rollback or continue")
    decide_cmd.add_argument("--note", default="", help="why")

    cancel = command("cancel", "cancel a procedure; a deployment rolls back what it changed")
    cancel.add_argument("id")

    status = command("status", "show a procedure's steps, approvals and timeline")
    status.add_argument("id")
    status.add_argument("--follow", action="store_true", help="keep showing it until it ends")

    listing = command("list", "list procedures")
    # A closed list: an unknown kind would list nothing, and the value goes into a visibility query.
    listing.add_argument("--kind", choices=KINDS, metavar="KIND", help="only this kind: " + ", ".join(KINDS))
    listing.add_argument("--open", action="store_true", help="only running ones")

    incident.add_parser(command_parsers)

    sandbox = command_parsers.add_parser("sandbox", help="control the local sandbox")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True, parser_class=_Parser)
    fault = sandbox_commands.add_parser("fault", help="break (or heal) a simulated service")
    fault.add_argument("environment")
    fault.add_argument("service")
    fault.add_argument("mode", choices=FAULT_MODES, metavar="MODE", help="one of " + ", ".join(FAULT_MODES))
    fault.add_argument("--delay", default="6s", help="response delay for `slow` (default 6s)")
    fault.add_argument("--json", action="store_true", help="print the result as JSON")
    github = sandbox_commands.add_parser(
        "github", help="make one deployment prerequisite fail in the GitHub fake (or none)"
    )
    github.add_argument(
        "failing", choices=GITHUB_FAILURES, metavar="PREREQUISITE", help="one of " + ", ".join(GITHUB_FAILURES)
    )
    return parser


# Each (command, subcommand) and what does it; the incident commands extend `list`.
HANDLERS = commands.HANDLERS | incident.HANDLERS


def run(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(coroutine_factory())
    except (UsageError, InvalidInput, ConfigError) as error:
        print(f"runbook: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (Unreachable, TemporalUnreachable) as error:
        print(f"runbook: error: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130


def dispatch(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = HANDLERS[(args.command, getattr(args, "sandbox_command", None))]
    return run(lambda: handler(args))


def main(argv: list[str] | None = None) -> NoReturn:
    code = dispatch(argv)
    # The SDK's core threads can still call into Python while the interpreter finalizes, which
    # aborts the process (PyGILState_Release, measured: 4 runs in 40 under load). A CLI has
    # nothing left to clean up once its output is flushed, so it leaves without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
