"""What every procedure keeps: its steps with times and outcomes, its timeline, the refusals.

One ProcedureStatus per workflow, answered whole by the `status` query. Steps upsert the
RunbookStage search attribute so the UI can list procedures by where they are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.slack import SlackActivities
    from runbook import search
    from runbook.models import ProcedureStatus, Refusal, SlackMessage, State, StepRecord, StepState, TimelineEntry

# A short call to an outside system: retried a few times, never for long.
QUICK = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": RetryPolicy(maximum_attempts=5)}

# A refused payload is kept for the record, but never whole: a 1 MB payload must not bloat state.
_PAYLOAD_EXCERPT = 200
_REASON_EXCERPT = 500
# A human decision is a few fields of text. Beyond this, a payload is refused whole: its lists
# (follow-up items, services) have no bound of their own, and whatever is taken stays in state,
# in every `status` answer and in what an incident carries across continue-as-new.
_PAYLOAD_LIMIT = 64 * 1024


def raise_if_cancelled(error: FailureError) -> None:
    """An activity or child that ended because this workflow was cancelled: that is the
    cancellation arriving, not a failure of the step."""
    if isinstance(error.cause, CancelledError):
        raise asyncio.CancelledError() from error


class Procedure:
    def __init__(self, kind: str, environment: str, requested_by: str, steps: list[str]) -> None:
        self.status = ProcedureStatus(
            id=workflow.info().workflow_id,
            kind=kind,
            environment=environment,
            requested_by=requested_by,
            steps=[StepRecord(name=name) for name in steps],
        )

    def record(self, actor: str, event: str, detail: str = "") -> None:
        self.status.timeline.append(TimelineEntry(at=workflow.now(), actor=actor, event=event, detail=detail))

    def refuse(self, handler: str, payload: Any, reason: str) -> None:
        reason = reason if len(reason) <= _REASON_EXCERPT else reason[: _REASON_EXCERPT - 1] + "…"
        self.status.refusals.append(
            Refusal(at=workflow.now(), handler=handler, payload=repr(payload)[:_PAYLOAD_EXCERPT], reason=reason)
        )
        workflow.logger.warning("%s refused: %s", handler, reason)
        self.record("runbook", f"{handler} refused", reason)

    def parse(self, handler: str, model: type[BaseModel], payload: Any) -> Any | None:
        """The payload as `model`, or None with the refusal recorded: a handler never raises."""
        if not isinstance(payload, dict):
            self.refuse(
                handler, payload, f"expected a JSON object like {_example(model)}, got {type(payload).__name__}"
            )
            return None
        size = len(json.dumps(payload, default=str))
        if size > _PAYLOAD_LIMIT:
            self.refuse(handler, payload, f"payload too large: {size:,} characters of JSON, at most {_PAYLOAD_LIMIT:,}")
            return None
        # Pydantic would drop an unknown field silently: a misspelt "passed" or "note" would be
        # taken as if it had not been sent, and the sender never told.
        unknown = [str(name)[:50] for name in payload if name not in model.model_fields]
        if unknown:
            self.refuse(
                handler,
                payload,
                f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; known: {', '.join(model.model_fields)}",
            )
            return None
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in error.errors()[:3])
            self.refuse(handler, payload, problems)
            return None

    async def post(self, channel: str, text: str) -> bool:
        """A Slack message, best effort: one that cannot be delivered is recorded, and the
        procedure goes on (telling people must never stop a rollback)."""
        try:
            await workflow.execute_activity_method(
                SlackActivities.post_message, SlackMessage(channel=channel, text=text), **QUICK
            )
        except ActivityError as error:
            raise_if_cancelled(error)
            self.record(
                "runbook",
                "Slack message not delivered",
                f"{channel}: {getattr(error.cause, 'message', None) or error.cause or error}",
            )
            return False
        return True

    def _step(self, name: str) -> StepRecord:
        return next(step for step in self.status.steps if step.name == name)

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[StepRecord]:
        record = self._step(name)
        record.state, record.started_at = StepState.RUNNING, workflow.now()
        self.status.step = name
        workflow.upsert_search_attributes([search.STAGE.value_set(name)])
        workflow.logger.info("step %s started", name)
        try:
            yield record
        except BaseException as error:
            record.state, record.ended_at = StepState.FAILED, workflow.now()
            record.detail = record.detail or str(error)
            workflow.logger.warning("step %s failed: %s", name, record.detail)
            raise
        else:
            record.ended_at = workflow.now()
            if record.state == StepState.RUNNING:
                record.state = StepState.PASSED
            log = workflow.logger.warning if record.state == StepState.FAILED else workflow.logger.info
            log("step %s %s%s", name, record.state.value, f": {record.detail}" if record.detail else "")

    def fail_step(self, record: StepRecord, reasons: list[str]) -> None:
        record.state, record.detail = StepState.FAILED, "; ".join(reasons)

    def skip(self, name: str, why: str) -> None:
        record = self._step(name)
        record.state, record.detail = StepState.SKIPPED, why

    def finish(self, state: State, result: BaseModel) -> None:
        self.status.state = state
        self.status.step = ""
        self.status.result = result.model_dump(mode="json")
        workflow.upsert_search_attributes([search.STAGE.value_set(state.value.lower())])
        self.record("runbook", f"finished {state.value}")
        workflow.logger.info("%s finished %s", self.status.kind, state.value)


def _example(model: type[BaseModel]) -> str:
    fields = [name for name, info in model.model_fields.items() if info.is_required()]
    return "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
