"""What every procedure keeps: its steps with times and outcomes, its timeline, the refusals.

One ProcedureStatus per workflow, answered whole by the `status` query. Steps upsert the
RunbookStage search attribute so the UI can list procedures by where they are.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.slack import SlackActivities
    from runbook import proof, search
    from runbook.buttons import with_outcome
    from runbook.models import (
        Payload,
        ProvablePayload,
        SlackButton,
        SlackMessage,
        SlackPosted,
        SlackSettled,
        Undecodable,
    )
    from runbook.people import People
    from runbook.proof import ApprovalPolicy, ProofRefused, Verification
    from runbook.status import HandlerOutcome, ProcedureStatus, Refusal, State, StepRecord, StepState, TimelineEntry
    from workflows.options import QUICK

T = TypeVar("T")
P = TypeVar("P", bound=Payload)

# A refused payload is kept for the record, but never whole: a 1 MB payload must not bloat state.
_PAYLOAD_EXCERPT = 200
_REASON_EXCERPT = 500
# A human decision is a few fields of text. Beyond this, a payload is refused whole: its lists
# (follow-up items, services) have no bound of their own, and whatever is taken stays in state,
# in every `status` answer and in what an incident carries across continue-as-new.
_PAYLOAD_LIMIT = 64 * 1024


class Refused(Exception):
    """A human decision the procedure does not take, and why: recorded for a signal, answered
    to an update, never raised out of a handler."""


def raise_if_cancelled(error: ActivityError | ChildWorkflowError) -> None:
    """An activity or child that ended because this workflow was cancelled: that is the
    cancellation arriving, not a failure of the step."""
    if isinstance(error.cause, CancelledError):
        raise asyncio.CancelledError() from error


def failure_text(error: ActivityError | ChildWorkflowError) -> str:
    """What went wrong in an activity or child, in the words of whoever failed."""
    cause = error.cause
    return str(getattr(cause, "message", None) or cause or error)


def noted_in(problems: list[str], what: str) -> Callable[[str], None]:
    """A `failed` for `Procedure.attempt` that adds what could not be done to `problems`."""
    return lambda why: problems.append(f"{what}: {why}")


class Procedure:
    def __init__(
        self,
        kind: str,
        environment: str,
        requested_by: str,
        steps: list[str],
        people: People | None = None,
        approvals: ApprovalPolicy | None = None,
    ) -> None:
        self.status = ProcedureStatus(
            id=workflow.info().workflow_id,
            kind=kind,
            environment=environment,
            requested_by=requested_by,
            steps=[StepRecord(name=name) for name in steps],
        )
        # Whom a payload's name may mean, and what a decision must prove ([people], [approvals]).
        self._people = people or People({})
        self._approvals = approvals or ApprovalPolicy()
        # Proofs already taken: a signed decision counts once, however often it is sent.
        self._proofs_taken: set[str] = set()
        # The decision being taken while its handler runs: whose it is, and how they were verified.
        self.deciding: Verification | None = None

    def record(self, actor: str, event: str, detail: str = "") -> None:
        deciding = self.deciding
        verified = deciding.how if deciding is not None and deciding.person == actor else ""
        self.status.timeline.append(
            TimelineEntry(at=workflow.now(), actor=actor, event=event, detail=detail, verified=verified)
        )

    def refuse(self, handler: str, payload: Any, reason: str) -> None:
        if len(reason) > _REASON_EXCERPT:
            reason = reason[: _REASON_EXCERPT - 1] + "…"
        self.status.refusals.append(
            Refusal(at=workflow.now(), handler=handler, payload=repr(payload)[:_PAYLOAD_EXCERPT], reason=reason)
        )
        workflow.logger.warning("%s refused: %s", handler, reason)
        self.record("runbook", f"{handler} refused", reason)

    def parse(self, model: type[P], payload: Any) -> P:
        """The payload as `model`, or Refused saying what is wrong with it."""
        if isinstance(payload, Undecodable):
            raise Refused(f"payload could not be read: {payload.reason}")
        if not isinstance(payload, dict):
            raise Refused(f"expected a JSON object like {_example(model)}, got {type(payload).__name__}")
        size = len(json.dumps(payload, default=str))
        if size > _PAYLOAD_LIMIT:
            raise Refused(f"payload too large: {size:,} characters of JSON, at most {_PAYLOAD_LIMIT:,}")
        # Named before pydantic's own "extra inputs are not permitted", with what is known instead.
        unknown = [str(name)[:50] for name in payload if name not in model.model_fields]
        if unknown:
            raise Refused(
                f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))};"
                f" known: {', '.join(model.model_fields)}"
            )
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise Refused(
                "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in error.errors()[:3])
            ) from None

    def decide(self, handler: str, model: type[P], payload: Any, apply: Callable[[P], None]) -> HandlerOutcome:
        """A human decision: parsed, its author made a person and their proof checked, then
        applied; a refusal at any stage is recorded and answered."""
        try:
            parsed = self.parse(model, payload)
            parsed, verification = self._author(handler, parsed, payload)
            self.taken_as(verification, apply, parsed)
        except Refused as refusal:
            self.refuse(handler, payload, str(refusal))
            return HandlerOutcome(accepted=False, reason=self.status.refusals[-1].reason)
        if isinstance(parsed, ProvablePayload) and parsed.proof is not None:
            self._proofs_taken.add(_digest(parsed.proof.signature))
        return HandlerOutcome(accepted=True)

    def taken_as(self, verification: Verification, apply: Callable[[P], None], parsed: P) -> None:
        """Apply a decision whose author is known: what it records carries how they were verified."""
        self.deciding = verification
        try:
            apply(parsed)
        finally:
            self.deciding = None

    def _author(self, handler: str, parsed: P, payload: dict[str, Any]) -> tuple[P, Verification]:
        """The payload with its author's configured name, and how that author is verified; or
        Refused: an unknown person, a proof that does not hold, or none where one is required."""
        if not parsed.person_field:
            return parsed, Verification(person="")
        person = parsed.person
        # A procedure started before [people] existed knows no one: names are taken as written.
        if self._people.root:
            known = self._people.resolve(person)
            if known is None:
                raise Refused(self._people.unknown(person))
            parsed, person = parsed.model_copy(update={parsed.person_field: known}), known
        if not isinstance(parsed, ProvablePayload):
            return parsed, Verification(person=person)
        if parsed.proof is None:
            if self._approvals.require == "verified":
                raise Refused(
                    f"{person}, unverified: [approvals] takes verified decisions only; "
                    + proof.how_to_prove(handler, self.status.id)
                )
            return parsed, Verification(person=person)
        if _digest(parsed.proof.signature) in self._proofs_taken:
            raise Refused("this proof was taken already: a signed decision counts once; sign it again")
        try:
            # cryptography imports modules as it verifies; imported afresh in the workflow sandbox,
            # its compiled core fails the task or aborts the worker (tests/workflows/test_ssh_in_sandbox.py).
            with workflow.unsafe.imports_passed_through():
                return parsed, proof.verify(
                    parsed.proof,
                    payload,
                    person=person,
                    workflow_id=self.status.id,
                    decision=handler,
                    people=self._people,
                    policy=self._approvals,
                    now=workflow.now(),
                )
        except ProofRefused as refusal:
            raise Refused(f"{person}: proof refused: {refusal}") from None

    async def attempt(self, call: Awaitable[T], failed: Callable[[str], object]) -> T | None:
        """An outside call whose failure the procedure survives: `failed` is told why, and the
        answer is None. A cancellation of the workflow is never taken for a failure."""
        try:
            return await call
        except (ActivityError, ChildWorkflowError) as error:
            raise_if_cancelled(error)
            failed(failure_text(error))
            return None

    def noting(self, event: str, context: str = "") -> Callable[[str], None]:
        """A `failed` for `attempt` that puts the failure on the timeline."""
        return lambda why: self.record("runbook", event, f"{context}: {why}" if context else why)

    async def post(self, channel: str, text: str, buttons: list[SlackButton] | None = None) -> SlackPosted | None:
        """A Slack message, best effort: one that cannot be delivered is recorded, and the
        procedure goes on (telling people must never stop a rollback). Where it went, or None."""
        return await self.attempt(
            workflow.execute_activity_method(
                SlackActivities.post_message,
                SlackMessage(channel=channel, text=text, buttons=buttons or []),
                **QUICK,
            ),
            self.noting("Slack message not delivered", channel),
        )

    async def ask(self, channel: str, text: str, buttons: list[SlackButton]) -> SlackSettled | None:
        """A message asking for a decision, with its buttons: what to settle once it is decided,
        or None when it could not be delivered."""
        posted = await self.post(channel, text, buttons)
        return None if posted is None else SlackSettled(channel=posted.channel, ts=posted.ts, text=text)

    async def settle(self, asked: list[SlackSettled], outcome: str) -> None:
        """Messages whose buttons a decision made (or a deadline ended): the buttons give way to
        the outcome, so nobody clicks on a question already answered."""
        for message in asked:
            await self.attempt(
                workflow.execute_activity_method(
                    SlackActivities.settle_buttons,
                    message.model_copy(update={"text": with_outcome(message.text, outcome)}),
                    **QUICK,
                ),
                self.noting("Slack buttons not replaced", message.channel),
            )

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
        except GeneratorExit:
            # The worker dropped this workflow from its cache (it replays elsewhere): no step ended.
            raise
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


def _digest(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()


def _example(model: type[BaseModel]) -> str:
    fields = [name for name, info in model.model_fields.items() if info.is_required()]
    return "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"


class HasProcedure(Protocol):
    _procedure: Procedure


W = TypeVar("W", bound=HasProcedure)


def human_decision(
    name: str, model: type[P], apply: Callable[[W, P], None]
) -> tuple[Callable[[W, Any], None], workflow.UpdateMethodMultiParam[[W, Any], HandlerOutcome]]:
    """A decision people make, under one name twice: the signal the UI sends and the update the
    CLI sends to be answered at once. Both take the same payload and apply it the same way;
    `apply` raises Refused to say no. Declared in a workflow's class body:
    `approve_signal, approve_update = human_decision("approve", ApprovePayload, _approve)`."""

    def signal(self: W, payload: Any = None) -> None:
        self._procedure.decide(name, model, payload, lambda parsed: apply(self, parsed))

    def update(self: W, payload: Any = None) -> HandlerOutcome:
        return self._procedure.decide(name, model, payload, lambda parsed: apply(self, parsed))

    signal.__name__, update.__name__ = f"{name}_signal", f"{name}_update"
    return workflow.signal(name=name)(signal), workflow.update(name=name)(update)
