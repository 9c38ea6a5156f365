"""What a terminal shows: text from outside made harmless (the fleet's answers in a health check),
where a long timeline was cut, durations as people write them, and colour only where it helps."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from runbook.durations import format_elapsed
from runbook.status import ProcedureStatus, State, StepRecord, StepState, TimelineEntry
from starter.commands import health_check
from starter.console import colour_wanted
from starter.render import render_status


def test_a_fleet_answer_cannot_steer_the_terminal(capsys):
    hostile = {"status": "down\x1b[2J\x1b]0;owned\x07 \u202eDEKCAH", "checks": {"database": "down\x1b[31m"}}
    with respx.mock(assert_all_called=False) as fleet:
        fleet.route().mock(return_value=httpx.Response(503, json=hostile))
        code = asyncio.run(health_check(argparse.Namespace(environment="production", full=True, json=False)))
    shown = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[2J" in shown and "\\u202eDEKCAH" in shown
    assert shown.count("\n") > 3  # the report's own lines are kept


def test_a_cut_timeline_says_how_much_is_not_shown():
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    status = ProcedureStatus(
        id="deploy-production-v1",
        kind="deployment",
        timeline=[TimelineEntry(at=at, actor="runbook", event=f"e{n}") for n in range(20)],
    )
    shown = render_status(status, at, timeline_tail=15)
    assert "(5 earlier entries: `runbook status deploy-production-v1 --json` has them all)" in shown
    assert " e4" not in shown and " e5" in shown and " e19" in shown
    assert "earlier entries" not in render_status(dataclasses.replace(status, timeline=status.timeline[:15]), at)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.9, "0s"),
        (42, "42s"),
        (60, "1m 00s"),
        (185, "3m 05s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3725, "1h 02m"),
        (86399, "23h 59m"),
        (2 * 86400 + 3 * 3600 + 59, "2d 03h"),
        (-5, "0s"),
    ],
)
def test_durations_read_as_people_write_them(seconds, shown):
    assert format_elapsed(timedelta(seconds=seconds)) == shown


def test_a_step_shows_how_long_it_took_as_people_write_it():
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    step = StepRecord(name="deploy_production", state=StepState.PASSED, started_at=at, ended_at=at + timedelta(hours=1))
    shown = render_status(ProcedureStatus(id="d", kind="deployment", steps=[step]))
    assert "09:00:00   1h 00m" in shown and "3600" not in shown


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "environ", "colour"),
    [
        (True, {"TERM": "xterm-256color"}, True),
        (True, {}, True),
        (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
        (True, {"TERM": "xterm", "NO_COLOR": "0"}, False),
        # no-color.org: an empty NO_COLOR is as if unset.
        (True, {"TERM": "xterm", "NO_COLOR": ""}, True),
        (True, {"TERM": "dumb"}, False),
        (False, {"TERM": "xterm"}, False),
    ],
)
def test_colour_only_on_a_terminal_that_shows_it_and_never_against_no_color(tty, environ, colour):
    assert colour_wanted(Stream(tty), environ) is colour


def test_colour_marks_the_state_and_a_failed_step_and_nothing_without_it():
    failed = StepRecord(name="smoke_tests", state=StepState.FAILED, detail="HTTP 503")
    passed = StepRecord(name="deploy_staging", state=StepState.PASSED)
    status = ProcedureStatus(id="d", kind="deployment", state=State.FAILED, steps=[passed, failed])
    coloured = render_status(status, colour=True)
    assert "deployment  \x1b[31mFAILED\x1b[0m" in coloured
    assert "\x1b[32mpassed  \x1b[0m deploy_staging" in coloured
    assert "\x1b[31mfailed   smoke_tests" in coloured
    assert "\x1b" not in render_status(status)
