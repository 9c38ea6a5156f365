"""`runbook`: the runbook's procedures from a terminal.

Exit codes: 0 done/healthy · 1 failed, rejected, rolled back or unhealthy · 2 bad usage or input
refused · 3 the stack or Temporal cannot be reached.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import NoReturn

from starter.completion import complete_if_asked, completion_asked
from starter.console import EXIT_USAGE, UsageError
from starter.parser import build_parser

# Besides main and dispatch, named here for callers of the CLI module (tests among them).
__all__ = ["EXIT_USAGE", "UsageError", "build_parser", "dispatch", "main"]

# The commands carried out outside starter/commands.py, by their module: a command imports only
# its own (a test holds this to the modules' HANDLERS). The incident commands extend `list`.
HANDLER_MODULES: dict[tuple[str, str | None], str] = {
    **dict.fromkeys(
        [(name, None) for name in ("status", "approve", "reject", "decide", "done", "check", "cancel")],
        "starter.asking",
    ),
    **dict.fromkeys([("rollback", None), ("assess", None), ("ecs", None), ("logs", None)], "starter.aws_commands"),
    ("incident", None): "starter.incident",
    ("list", None): "starter.incident",
    ("sandbox", "slack"): "starter.sandbox_slack",
    ("sandbox", "pagerduty"): "starter.sandbox_pagerduty",
}


def dispatch(argv: list[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else argv
    parser = build_parser(None if completion_asked() else line)
    complete_if_asked(parser)
    args = parser.parse_args(line)
    # Deferred for start-up time, not to hide a cycle (nothing in starter/ imports this module):
    # the commands import temporalio, and most of them pydantic's models, which `--help` and a usage
    # error (both end in parse_args) do without; only the commands that read AWS themselves import
    # boto3, and those asking a running procedure (status, approve, ...) import no model at all.
    from starter import asking

    command = (args.command, getattr(args, "sandbox_command", None))
    handler = importlib.import_module(HANDLER_MODULES.get(command, "starter.commands")).HANDLERS[command]
    return asking.run(lambda: asking.as_person(handler, args))


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        code = dispatch(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # `runbook status ID | head`: the reader is gone. Quietly, with the status of a command
        # ended by SIGPIPE, as other CLIs end (Python ignores the signal, so it comes as an error).
        code = 128 + signal.SIGPIPE
    # The SDK's core threads can still call into Python while the interpreter finalizes, which
    # aborts the process (PyGILState_Release, measured: 4 runs in 40 under load). A CLI has
    # nothing left to clean up once its output is flushed, so it leaves without finalizing.
    sys.stderr.flush()
    os._exit(code)
