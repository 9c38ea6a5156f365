"""A post-mortem's action item, followed up until it is done (RUNBOOK.md, Post-Mortem: "Create
action items"): wait until its due date → remind its owner in the incidents channel, then every
few days → close once someone says it is done (`done`, with a note).

Each item is a workflow of its own, started by the resolved incident as a child it abandons: the
item outlives the incident by weeks. Continue-as-new keeps each run's history short however long
the reminders go on.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from runbook import search
    from runbook.action_items import (
        KIND,
        ActionItemRequest,
        ActionItemResult,
        ActionItemState,
        CarriedActionItem,
        Completion,
        DonePayload,
    )
    from runbook.incident import IncidentRequest, IncidentState, Resolution
    from runbook.messages import action_items as texts
    from runbook.status import ProcedureStatus, State
    from workflows.procedure import Procedure, Refused, human_decision

STEPS = ["wait_until_due", "remind_owner", "close"]


@workflow.defn(name="ActionItem")
class ActionItemFollowUp:
    @workflow.init
    def __init__(self, request: ActionItemRequest) -> None:
        self._request = request
        self._item = request.item
        self._procedure = Procedure(KIND, request.environment, request.created_by, STEPS, request.people)
        if request.carried:
            self._procedure.status = request.carried.status
            self._state = request.carried.state
        else:
            self._state = ActionItemState(next_reminder_at=request.item.due)

    @workflow.run
    async def run(self, request: ActionItemRequest) -> ActionItemResult:
        if not request.carried:
            self._procedure.record(
                request.created_by, "action item created", texts.described(self._item, request.timezone)
            )
            await self.wait_until_due()
        while self._state.done is None:
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried())
            if workflow.now() >= self._state.next_reminder_at:
                await self.remind_owner()
            await self._wait_for_done(self._state.next_reminder_at)
        return await self.close()

    async def wait_until_due(self) -> None:
        async with self._procedure.step("wait_until_due") as step:
            step.detail = f"due {texts.due_text(self._item, self._request.timezone)}, owner {self._item.owner}"
            await self._wait_for_done(self._item.due)
        if self._state.done is not None:
            self._procedure.skip("remind_owner", "done before its due date")

    async def remind_owner(self) -> None:
        """On the due date, then every reminder_every while it is not done; a reminder missed
        (the worker was down for days) is sent once, not once for every period it missed."""
        state, now = self._state, workflow.now()
        async with self._procedure.step("remind_owner") as step:
            text = texts.reminder_message(
                self._item, self._request.incident_id, now, self._request.timezone, self._request.people
            )
            if await self._procedure.post(self._request.channel, text):
                state.reminders += 1
                state.last_reminded_at = now
                self._procedure.record("runbook", f"reminder {state.reminders} sent", f"@{self._item.owner}")
            step.detail = f"{state.reminders} reminder{'s' if state.reminders != 1 else ''} to {self._item.owner}"
            while state.next_reminder_at <= now:
                state.next_reminder_at += self._request.reminder_every

    async def close(self) -> ActionItemResult:
        done = self._state.done
        assert done is not None, "an action item closes once it is done"
        async with self._procedure.step("close"):
            await self._procedure.post(
                self._request.channel,
                texts.done_message(self._item, self._request.incident_id, done, self._request.people),
            )
        result = ActionItemResult(
            id=self._item.id,
            done_by=done.by,
            done_at=done.at,
            note=done.note,
            reminders=self._state.reminders,
            late=done.at > self._item.due,
        )
        self._procedure.finish(State.COMPLETED, result)
        return result

    async def _wait_for_done(self, until: datetime) -> None:
        try:
            await workflow.wait_condition(lambda: self._state.done is not None, timeout=until - workflow.now())
        except TimeoutError:
            pass

    def _done(self, done: DonePayload) -> None:
        finished = self._state.done
        if finished is not None:
            raise Refused(f"{self._item.id} is done already: by {finished.by} ({finished.note})")
        self._state.done = Completion(by=done.user, at=workflow.now(), note=done.note)
        self._procedure.record(done.user, "done", done.note)

    done_signal, done_update = human_decision("done", DonePayload, _done)

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        details = {
            "action_item": {
                **self._item.model_dump(mode="json"),
                "incident": self._request.incident_id,
                "incident_summary": self._request.incident_summary,
                **self._state.model_dump(mode="json"),
            }
        }
        return dataclasses.replace(self._procedure.status, details=details)

    # Continue-as-new -----------------------------------------------------------------------------

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._request.events_per_run

    def _carried(self) -> ActionItemRequest:
        state = self._state.model_copy(update={"runs": self._state.runs + 1})
        return self._request.model_copy(
            update={"carried": CarriedActionItem(state=state, status=self._procedure.status)}
        )


async def track_action_items(
    procedure: Procedure, incident_id: str, request: IncidentRequest, state: IncidentState, resolution: Resolution
) -> None:
    """Each action item of a resolved incident followed up by a workflow of its own, which the
    incident leaves running when it ends (ParentClosePolicy.ABANDON)."""
    policy = request.policy
    for item in resolution.follow_up:
        follow_up = ActionItemRequest(
            item=item,
            incident_id=incident_id,
            incident_summary=state.summary,
            environment=request.environment,
            services=state.services,
            created_by=resolution.by,
            channel=request.channel,
            reminder_every=policy.action_item_reminder_every,
            timezone=policy.timezone,
            events_per_run=policy.events_per_run,
            people=request.people,
        )
        try:
            await workflow.start_child_workflow(
                ActionItemFollowUp.run,
                follow_up,
                id=item.id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=search.start_attributes(KIND, request.environment, state.services),
            )
        except WorkflowAlreadyStartedError:
            procedure.record("runbook", "action item already followed up", item.id)
            continue
        procedure.record("runbook", "action item followed up", texts.described(item, policy.timezone))
