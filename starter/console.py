"""What every `runbook` command shares: the exit codes, the errors that end a command with one of
them, who acts, and output: JSON, text from outside made safe for a terminal, and colour."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import unicodedata
from collections.abc import Mapping
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input: one line naming the bad value and what is allowed; exit 2, nothing changed."""


class Unreachable(Exception):
    """The stack or Temporal cannot be reached; exit 3."""


class Stuck(Exception):
    """The procedure cannot answer or act: its workflow task keeps failing; exit 1."""


def default_user() -> str:
    return os.environ.get("RUNBOOK_USER") or getpass.getuser()


def user_name(text: str) -> str:
    """`--as`: a procedure started or a decision taken by nobody could not be audited."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty user: say who acts (--as NAME)")
    return text.strip()


def print_json(value: Any) -> None:
    # ensure_ascii (the default) writes every control, bidi and other non-ASCII character as \uXXXX.
    print(json.dumps(value, indent=2, default=str))


# Format characters that compose text rather than steer the terminal: the zero-width (non-)joiner
# of emoji sequences and of scripts such as Persian, and the tags of subdivision flags.
_COMPOSING = {"\u200c", "\u200d", *map(chr, range(0xE0020, 0xE0080))}


def _hidden(char: str) -> bool:
    """Controls (C0, DEL, C1: ESC and CSI start every terminal sequence), line and paragraph
    separators, lone surrogates, and format characters: bidi overrides and isolates, zero-width
    and other invisible ones."""
    category = unicodedata.category(char)
    return category in ("Cc", "Zl", "Zp", "Cs") or (category == "Cf" and char not in _COMPOSING)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """Text that came from outside (a note, a name, a workflow ID, a search attribute) as a
    terminal may show it: what could clear the screen, retitle the window, reorder the line or
    start a new one is shown escaped (ESC as \\x1b, U+202E as \\u202e); ordinary Unicode (→,
    emoji, accents) is kept."""
    return "".join(_escape(char) if _hidden(char) else char for char in text)


def visible_lines(text: str) -> str:
    """A document of many lines made visible line by line: its own line breaks are kept, whatever
    else is in its lines is not."""
    return "\n".join(map(visible, text.split("\n")))


def redraws_in_place(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """A terminal that moves its cursor: not a pipe or a file, and not TERM=dumb (Emacs' shell, some CI logs)."""
    return stream.isatty() and environ.get("TERM") != "dumb"


def colour_wanted(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only where a person reads a terminal that shows it, and never against NO_COLOR
    (no-color.org: any non-empty value)."""
    return redraws_in_place(stream, environ) and not environ.get("NO_COLOR")


_GREEN, _RED, _YELLOW, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[0m"
# A procedure's states (runbook.status.State), its steps' (StepState) and the workflow statuses
# `runbook list` shows: how it went, at a glance. Unnamed words (pending, skipped) stay plain.
_STATE_COLOURS = {
    "COMPLETED": _GREEN,
    "RESOLVED": _GREEN,
    "passed": _GREEN,
    "RUNNING": _YELLOW,
    "running": _YELLOW,
    "FAILED": _RED,
    "failed": _RED,
    "ROLLED_BACK": _RED,
    "REJECTED": _RED,
    "EXPIRED": _RED,
    "TERMINATED": _RED,
    "TIMED_OUT": _RED,
}


def painted(text: str, state: str, colour: bool) -> str:
    """`text` in the colour of `state` (a state word, or a line about one) when colour is on."""
    code = _STATE_COLOURS.get(state) if colour else None
    return f"{code}{text}{_RESET}" if code else text
