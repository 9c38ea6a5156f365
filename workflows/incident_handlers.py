"""What people tell an incident: acknowledge, update, mitigate, resolve, severity. Each is a
signal (the UI) and an update of the same name (the CLI) with one payload model; a handler only
changes the state and puts it on the record, and the Incident workflow (workflows/incident.py)
does what the new state asks of the outside world."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from runbook import search
    from runbook import severity as policy
    from runbook.action_items import action_items
    from runbook.config import IncidentsConfig
    from runbook.incident import (
        Acknowledgement,
        CommanderUpdate,
        IncidentRequest,
        IncidentState,
        Mitigation,
        MitigationAction,
        Notice,
        Resolution,
        ResolveOutcome,
        ResolveRequest,
    )
    from runbook.incident_payloads import (
        AcknowledgePayload,
        MitigatePayload,
        ResolvePayload,
        SeverityPayload,
        UpdatePayload,
    )
    from runbook.messages import incident as texts
    from runbook.people import People
    from runbook.status import ProcedureStatus
    from workflows.procedure import Procedure, Refused, human_decision


class IncidentHandlers:
    _request: IncidentRequest
    _policy: IncidentsConfig
    _people: People
    _id: str
    _procedure: Procedure
    _state: IncidentState
    # Set by a handler, cleared by the workflow's loop: something new to act on.
    _changed: bool
    _postmortem: str
    # The verdict on the last resolve verified (its number, the answer), for the update that waits.
    _verdict: tuple[int, ResolveOutcome] | None

    def _acknowledge(self, ack: AcknowledgePayload) -> None:
        self._require_open()
        state, now = self._state, workflow.now()
        if state.acknowledged:
            raise Refused(f"already acknowledged by {state.acknowledged.by}")
        deciding = self._procedure.deciding
        state.acknowledged = Acknowledgement(
            by=ack.user,
            at=now,
            note=ack.note,
            within_target=now <= state.target_respond_by,
            verified=deciding.how if deciding else "unverified",
        )
        state.respond_by = None
        self._procedure.record(
            ack.user, "acknowledged", ack.note or f"{texts.elapsed(now - state.declared_at)} after declaration"
        )
        state.notices.append(
            Notice(
                kind="acknowledged",
                by=ack.user,
                text=texts.acknowledged_message(self._id, state.acknowledged, state.declared_at, self._people),
            )
        )
        self._changed = True

    def _update(self, update: UpdatePayload) -> None:
        self._require_open()
        state = self._state
        state.updates.append(
            CommanderUpdate(
                by=update.user, at=workflow.now(), status=update.status, action=update.action, eta=update.eta
            )
        )
        state.status, state.action, state.eta, state.commander_news = update.status, update.action, update.eta, True
        self._procedure.record(update.user, f"update: {update.status}", f"{update.action} (ETA {update.eta})")
        if self._update_interval() is None:
            # Without regular updates (P3, P4) each one is told at once.
            state.notices.append(
                Notice(
                    kind="updated",
                    by=update.user,
                    text=texts.update_message(state.services, update.status, update.action, update.eta),
                )
            )
        self._changed = True

    def _mitigate(self, mitigation: MitigatePayload) -> None:
        self._require_open()
        known = self._request.known_services
        unknown = [service for service in mitigation.services if service not in known]
        if unknown:
            raise Refused(f"unknown service {unknown[0]!r}; known: {', '.join(known)}")
        self._add_mitigation(
            mitigation.action, mitigation.services or self._request.affected, mitigation.user, mitigation.reason
        )

    def _resolve(self, resolve: ResolvePayload) -> None:
        self._require_open()
        state = self._state
        if not workflow.patched("verified-resolution"):
            self._take_resolution(resolve)
            return
        # One at a time: the main loop verifies it (workflows/incident.py verify_resolution).
        if state.resolve_request is not None:
            raise Refused(f"a resolve by {state.resolve_request.payload.user} is being verified first")
        state.resolve_requests += 1
        state.resolve_request = ResolveRequest(number=state.resolve_requests, at=workflow.now(), payload=resolve)
        self._procedure.record(
            resolve.user,
            "resolve asked",
            f"verifying the health and figures of {texts.service_label(self._request.affected)}"
            + (f"; forced: {resolve.force_reason}" if resolve.force else ""),
        )
        self._changed = True

    def _take_resolution(self, resolve: ResolvePayload, unverified: list[str] | None = None) -> None:
        state = self._state
        state.resolution = Resolution(
            by=resolve.user,
            at=workflow.now(),
            resolution=resolve.resolution,
            root_cause=resolve.root_cause,
            impact=resolve.impact or state.summary,
            follow_up=action_items(
                self._id, resolve.follow_up, resolve.user, workflow.now(), self._policy.action_item_due
            ),
            improvements=resolve.improvements,
            unverified=unverified or [],
            forced_reason=resolve.force_reason if unverified else "",
        )
        self._procedure.record(resolve.user, "resolved", resolve.resolution)
        self._changed = True

    def _regrade(self, regrade: SeverityPayload) -> None:
        self._require_open()
        state = self._state
        before = state.severity
        if regrade.severity == before:
            raise Refused(f"{self._id} is {before.value} already")
        state.severity = regrade.severity
        workflow.upsert_search_attributes([search.SEVERITY.value_set(regrade.severity.value)])
        state.target_respond_by = policy.respond_by(
            regrade.severity, state.declared_at, self._policy, self._request.ack_within
        )
        if state.acknowledged is None:
            since = state.escalations[-1].at if state.escalations else state.declared_at
            state.respond_by = policy.respond_by(regrade.severity, since, self._policy, self._request.ack_within)
        if self._update_interval() is None:
            state.next_update_at = None
        self._procedure.record(regrade.user, f"regraded {before.value} → {regrade.severity.value}", regrade.reason)
        state.notices.append(
            Notice(
                kind="regraded",
                by=regrade.user,
                text=texts.regraded_message(
                    self._id, before, regrade.severity, regrade.user, regrade.reason, self._people
                ),
            )
        )
        self._changed = True

    acknowledge_signal, acknowledge_update = human_decision("acknowledge", AcknowledgePayload, _acknowledge)
    update_signal, update_update = human_decision("update", UpdatePayload, _update)
    mitigate_signal, mitigate_update = human_decision("mitigate", MitigatePayload, _mitigate)

    @workflow.signal(name="resolve")
    def resolve_signal(self, payload: Any = None) -> None:
        self._procedure.decide("resolve", ResolvePayload, payload, self._resolve)

    @workflow.update(name="resolve")
    async def resolve_update(self, payload: Any = None) -> ResolveOutcome:
        """Answered once the resolution is verified: taken, or refused with what is not healthy."""
        outcome = self._procedure.decide("resolve", ResolvePayload, payload, self._resolve)
        asked = self._state.resolve_request
        if not outcome.accepted or asked is None:
            return ResolveOutcome(accepted=outcome.accepted, reason=outcome.reason)
        await workflow.wait_condition(lambda: self._verdict is not None and self._verdict[0] == asked.number)
        assert self._verdict is not None
        return self._verdict[1]

    severity_signal, severity_update = human_decision("severity", SeverityPayload, _regrade)

    def _require_open(self) -> None:
        if self._state.resolution is not None:
            raise Refused(f"{self._id} is resolved")

    def _add_mitigation(self, action: MitigationAction, services: list[str], by: str, reason: str) -> None:
        number = len(self._state.mitigations) + 1
        self._state.mitigations.append(
            Mitigation(
                number=number, action=action, services=services, by=by, reason=reason, requested_at=workflow.now()
            )
        )
        self._procedure.record(
            by,
            f"mitigation {number} requested: {action}",
            f"{', '.join(services)}" + (f" ({reason})" if reason else ""),
        )
        self._changed = True

    def _update_interval(self) -> timedelta | None:
        return policy.update_interval(self._state.severity, self._policy, self._request.update_every)

    @workflow.query(name="status")
    def status(self) -> ProcedureStatus:
        details: dict[str, Any] = {"incident": self._state.model_dump(mode="json")}
        if self._postmortem:
            details["postmortem"] = self._postmortem
        return dataclasses.replace(self._procedure.status, details=details)
