"""`--follow`: what is written each time the procedure answers, to a pipe, a terminal and as JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from runbook.status import ProcedureStatus, State, StepRecord, StepState, TimelineEntry
from starter.follow import FollowView, follow_until_end

START = datetime(2026, 11, 30, 17, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


def deployment(*steps: StepRecord, timeline: tuple[TimelineEntry, ...] = (), **fields) -> ProcedureStatus:
    return ProcedureStatus(
        id="deploy-production-v1", kind="deployment", steps=list(steps), timeline=list(timeline), **fields
    )


STAGING = StepRecord(name="deploy_staging", state=StepState.PASSED, started_at=at(0), ended_at=at(185))
PRODUCTION_PENDING = StepRecord(name="deploy_production")
PRODUCTION_RUNNING = StepRecord(name="deploy_production", state=StepState.RUNNING, started_at=at(3731))
PRODUCTION_PASSED = dataclasses.replace(PRODUCTION_RUNNING, state=StepState.PASSED, ended_at=at(3731 + 62))
APPROVED = TimelineEntry(at=at(3730), actor="bob", event="approved", detail="looks good")

WAITING = deployment(STAGING, PRODUCTION_PENDING)
DEPLOYING = deployment(STAGING, PRODUCTION_RUNNING, timeline=(APPROVED,))
DONE = deployment(STAGING, PRODUCTION_PASSED, timeline=(APPROVED,), state=State.COMPLETED, result={"passed": True})


def test_a_pipe_gets_the_block_once_then_one_line_per_change_each_once():
    view = FollowView("append")
    first = view.update(WAITING, at(3700))
    assert first.startswith("deploy-production-v1  deployment  RUNNING\n")
    assert "deploy_staging" in first and "3m 05s" in first
    # The running step's elapsed time grows between polls: not a change, nothing printed.
    assert view.update(DEPLOYING, at(3740)) == (
        "18:02:10 bob          approved: looks good\n18:02:11 deploy_production running\n"
    )
    assert view.update(DEPLOYING, at(3741)) == ""
    assert view.update(DEPLOYING, at(3790)) == ""
    assert view.update(DONE, at(3794)).splitlines() == [
        "18:03:13 deploy_production passed in 1m 02s",
        "18:03:14 deploy-production-v1 COMPLETED",
        "",
        "result: PASSED",
    ]


def test_a_pipe_and_json_get_no_escape_bytes_even_from_hostile_text():
    hostile = TimelineEntry(at=at(1), actor="mallory\x1b[2J", event="approved", detail="\x1b]0;owned\x07")
    for view in (FollowView("append"), FollowView("json")):
        written = view.update(WAITING, at(0)) + view.update(dataclasses.replace(WAITING, timeline=[hostile]), at(2))
        assert "\x1b" not in written and "\x07" not in written
        assert "mallory" in written


def test_json_streams_the_status_object_once_per_change_one_line_each():
    view = FollowView("json")
    written = "".join(view.update(status, at(n)) for n, status in enumerate([WAITING, WAITING, DEPLOYING, DONE, DONE]))
    lines = written.splitlines()
    # Each line is the status as the worker's pydantic converter writes it.
    by_worker = TypeAdapter(ProcedureStatus).dump_python
    assert [json.loads(line) for line in lines] == [by_worker(s, mode="json") for s in (WAITING, DEPLOYING, DONE)]
    assert written.endswith("\n")


def test_a_terminal_redraws_the_block_in_place_over_exactly_the_rows_it_took():
    view = FollowView("redraw", colour=False, width=80)
    first = view.update(WAITING, at(0))
    assert "\x1b" not in first  # nothing to go back over yet
    rows = first.count("\n")
    assert view.update(WAITING, at(1)) == ""
    second = view.update(DEPLOYING, at(2))
    # Back up over the block drawn last and clear below: never the whole screen (\x1b[2J).
    assert second.startswith(f"\x1b[{rows}A\x1b[J") and "\x1b[2J" not in second and "\x1b[H" not in second
    assert "approved" in second


def test_a_terminal_counts_the_rows_of_wrapped_lines():
    long_detail = StepRecord(name="deploy_staging", state=StepState.FAILED, detail="x" * 200)
    view = FollowView("redraw", width=40)
    first = view.update(deployment(long_detail), at(0))
    second = view.update(DONE, at(1))
    wrapped_rows = sum(max(1, -(-len(line) // 40)) for line in first.rstrip("\n").split("\n"))
    assert wrapped_rows > first.count("\n")
    assert second.startswith(f"\x1b[{wrapped_rows}A")


def test_colour_on_a_terminal_marks_states_and_failed_steps():
    failed = StepRecord(name="deploy_production", state=StepState.FAILED, detail="HTTP 503")
    drawn = FollowView("redraw", colour=True).update(deployment(failed, state=State.ROLLED_BACK), at(0))
    assert "\x1b[31mROLLED_BACK\x1b[0m" in drawn
    assert "\x1b[31mfailed   deploy_production" in drawn and "HTTP 503\x1b[0m" in drawn
    assert "\x1b[3" not in FollowView("redraw", colour=False).update(deployment(failed), at(0))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_view_follows_the_output_and_the_environment():
    terminal, pipe = Terminal(), io.StringIO()
    assert FollowView.for_output(True, terminal, {}).mode == "json"
    assert FollowView.for_output(False, pipe, {}).mode == "append"
    assert FollowView.for_output(False, terminal, {"TERM": "dumb"}).mode == "append"
    on_terminal = FollowView.for_output(False, terminal, {"TERM": "xterm"})
    assert (on_terminal.mode, on_terminal.colour) == ("redraw", True)
    assert FollowView.for_output(False, terminal, {"TERM": "xterm", "NO_COLOR": "1"}).colour is False


def test_following_ends_with_the_procedure_and_its_state(monkeypatch):
    monkeypatch.setattr("starter.follow.POLL_SECONDS", 0)
    answers = iter([WAITING, WAITING, DEPLOYING, DONE])
    out = io.StringIO()

    async def ask() -> ProcedureStatus:
        return next(answers)

    assert asyncio.run(follow_until_end(ask, as_json=True, out=out)) is State.COMPLETED
    assert len(out.getvalue().splitlines()) == 3


def test_a_terminal_shorter_than_the_block_gets_the_newest_timeline_entries_that_fit():
    timeline = tuple(TimelineEntry(at=at(n), actor="runbook", event=f"event {n}") for n in range(15))
    long = deployment(STAGING, PRODUCTION_RUNNING, timeline=timeline)
    view = FollowView("redraw", width=80, height=12)
    drawn = view.update(long, at(20))
    # Every row on screen at once, so that the next redraw can go back over all of them.
    assert drawn.count("\n") < 12
    assert "event 14" in drawn and "event 5" not in drawn
    assert "earlier entries: `runbook status deploy-production-v1 --json` has them all" in drawn
    assert FollowView("redraw", height=50).update(long, at(20)).count("event ") == 15
