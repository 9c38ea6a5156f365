"""`--follow` (`runbook status`, `deploy`, `hotfix`): a procedure watched until it ends, and shown
only when something changed: a step's state or detail, the procedure's state, a new timeline entry
(decisions, approvals and refusals are recorded there). A running step's growing elapsed time is
not a change.

How it is shown depends on where the output goes:
- a terminal that moves its cursor: the status block, redrawn in place (coloured unless NO_COLOR);
- a pipe, a file or TERM=dumb: the block once, then one line per change with its time, no escapes;
- --json: the status object (as `status --json` prints it) on one line each time it changed (NDJSON).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import astuple
from datetime import UTC, datetime
from typing import Literal, TextIO

from runbook.status import ProcedureStatus, State, StepRecord, jsonable
from starter.console import colour_wanted, redraws_in_place
from starter.console import visible as v
from starter.render import TIMELINE_TAIL, clock, closing_lines, elapsed, render_status, timeline_line

# How often a followed procedure is asked for its status: a query costs the worker little, and a
# person watching a deployment notices a change within a second.
POLL_SECONDS = 1.0

Mode = Literal["json", "redraw", "append"]


def step_change(step: StepRecord, now: datetime) -> tuple[datetime, str]:
    """A step's new state, at the moment it took it: "17:02:11 deploy_production passed in 1m 02s"."""
    moment = step.ended_at or step.started_at or now
    took = f" in {elapsed(step, None)}" if step.ended_at and step.started_at else ""
    detail = f": {v(step.detail)}" if step.detail else ""
    return moment, f"{clock(moment)} {v(step.name)} {step.state.value}{took}{detail}"


def change_lines(before: ProcedureStatus, after: ProcedureStatus, now: datetime) -> list[str]:
    """What changed from one status to the next, a line each and oldest first; the procedure's
    end last, with what it ends with (result, reasons, post-mortem)."""
    # Steps by position: a procedure's steps are fixed when it starts, and names may repeat.
    was = {index: (step.state, step.detail) for index, step in enumerate(before.steps)}
    changes = [
        step_change(step, now) for index, step in enumerate(after.steps) if was.get(index) != (step.state, step.detail)
    ]
    known = {astuple(entry) for entry in before.timeline}
    changes += [(entry.at, timeline_line(entry)) for entry in after.timeline if astuple(entry) not in known]
    lines = [text for _, text in sorted(changes, key=lambda change: change[0])]
    if after.state != before.state:
        lines.append(f"{clock(now)} {v(after.id)} {after.state.value}")
        lines += closing_lines(after)
    return lines


def terminal_rows(text: str, width: int) -> int:
    """How many rows `text` takes on a terminal `width` columns wide, its long lines wrapped."""
    return sum(max(1, -(-len(line) // width)) for line in text.split("\n"))


class FollowView:
    """What to write each time the procedure answers: nothing when nothing changed."""

    def __init__(self, mode: Mode, colour: bool = False, width: int = 80, height: int = 24) -> None:
        self.mode, self.colour, self.width, self.height = mode, colour, max(1, width), height
        self.shown: ProcedureStatus | None = None
        # The rows the block drawn last takes, for the cursor to go back over them (redraw).
        self.rows = 0

    @classmethod
    def for_output(cls, as_json: bool, stream: TextIO, environ: Mapping[str, str] = os.environ) -> FollowView:
        if as_json:
            return cls("json")
        if redraws_in_place(stream, environ):
            size = shutil.get_terminal_size()
            return cls("redraw", colour_wanted(stream, environ), size.columns, size.lines)
        return cls("append")

    def update(self, status: ProcedureStatus, now: datetime) -> str:
        before = self.shown
        if status == before:
            return ""
        self.shown = status
        if self.mode == "json":
            # One line per object: ensure_ascii (the default) escapes every control character.
            return json.dumps(jsonable(status), default=str) + "\n"
        if self.mode == "append":
            text = render_status(status, now) if before is None else "\n".join(change_lines(before, status, now))
            return text + "\n" if text else ""
        # A running step's elapsed time is left out: redrawn on changes only, it would stand still.
        erase = f"\033[{self.rows}A\033[J" if self.rows else ""
        tail, self.rows = self.fitting(status)
        return erase + render_status(status, timeline_tail=tail, colour=self.colour) + "\n"

    def fitting(self, status: ProcedureStatus) -> tuple[int, int]:
        """The most timeline entries with which the block fits the terminal, a row left for the
        cursor (it cannot go back over rows scrolled off the top, which would stay as copies), and
        the rows the block then takes; counted without colour, whose codes take no room."""
        for tail in range(TIMELINE_TAIL, 0, -1):
            rows = terminal_rows(render_status(status, timeline_tail=tail), self.width)
            if rows < self.height:
                break
        return tail, rows


async def follow_until_end(
    ask: Callable[[], Awaitable[ProcedureStatus]], as_json: bool, out: TextIO | None = None
) -> State:
    """Show the procedure `ask` returns the status of until it ends; its final state."""
    stream = out or sys.stdout
    view = FollowView.for_output(as_json, stream)
    while True:
        status = await ask()
        stream.write(view.update(status, datetime.now(UTC)))
        stream.flush()
        if status.state != State.RUNNING:
            return status.state
        await asyncio.sleep(POLL_SECONDS)
