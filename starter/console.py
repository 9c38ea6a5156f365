"""What every `runbook` command shares: the exit codes, the two errors that end a command with
one of them, who acts, and JSON output."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input: one line naming the bad value and what is allowed; exit 2, nothing changed."""


class Unreachable(Exception):
    """The stack or Temporal cannot be reached; exit 3."""


def default_user() -> str:
    return os.environ.get("RUNBOOK_USER") or getpass.getuser()


def user_name(text: str) -> str:
    """`--as`: a procedure started or a decision taken by nobody could not be audited."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty user: say who acts (--as NAME)")
    return text.strip()


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
