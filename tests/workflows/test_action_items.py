"""A post-mortem's action items on a real dev server: the owner reminded on the due date and every
few days after until `done`, under time skipping; history bounded by continue-as-new; and a resolved
incident leaving one workflow per item running behind it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from runbook import search
from runbook.action_items import KIND, ActionItem, ActionItemRequest, ActionItemResult
from runbook.codec import data_converter
from runbook.config import load_config
from runbook.models import SlackMessage, SlackPosted
from runbook.status import HandlerOutcome, ProcedureStatus, State
from tests.conftest import keep_history
from tests.support import eventually, status, until
from tests.workflows.test_incident import World, incident_state, request, run_histories
from worker import WORKFLOWS
from workflows.action_items import ActionItemFollowUp
from workflows.incident import Incident
from workflows.rollback import Rollback

CHANNEL = "#incidents"


class Slack:
    """What the items said; a done message waits for `release` while `hold_done` is set."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.hold_done = False
        self.release = asyncio.Event()

    def activities(self) -> list:
        @activity.defn(name="post_message")
        async def post_message(message: SlackMessage) -> SlackPosted:
            if self.hold_done and message.text.startswith(":white_check_mark:"):
                await self.release.wait()
            self.said.append(message.text)
            return SlackPosted(channel=message.channel, ts=str(len(self.said)))

        return [post_message]


def item_request(due_in: timedelta, reminder_every: timedelta, **changes: Any) -> ActionItemRequest:
    item_id = f"INC-test-{uuid.uuid4().hex[:8]}-item-1"
    return ActionItemRequest(
        item=ActionItem(id=item_id, text="alert on 5xx per service", owner="bob", due=datetime.now(UTC) + due_in),
        incident_id=item_id.removesuffix("-item-1"),
        incident_summary="checkout failing",
        environment="production",
        services=["market-svc"],
        created_by="alice",
        channel=CHANNEL,
        reminder_every=reminder_every,
        timezone="Europe/London",
        people=load_config().people,
        **changes,
    )


@asynccontextmanager
async def followed_up(
    env: WorkflowEnvironment, slack: Slack, follow_up: ActionItemRequest
) -> AsyncIterator[WorkflowHandle]:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[ActionItemFollowUp], activities=slack.activities()):
        # Time moves only when a test fast-forwards it.
        with env.with_time_skipping_disabled():
            handle = await env.client.start_workflow(
                ActionItemFollowUp.run,
                follow_up,
                id=follow_up.item.id,
                task_queue=queue,
                search_attributes=search.start_attributes(KIND, "production", ["market-svc"]),
            )
        try:
            yield handle
        finally:
            slack.release.set()
            if (await handle.describe()).status.name == "RUNNING":
                await handle.terminate("test over")


def reminded_at(current) -> list[datetime]:
    return [entry.at for entry in current.timeline if entry.event.startswith("reminder ")]


async def reminded(handle: WorkflowHandle, count: int) -> ProcedureStatus:
    """The status once `count` reminders were sent; a query that lands as the item continues as
    new (its next run's first task not scheduled yet) is asked again."""

    async def current() -> ProcedureStatus | None:
        try:
            return await status(handle)
        except RPCError:
            return None

    return await eventually(
        current, f"reminder {count}", accept=lambda s: s is not None and s.details["action_item"]["reminders"] == count
    )


async def done(handle: WorkflowHandle, user: str, note: str) -> HandlerOutcome:
    return await handle.execute_update("done", {"user": user, "note": note}, result_type=HandlerOutcome)


async def test_the_owner_is_reminded_on_the_due_date_and_every_few_days_until_it_is_done(skipping_env):
    slack = Slack()
    follow_up = item_request(timedelta(days=14), timedelta(days=3))
    due = follow_up.item.due
    async with followed_up(skipping_env, slack, follow_up) as handle:
        await until(handle, lambda s: s.step == "wait_until_due", "waiting for the due date")
        await skipping_env.fast_forward(handle, timedelta(days=13))
        assert slack.said == [], "nobody is reminded before the due date"

        await skipping_env.fast_forward(handle, timedelta(days=1, minutes=1))
        first = await until(handle, lambda s: len(reminded_at(s)) == 1, "the first reminder")
        assert abs(reminded_at(first)[0] - due) < timedelta(minutes=1)
        assert slack.said == [
            f":alarm_clock: <@U0BOB000002>: action item {handle.id} of {follow_up.incident_id} is due now:"
            f" alert on 5xx per service. Once it is done: runbook done {handle.id} --note TEXT"
        ]

        await skipping_env.fast_forward(handle, timedelta(days=3))
        second = await until(handle, lambda s: len(reminded_at(s)) == 2, "the second reminder")
        assert abs(reminded_at(second)[1] - (due + timedelta(days=3))) < timedelta(minutes=1)
        assert "is overdue by 3 d" in slack.said[1]
        assert second.details["action_item"]["reminders"] == 2 and second.step == "remind_owner"

        assert (await done(handle, "carol", "alerts added in PR 412")).accepted
        result: ActionItemResult = await handle.result()
        final = await status(handle)
        await keep_history(handle, "action_item")

    assert (result.done_by, result.note, result.reminders, result.late) == ("carol", "alerts added in PR 412", 2, True)
    # Done: the workflow is closed, so no timer is left to remind anyone again.
    assert final.state == State.COMPLETED and final.kind == "action-item"
    assert len(reminded_at(final)) == 2
    assert len(slack.said) == 3 and slack.said[2].startswith(
        f":white_check_mark: action item {handle.id} of {follow_up.incident_id} done by <@U0CAROL0003>, 3 d"
    )
    assert [entry.event for entry in final.timeline if entry.actor == "carol"] == ["done"]


async def test_done_before_the_due_date_reminds_nobody_and_done_twice_is_refused(skipping_env):
    slack = Slack()
    slack.hold_done = True
    async with followed_up(skipping_env, slack, item_request(timedelta(days=14), timedelta(days=3))) as handle:
        await until(handle, lambda s: s.step == "wait_until_due", "waiting for the due date")
        assert (await done(handle, "bob", "done on day one")).accepted
        # The item closes (telling the channel); meanwhile it is done already.
        await until(handle, lambda s: s.step == "close", "closing")
        again = await done(handle, "erin", "me too")
        assert not again.accepted and again.reason == f"{handle.id} is done already: by bob (done on day one)"
        slack.release.set()
        result: ActionItemResult = await handle.result()
        final = await status(handle)
    assert (result.done_by, result.reminders, result.late) == ("bob", 0, False)
    steps = {step.name: (step.state.value, step.detail) for step in final.steps}
    assert steps["remind_owner"] == ("skipped", "done before its due date")
    assert [text.split(":")[1] for text in slack.said] == ["white_check_mark"]
    assert final.refusals[-1].handler == "done"


async def test_a_reminder_loop_over_weeks_keeps_each_runs_history_short(skipping_env):
    slack = Slack()
    follow_up = item_request(timedelta(hours=1), timedelta(hours=1), events_per_run=25)
    async with followed_up(skipping_env, slack, follow_up) as handle:
        await until(handle, lambda s: s.step == "wait_until_due", "waiting for the due date")
        for hour in range(1, 7):
            await skipping_env.fast_forward(handle, timedelta(hours=1))
            current = await reminded(handle, hour)
        assert (await done(handle, "bob", "finally")).accepted
        result: ActionItemResult = await handle.result()
        final = await status(handle)
        lengths = await run_histories(skipping_env.client, handle.id, handle.first_execution_run_id)
    assert current.details["action_item"]["runs"] >= 3
    assert len(lengths) == final.details["action_item"]["runs"]
    assert max(lengths) < 2 * 25
    # Carried, not redone: each reminder once, the record whole.
    assert result.reminders == 6 and len(slack.said) == 7
    assert [entry.event for entry in final.timeline if entry.event.startswith("reminder ")] == [
        f"reminder {n} sent" for n in range(1, 7)
    ]
    assert final.timeline[0].event == "action item created"


async def test_a_resolved_incident_leaves_one_workflow_per_action_item_running(temporal_env):
    world = World()
    world.failing = set()
    queue = f"test-{uuid.uuid4()}"
    workflows = [Incident, Rollback, ActionItemFollowUp]
    incident_request = request("P3", ["market-svc"])
    async with Worker(temporal_env.client, task_queue=queue, workflows=workflows, activities=world.activities()):
        handle = await temporal_env.client.start_workflow(
            Incident.run,
            incident_request,
            id=f"INC-test-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            search_attributes=search.start_attributes("incident", "production", ["market-svc"]),
        )
        await until(handle, lambda s: "initial alert posted" in [e.event for e in s.timeline], "the alert")
        resolve = {"user": "alice", "resolution": "rolled back", "root_cause": "v1.2.0"}
        bad = {**resolve, "follow_up": [{"text": "alerts", "colour": "red"}]}
        refused = await handle.execute_update("resolve", bad, result_type=HandlerOutcome)
        assert not refused.accepted and "unknown field 'colour'; known: text, owner, due" in refused.reason
        good = {**resolve, "follow_up": ["canary deploys", {"text": "5xx alerts", "owner": "bob", "due": "2d"}]}
        assert (await handle.execute_update("resolve", good, result_type=HandlerOutcome)).accepted
        await handle.result()
        final = await status(handle)
        # The path that starts the items replays as it ran (the recorded histories predate it).
        history = await handle.fetch_history()
        await Replayer(workflows=WORKFLOWS, data_converter=data_converter({}, worker=True)).replay_workflow(history)
        items = [temporal_env.client.get_workflow_handle(f"{handle.id}-item-{n}") for n in (1, 2)]
        try:
            described = [await item.describe() for item in items]
            facts = [(await status(item)).details["action_item"] for item in items]
        finally:
            for item in items:
                await item.terminate("test over")

    assert final.state == State.RESOLVED
    assert [d.status.name if d.status else "" for d in described] == ["RUNNING", "RUNNING"]
    assert [d.workflow_type for d in described] == ["ActionItem", "ActionItem"]
    assert [d.typed_search_attributes.get(search.KIND) for d in described] == [KIND, KIND]
    resolved_at = datetime.fromisoformat(incident_state(final)["resolution"]["at"])
    assert [(f["text"], f["owner"], datetime.fromisoformat(f["due"]) - resolved_at) for f in facts] == [
        ("canary deploys", "alice", timedelta(days=14)),
        ("5xx alerts", "bob", timedelta(days=2)),
    ]
    followed = [entry.detail for entry in final.timeline if entry.event == "action item followed up"]
    assert [detail.split(" (")[1].split(",")[0] for detail in followed] == [f"{handle.id}-item-{n}" for n in (1, 2)]
    assert final.refusals[0].handler == "resolve"
    (document,) = world.postmortems
    assert f"- [ ] 5xx alerts ({handle.id}-item-2, owner bob, due " in document.markdown
