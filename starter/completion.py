"""Shell completion (bash, zsh) by argcomplete: commands, options, choices, and the IDs of the
procedures running now wherever a command takes one.

The shell runs `runbook` with _ARGCOMPLETE set and the line typed so far; every other run returns
from complete_if_asked at once, without importing argcomplete. A user enables it with
`eval "$(runbook completion bash)"` (or zsh) in their shell's rc file.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

# A shell waits for its completions: better none than a prompt that hangs on an unreachable server.
LOOKUP_SECONDS = 2.0
# IDs offered at most: more than a screenful is no help, and the list query reads no further.
MOST_IDS = 200


def completion_asked() -> bool:
    """The shell runs `runbook` to complete a line, which is then not in its arguments."""
    return "_ARGCOMPLETE" in os.environ


def complete_if_asked(parser: argparse.ArgumentParser) -> None:
    """When the shell asks for completions, answer it and leave the process; otherwise do nothing."""
    if not completion_asked():
        return
    import argcomplete

    # Options only once a dash is typed, as git and most tools complete: IDs are what one is after.
    argcomplete.autocomplete(parser, always_complete_options=False)


def shell_script(shell: str) -> str:
    """What `eval` in a bash or zsh rc file runs to complete `runbook`."""
    import argcomplete

    return argcomplete.shellcode(["runbook"], shell=shell)


def running_procedures(**_: Any) -> list[str]:
    """The IDs of the procedures running now, as argcomplete asks a completer (it filters them by
    what is typed). Nothing, silently, when Temporal cannot be asked in time or at all: whatever
    went wrong would otherwise be printed into the user's command line."""
    import asyncio

    try:
        return asyncio.run(asyncio.wait_for(_running_ids(), LOOKUP_SECONDS))
    except Exception:  # noqa: BLE001 - see the docstring: a completion never fails aloud
        return []


async def _running_ids() -> list[str]:
    from runbook import search
    from runbook.config import load_config
    from runbook.temporal import connect

    client = await connect(load_config())
    query = search.procedures_query(running=True)
    return [execution.id async for execution in client.list_workflows(query, limit=MOST_IDS)]
