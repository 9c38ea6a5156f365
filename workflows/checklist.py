"""The runbook's Manual Verification Checklist as a procedure waits for it.

Items are ticked by `check` (a signal from the UI, an update from `runbook check`); while some are
pending, a reminder goes out every interval until the deadline. Verification (`--manual`) and the
production deployments share it: what each does at the deadline with what nobody ticked is theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from runbook.verification import ChecklistItem, CheckPayload, ItemState
    from workflows.procedure import Procedure, Refused


class ManualChecklist:
    def __init__(self, procedure: Procedure, names: list[str]) -> None:
        self._procedure = procedure
        self.items = {name: ChecklistItem(name=name) for name in names}
        self.deadline: datetime | None = None
        self._next_reminder: datetime | None = None

    def open(self, lasts: timedelta, reminder_every: timedelta) -> None:
        """From now on the checklist waits, at most `lasts`, reminding every `reminder_every`."""
        self.deadline = workflow.now() + lasts
        self._next_reminder = workflow.now() + reminder_every

    def pending(self) -> list[ChecklistItem]:
        return [item for item in self.items.values() if item.state == ItemState.PENDING]

    def failed(self) -> list[ChecklistItem]:
        return [item for item in self.items.values() if item.state == ItemState.FAILED]

    def tick(self, check: CheckPayload) -> ChecklistItem:
        """The item as `check` says it went, on the record; Refused for an item not on the list."""
        if check.item not in self.items:
            raise Refused(f"unknown checklist item {check.item!r}; known: {', '.join(self.items)}")
        item = self.items[check.item]
        item.state = ItemState.PASSED if check.passed else ItemState.FAILED
        item.by, item.at, item.note = check.user, workflow.now(), check.note
        self._procedure.record(check.user, f"checked {check.item}: {item.state.value}", check.note)
        return item

    def is_open(self) -> bool:
        """Items pending and the deadline still ahead."""
        return bool(self.pending()) and self.deadline is not None and workflow.now() < self.deadline

    async def wait(
        self,
        reminder_every: timedelta,
        remind: Callable[[list[str]], Awaitable[object]],
        interrupted: Callable[[], bool] = lambda: False,
        wake_by: datetime | None = None,
    ) -> None:
        """Until no item is pending, the deadline passes, `interrupted()` holds or `wake_by` comes;
        `remind` is called with the pending items' names at each interval meanwhile. Called again
        after an interruption, the reminders keep their rhythm."""
        assert self.deadline is not None and self._next_reminder is not None, "open() the checklist first"

        def woken() -> bool:
            return interrupted() or (wake_by is not None and workflow.now() >= wake_by)

        while self.is_open() and not woken():
            if workflow.now() >= self._next_reminder:
                self._next_reminder = workflow.now() + reminder_every
                await remind([item.name for item in self.pending()])
                continue
            wait = min(self._next_reminder, self.deadline, wake_by or self.deadline) - workflow.now()
            try:
                await workflow.wait_condition(lambda: not self.pending() or interrupted(), timeout=wait)
            except TimeoutError:
                pass  # a reminder is due, or the deadline or `wake_by` came: the loop says which

    def status(self) -> list[dict[str, object]]:
        return [item.model_dump(mode="json") for item in self.items.values()]
