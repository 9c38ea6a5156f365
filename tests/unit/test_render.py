"""What a terminal shows of text from outside: the fleet's answers in a health check, and where a
long timeline was cut."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import httpx
import respx

from runbook.models import ProcedureStatus, TimelineEntry
from starter.commands import health_check
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
    assert "earlier entries" not in render_status(status.model_copy(update={"timeline": status.timeline[:15]}), at)
