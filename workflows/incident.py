"""Incident Response (RUNBOOK.md): alert and page → war room → assess → mitigate → communicate every
15 minutes → resolve → post-mortem, with P1–P4 response times and escalation.

Handlers (acknowledge, update, mitigate, resolve, severity) only change the state and put it on
the record. One loop keeps the outside world in step with that state: it meets what the severity
obliges (war room, status page, assessment), rolls production back once a deployment-related
incident is acknowledged, tells what handlers accepted, and wakes for the next deadline
(escalation) or update. Mitigations run beside the loop, so updates keep their cadence while
production rolls back. Continue-as-new bounds each run's history and carries state and record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.incident import IncidentActivities
    from activities.lock import LockActivities
    from activities.mitigation import MitigationActivities
    from activities.pager import PagerActivities
    from activities.slack import SlackActivities
    from activities.statuspage import StatusPageActivities
    from runbook import limits, search
    from runbook import severity as policy
    from runbook.assessment import assess
    from runbook.buttons import acknowledge_buttons, outcome
    from runbook.decision import Action
    from runbook.incident import (
        CLOCK_PHASES,
        STATUSPAGE_STATUS,
        AssessmentRecord,
        CarriedIncident,
        ChannelRequest,
        Escalation,
        IncidentRequest,
        IncidentResult,
        IncidentState,
        InviteRequest,
        Mitigation,
        OpsRequest,
        PageAccepted,
        PageAction,
        PageRequest,
        PhaseTime,
        PostmortemDocument,
        RelatedDeploymentsQuery,
        Resolution,
        ResolveOutcome,
        ResolveRequest,
        ScaleUpRequest,
        ServiceStatesRequest,
        StatusPageChange,
        StatusPageOpen,
        WarRoom,
    )
    from runbook.incident_payloads import AcknowledgePayload
    from runbook.messages import incident as texts
    from runbook.models import LockRelease, PreemptRequest, RollbackRequest, RollbackResult, SlackButton
    from runbook.pager import AcknowledgementWatch, PageEscalation, acknowledged_in_pagerduty
    from runbook.postmortem import render_postmortem
    from runbook.proof import Verification
    from runbook.status import State, StepRecord, StepState
    from workflows.action_items import track_action_items
    from workflows.incident_handlers import IncidentHandlers
    from workflows.options import PAGER_WATCH, QUICK
    from workflows.procedure import Procedure, failure_text, noted_in, raise_if_cancelled
    from workflows.rollback import Rollback
    from workflows.steps import observe_services


STEPS = ["alert", "war_room", "status_page", "assess", "mitigate", "verify_resolution", "resolve", "post_mortem"]
WAR_ROOM_STEPS = ("war_room", "status_page", "assess")


@workflow.defn(name="Incident")
class Incident(IncidentHandlers):
    @workflow.init
    def __init__(self, request: IncidentRequest) -> None:
        self._request = request
        self._policy = request.policy
        self._people = request.people
        self._id = workflow.info().workflow_id
        self._procedure = Procedure(
            "incident", request.environment, request.declared_by, STEPS, request.people, request.approvals
        )
        if request.carried:
            self._procedure.status = request.carried.status
            self._state = request.carried.state
            self._add_steps_added_since()
        else:
            now = workflow.now()
            due = policy.respond_by(request.severity, now, self._policy, request.ack_within)
            self._state = IncidentState(
                severity=request.severity,
                declared_severity=request.severity,
                summary=request.summary,
                services=request.services,
                commander=request.declared_by,
                declared_at=now,
                target_respond_by=due,
                respond_by=due,
            )
        self._changed = False
        self._mitigating: set[asyncio.Task[None]] = set()
        self._finished: list[asyncio.Task[None]] = []
        self._postmortem = ""
        self._verdict = None
        # Decided once, as the run starts, so that every replay of it takes the same side.
        self._keeps_clock = workflow.patched("p1-clock")
        self._escalates_in_pagerduty = workflow.patched("escalation-through-pagerduty")
        self._pagerduty_watch: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, request: IncidentRequest) -> IncidentResult:
        if not request.carried:
            await self.alert()
        while self._state.resolution is None:
            self._changed = False
            self._surface_mitigation_errors()
            await self._meet_obligations()
            await self._on_deadlines()
            if self._state.resolve_request is not None:
                await self.verify_resolution(self._state.resolve_request)
            if self._state.resolution is not None:
                break
            if self._history_is_long():
                # A resolve asked meanwhile waits for its verdict: verified in this run, not carried.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or self._state.resolve_request is not None
                )
                if self._state.resolve_request is None:
                    await self._stop_watching_pagerduty()
                    workflow.continue_as_new(self._carried())
            await self._wait_for_change_or_deadline()
        await self._stop_watching_pagerduty()
        await workflow.wait_condition(lambda: not self._mitigating)
        self._surface_mitigation_errors()
        self._drop_unstarted_mitigations()
        await self._tell_notices()
        resolution = self._state.resolution
        assert resolution is not None, "the loop above ends only once the incident is resolved"
        await self.resolve(resolution)
        if resolution.follow_up and workflow.patched("action-items-followed-up"):
            await track_action_items(self._procedure, self._id, self._request, self._state, resolution)
        return await self.post_mortem(resolution)

    # Alert -------------------------------------------------------------------------------------

    async def alert(self) -> None:
        state = self._state
        async with self._procedure.step("alert"):
            self._procedure.record(
                state.commander,
                f"declared {state.severity.value}",
                f"{state.summary} ({texts.service_label(state.services)})",
            )
            workflow.upsert_search_attributes([search.SEVERITY.value_set(state.severity.value)])
            initial = texts.initial_alert(state.services, state.summary)
            if await self._post(self._request.channel, initial, acknowledge_buttons(self._id)):
                self._procedure.record("runbook", "initial alert posted", self._request.channel)
            if await self._page(self._page_request(texts.page_declared(self._id, state))):
                self._procedure.record("runbook", "on-call paged", f"dedup key {self._id}")
        if not policy.opens_war_room(state.severity, self._policy):
            for step in WAR_ROOM_STEPS:
                self._procedure.skip(step, f"{state.severity.value} does not open a war room")

    # What the state obliges ----------------------------------------------------------------------

    async def _meet_obligations(self) -> None:
        await self._tell_notices()
        await self._settle_acknowledge_buttons()
        if policy.opens_war_room(self._state.severity, self._policy):
            if self._state.war_room is None and "war_room" not in self._unavailable():
                await self.open_war_room()
            if self._state.status_page is None and "status_page" not in self._unavailable():
                await self.open_status_page()
            if self._state.assessment is None:
                await self.assess()
            self._start_updates()
        self._watch_pagerduty_for_acknowledgement()
        self._roll_back_when_deployment_related()
        for mitigation in self._state.mitigations:
            if mitigation.state == "pending":
                mitigation.state, mitigation.started_at = "running", workflow.now()
                task = asyncio.create_task(self.mitigate(mitigation))
                self._mitigating.add(task)
                task.add_done_callback(self._mitigation_finished)

    async def _settle_acknowledge_buttons(self) -> None:
        """Acknowledged, however: the Acknowledge buttons give way to who acknowledged."""
        acknowledged = self._state.acknowledged
        if acknowledged is None or not self._state.asking or not workflow.patched("decision-buttons"):
            return
        asked, self._state.asking = self._state.asking, []
        await self._procedure.settle(
            asked, outcome("acknowledge", acknowledged.by, acknowledged.verified, self._people)
        )

    def _unavailable(self) -> list[str]:
        """Steps that failed for good: not tried again on every turn of the loop."""
        return [step.name for step in self._procedure.status.steps if step.state == StepState.FAILED]

    async def open_war_room(self) -> None:
        state = self._state
        async with self._procedure.step("war_room") as step:
            channel = await self._procedure.attempt(
                workflow.execute_activity_method(
                    SlackActivities.create_channel, ChannelRequest(name=texts.war_room_name(self._id)), **QUICK
                ),
                lambda why: self._procedure.fail_step(step, [f"war room not created: {why}"]),
            )
            if channel is None:
                return
            state.war_room = WarRoom(id=channel.id, name=channel.name)
            self._procedure.record("runbook", "war room opened", f"#{channel.name}")
            invited = await self._invite(
                list(dict.fromkeys([state.commander, *self._policy.responders, *(e.to for e in state.escalations)]))
            )
            if invited:
                self._procedure.record("runbook", "responders invited", ", ".join(invited))
            window = policy.response_window_text(state.severity, self._policy, self._request.ack_within)
            await self._post(
                channel.id,
                texts.war_room_opened(self._id, state, window, self._update_interval(), self._people),
                None if state.acknowledged else acknowledge_buttons(self._id),
            )

    async def open_status_page(self) -> None:
        state = self._state
        async with self._procedure.step("status_page") as step:
            opening = StatusPageOpen(
                name=texts.status_page_name(state.services, state.summary),
                body=texts.status_page_opened(state.services, state.summary),
                impact=policy.STATUSPAGE_IMPACT[state.severity],
                services=self._request.affected,
                component_status=policy.COMPONENT_STATUS[state.severity],
            )
            state.status_page = await self._procedure.attempt(
                workflow.execute_activity_method(StatusPageActivities.open_status_page, opening, **QUICK),
                lambda why: self._procedure.fail_step(step, [f"status page not opened: {why}"]),
            )
            if state.status_page:
                self._procedure.record(
                    "runbook", "status page incident opened", state.status_page.shortlink or state.status_page.id
                )

    async def assess(self) -> None:
        """Health and ECS state of the affected services, the decision matrix's view, and whether a
        deployment or hotfix of them ran within the window. What cannot be observed is named."""
        request, state = self._request, self._state
        services, environment = request.affected, request.environment
        async with self._procedure.step("assess") as step:
            problems: list[str] = []
            metrics, health = await observe_services(
                self._procedure, environment, services, request.thresholds.decision_window, problems
            )
            ecs = await self._procedure.attempt(
                workflow.execute_activity_method(
                    IncidentActivities.service_states,
                    ServiceStatesRequest(environment=environment, services=services),
                    **QUICK,
                ),
                noted_in(problems, "ECS state"),
            )
            since = workflow.now() - self._policy.deployment_window
            related = await self._procedure.attempt(
                workflow.execute_activity_method(
                    IncidentActivities.related_deployments,
                    RelatedDeploymentsQuery(environment=environment, services=state.services, since=since),
                    **QUICK,
                ),
                noted_in(problems, "recent deployments"),
            )
            matrix = assess(metrics, health, request.thresholds) if metrics else None
            state.assessment = AssessmentRecord(
                at=workflow.now(),
                services=services,
                unhealthy=[service for service, report in health.items() if not report.healthy],
                ecs=ecs or [],
                decisions=matrix.decisions if matrix else [],
                worst=matrix.worst if matrix else Action.NONE,
                vetoed=matrix.vetoed if matrix else False,
                related=related or [],
                problems=problems,
            )
            assessment = state.assessment
            step.detail = f"worst action {assessment.worst.value}" + (
                f"; not observed: {'; '.join(problems)}" if problems else ""
            )
            self._procedure.record(
                "runbook",
                "assessed",
                f"failing: {', '.join(assessment.unhealthy) or 'none'}; decision matrix: {assessment.worst.value}",
            )
            if assessment.deployment_related:
                self._procedure.record(
                    "runbook",
                    "deployment-related",
                    "; ".join(deployment.describe() for deployment in assessment.related),
                )
                if assessment.vetoed:
                    self._procedure.record(
                        "runbook",
                        "rollback vetoed by the decision matrix",
                        "database errors: DO NOT roll back; the commander decides",
                    )
            else:
                self._procedure.record("runbook", "not deployment-related", "the commander chooses the mitigation")
            await self._post(self._room(), texts.assessment_message(self._id, assessment))

    def _roll_back_when_deployment_related(self) -> None:
        state = self._state
        assessment = state.assessment
        if not (assessment and assessment.deployment_related and not assessment.vetoed and state.acknowledged):
            return
        if any(mitigation.action == "rollback" for mitigation in state.mitigations):
            return
        related = ", ".join(deployment.id for deployment in assessment.related)
        self._add_mitigation(
            "rollback", self._rollback_services(assessment), "runbook", f"deployment-related: {related}"
        )

    def _rollback_services(self, assessment: AssessmentRecord) -> list[str]:
        known = self._request.known_services
        if self._policy.rollback_scope == "all":
            return list(known)
        deployed = {service for deployment in assessment.related for service in deployment.services}
        affected = [
            service
            for service in known
            if service in deployed and (not self._state.services or service in self._state.services)
        ]
        return affected or self._request.affected

    # Mitigations ---------------------------------------------------------------------------------

    async def mitigate(self, mitigation: Mitigation) -> None:
        try:
            async with self._procedure.step("mitigate") as step:
                succeeded, mitigation.detail = await self._apply(mitigation)
                if not succeeded:
                    self._procedure.fail_step(step, [mitigation.detail])
        except (ActivityError, ChildWorkflowError) as error:
            raise_if_cancelled(error)
            succeeded, mitigation.detail = False, failure_text(error)
        mitigation.state, mitigation.ended_at = ("done" if succeeded else "failed"), workflow.now()
        self._procedure.record(
            mitigation.by, f"mitigation {mitigation.number} {mitigation.state}: {mitigation.action}", mitigation.detail
        )
        if succeeded:
            # Told beside the commander's words, never in their place.
            self._state.done_since_update.append(
                f"{mitigation.action} of {texts.service_label(mitigation.services)}: {mitigation.detail}"
            )
            if self._state.status == "Investigating":
                self._state.status = "Mitigating"
        await self._post(self._room(), texts.mitigation_message(self._id, mitigation, self._people))

    def _mitigation_finished(self, task: asyncio.Task[None]) -> None:
        self._mitigating.discard(task)
        self._finished.append(task)
        self._changed = True

    def _surface_mitigation_errors(self) -> None:
        # A bug in a mitigation fails the workflow task here, as one on the main line would,
        # instead of vanishing with its asyncio task.
        while self._finished:
            self._finished.pop().result()

    def _drop_unstarted_mitigations(self) -> None:
        for mitigation in self._state.mitigations:
            if mitigation.state == "pending":
                mitigation.state, mitigation.detail, mitigation.ended_at = (
                    "failed",
                    "not started: the incident was resolved first",
                    workflow.now(),
                )
                self._procedure.record(
                    "runbook", f"mitigation {mitigation.number} dropped: {mitigation.action}", mitigation.detail
                )

    async def _apply(self, mitigation: Mitigation) -> tuple[bool, str]:
        environment = self._request.environment
        if mitigation.action == "rollback":
            return await self._roll_back(mitigation)
        if mitigation.action == "scale_up":
            states = await workflow.execute_activity_method(
                IncidentActivities.service_states,
                ServiceStatesRequest(environment=environment, services=mitigation.services),
                **QUICK,
            )
            request = ScaleUpRequest(
                environment=environment, desired_before={state.service: state.desired for state in states}
            )
            changes = await workflow.execute_activity_method(MitigationActivities.scale_up, request, **QUICK)
            return True, "; ".join(f"{c.service} {c.before} → {c.after} tasks" for c in changes)
        method = (
            MitigationActivities.rate_limit
            if mitigation.action == "rate_limit"
            else MitigationActivities.maintenance_page
        )
        applied = await workflow.execute_activity_method(
            method, OpsRequest(environment=environment, services=mitigation.services, incident_id=self._id), **QUICK
        )
        return True, applied.detail

    async def _roll_back(self, mitigation: Mitigation) -> tuple[bool, str]:
        """The runbook's `rollback.sh -y production ...` as a child, holding the environment itself:
        a deployment in flight is pre-empted."""
        environment = self._request.environment
        reason = f"{self._id}: {self._state.summary} ({mitigation.reason})"
        grant = await workflow.execute_activity_method(
            LockActivities.preempt_lock,
            PreemptRequest(environment=environment, holder_id=self._id, kind="rollback", reason=reason),
            **QUICK,
        )
        if not grant.granted:
            holder = f" by {grant.holder.id} ({grant.holder.kind})" if grant.holder else ""
            return False, f"{environment} is being changed{holder}"
        child_id = f"{self._id}-rollback-{mitigation.number}"
        try:
            result: RollbackResult = await workflow.execute_child_workflow(
                Rollback.run,
                RollbackRequest(
                    environment=environment,
                    services=mitigation.services,
                    reason=reason,
                    requested_by=self._id,
                    channel=self._room(),
                    lock_holder=self._id,
                    whole_environment=self._policy.rollback_scope == "all",
                ),
                id=child_id,
                search_attributes=search.start_attributes("rollback", environment, mitigation.services),
            )
        finally:
            await workflow.execute_activity_method(
                LockActivities.release_lock, LockRelease(environment=environment, holder_id=self._id), **QUICK
            )
        outcomes = [
            f"{o.service} {o.from_version} → {o.to_version} {o.outcome}" + (f" ({o.detail})" if o.detail else "")
            for o in result.services
        ]
        return result.state == State.COMPLETED, f"{child_id} {result.state.value}: " + "; ".join(
            outcomes + result.problems
        )

    # Deadlines: escalation and updates -----------------------------------------------------------

    def _next_deadline(self) -> datetime | None:
        state = self._state
        deadlines = [state.next_update_at]
        if state.acknowledged is None:
            deadlines.append(state.respond_by)
        deadlines += [phase.due for phase in self._clock_running()]
        return min((deadline for deadline in deadlines if deadline is not None), default=None)

    async def _wait_for_change_or_deadline(self) -> None:
        deadline = self._next_deadline()
        if deadline is not None and deadline <= workflow.now():
            return
        try:
            await workflow.wait_condition(
                lambda: self._changed, timeout=deadline - workflow.now() if deadline else None
            )
        except TimeoutError:
            pass

    async def _on_deadlines(self) -> None:
        state, now = self._state, workflow.now()
        if state.acknowledged is None and state.respond_by is not None and now >= state.respond_by:
            await self.escalate()
        for phase in self._clock_running():
            if now >= phase.due:
                await self.remind_of_the_clock(phase)
        interval = self._update_interval()
        if state.commander_news and interval and workflow.patched("commander-update-at-once"):
            # The commander's update goes out as it is given; the longest silence counts from it.
            await self.post_update()
            state.next_update_at = workflow.now() + interval
            return
        if state.next_update_at is not None and now >= state.next_update_at:
            await self.post_update()
            interval = self._update_interval()
            while interval and state.next_update_at and state.next_update_at <= now:
                state.next_update_at += interval
            if interval is None:
                state.next_update_at = None

    async def escalate(self) -> None:
        state, now = self._state, workflow.now()
        level = len(state.escalations)
        target = policy.escalation_target(level, self._policy)
        window = policy.response_window_text(state.severity, self._policy, self._request.ack_within)
        if target is None:
            state.respond_by = None
            self._procedure.record(
                "runbook",
                "still not acknowledged",
                f"nobody left to escalate to after {', '.join(e.to for e in state.escalations) or 'the on-call'}",
            )
            return
        state.escalations.append(Escalation(level=level + 1, to=target, at=now))
        state.respond_by = policy.respond_by(state.severity, now, self._policy, self._request.ack_within)
        self._procedure.record(
            "runbook", f"escalated to {target}", f"not acknowledged within {window} (level {level + 1})"
        )
        if self._escalates_in_pagerduty:
            await self.escalate_in_pagerduty(target, level + 1)
        else:
            await self._page(
                self._page_request(
                    texts.page_escalated(self._id, state, target),
                    escalated_to=target,
                    level=str(level + 1),
                )
            )
        if state.war_room:
            await self._invite([target])
        await self._post(self._room(), texts.escalation_message(self._id, state.severity, target, window, self._people))

    async def escalate_in_pagerduty(self, target: str, escalation: int) -> None:
        """A second trigger of the open alert would notify nobody new: PagerDuty is asked to reach
        the person (a responder) or the next level of its escalation policy, and says which."""
        escalated = await self._procedure.attempt(
            workflow.execute_activity_method(
                PagerActivities.escalate_page,
                PageEscalation(dedup_key=self._id, to=target, escalation=escalation),
                **QUICK,
            ),
            self._procedure.noting("PagerDuty escalation not delivered", target),
        )
        if escalated is not None:
            self._procedure.record("runbook", "escalated in PagerDuty", escalated.detail)

    # An acknowledgement made in PagerDuty -------------------------------------------------------

    def _watch_pagerduty_for_acknowledgement(self) -> None:
        """The on-call engineer acknowledges where they were paged: PagerDuty's incident is read
        until it is acknowledged there or here, whichever comes first."""
        if not self._escalates_in_pagerduty:
            return
        if self._state.acknowledged is None and self._pagerduty_watch is None:
            self._pagerduty_watch = asyncio.create_task(self._acknowledgement_from_pagerduty())
        elif self._state.acknowledged is not None and self._pagerduty_watch is not None:
            # Acknowledged here: PagerDuty's side need not be read any more.
            self._pagerduty_watch.cancel()

    async def _acknowledgement_from_pagerduty(self) -> None:
        try:
            seen = await workflow.execute_activity_method(
                PagerActivities.await_acknowledgement, AcknowledgementWatch(dedup_key=self._id), **PAGER_WATCH
            )
        except ActivityError as error:
            raise_if_cancelled(error)
            self._procedure.record("runbook", "PagerDuty acknowledgements not read", failure_text(error))
            return
        if seen.status != "acknowledged" or self._state.acknowledged is not None:
            return
        # Read from PagerDuty's API with the runbook's own token: as good a proof as its webhook.
        self._procedure.taken_as(
            Verification(person=seen.by, how=f"PagerDuty {seen.pagerduty_user}", verified=True),
            self._acknowledge,
            AcknowledgePayload(
                user=seen.by[: limits.USER], note=acknowledged_in_pagerduty(seen.pagerduty_user)[: limits.NOTE]
            ),
        )

    async def _stop_watching_pagerduty(self) -> None:
        watch, self._pagerduty_watch = self._pagerduty_watch, None
        if watch is not None and not watch.done():
            watch.cancel()
            await asyncio.wait([watch])

    def _clock_running(self) -> list[PhaseTime]:
        """The P1 clock's phases not reached yet, and not yet reminded of: each has a deadline."""
        state = self._state
        if not (self._keeps_clock and policy.opens_war_room(state.severity, self._policy)):
            return []
        return [
            phase
            for phase in state.clock(self._policy)
            if phase.reached is None and phase.phase not in state.clock_missed
        ]

    async def remind_of_the_clock(self, phase: PhaseTime) -> None:
        """A phase of the P1 procedure missed its target: the commander is reminded, once."""
        state = self._state
        state.clock_missed.append(phase.phase)
        self._procedure.record(
            "runbook",
            f"P1 clock missed: {CLOCK_PHASES[phase.phase]}",
            f"due {texts.elapsed(phase.due - state.declared_at)} after the declaration; @{state.commander} reminded",
        )
        await self._post(
            self._room(), texts.clock_missed_message(self._id, state.commander, phase, state.declared_at, self._people)
        )

    async def post_update(self) -> None:
        """The Update template to the war room and the status page; the commander is reminded
        first when nothing new was said since the last one."""
        state = self._state
        if not state.commander_news:
            await self._post(
                self._room(),
                texts.reminder_message(
                    self._id, state.commander, state.last_posted_at or state.declared_at, self._policy, self._people
                ),
            )
            self._procedure.record(
                "runbook", "commander reminded", f"@{state.commander}: nothing new since the last update"
            )
        await self._post(
            self._room(),
            texts.update_message(state.services, state.status, state.action, state.eta, done=state.done_since_update),
        )
        if state.status_page:
            public = texts.status_page_update(state.services, state.status, state.action, state.eta)
            await self._status_page(
                StatusPageChange(
                    incident_id=state.status_page.id,
                    status=STATUSPAGE_STATUS[state.status],
                    body=public,
                    services=self._request.affected,
                    component_status=policy.COMPONENT_STATUS[state.severity],
                )
            )
        state.posted_updates += 1
        state.last_posted_at, state.commander_news = workflow.now(), False
        state.done_since_update = []
        self._procedure.record(
            "runbook", f"update {state.posted_updates} posted", f"{state.status}: {state.action} (ETA {state.eta})"
        )

    def _start_updates(self) -> None:
        interval = self._update_interval()
        if interval and self._state.next_update_at is None:
            self._state.next_update_at = workflow.now() + interval

    # Telling the outside world -------------------------------------------------------------------

    async def _tell_notices(self) -> None:
        state = self._state
        while state.notices:
            notice = state.notices.pop(0)
            if notice.kind == "acknowledged":
                await self._page_event(PagerActivities.acknowledge_page)
            elif notice.kind == "regraded":
                await self._page(self._page_request(texts.page_regraded(self._id, state)))
            await self._post(self._room(), notice.text)

    def _room(self) -> str:
        """Where the incident is discussed: its war room, or the incidents channel without one."""
        return self._state.war_room.id if self._state.war_room else self._request.channel

    def _page_request(self, summary: str, **details: str) -> PageRequest:
        state = self._state
        return PageRequest(
            dedup_key=self._id,
            summary=summary,
            severity=policy.PAGER_SEVERITY[state.severity],
            component=",".join(state.services),
            custom_details={"incident": self._id, "commander": state.commander, **details},
        )

    async def _post(self, channel: str, text: str, buttons: list[SlackButton] | None = None) -> bool:
        """A message; one with buttons is remembered until a decision settles them."""
        if not buttons:
            return await self._procedure.post(channel, text) is not None
        asked = await self._procedure.ask(channel, text, buttons)
        if asked is not None:
            self._state.asking.append(asked)
        return asked is not None

    async def _invite(self, names: list[str]) -> list[str]:
        """Invites to the war room those of `names` whom Slack knows by ID ([people]); who has none
        cannot be invited, and the timeline says so. Returns the names invited."""
        if not workflow.patched("invite-by-slack-id"):
            return names if await self._send_invite(names, names) else []
        ids, uninvitable = self._people.slack_ids(names)
        if uninvitable:
            self._procedure.record(
                "runbook", "could not be invited", f"{', '.join(uninvitable)}: no Slack user ID in [people]"
            )
        invitable = [name for name in names if name not in uninvitable]
        return invitable if ids and await self._send_invite(ids, invitable) else []

    async def _send_invite(self, user_ids: list[str], names: list[str]) -> bool:
        invited = await self._procedure.attempt(
            workflow.execute_activity_method(
                SlackActivities.invite, InviteRequest(channel=self._room(), users=user_ids), **QUICK
            ),
            self._procedure.noting("war room invitation not delivered", ", ".join(names)),
        )
        return invited is not None

    async def _page(self, request: PageRequest) -> bool:
        paged = await self._procedure.attempt(
            workflow.execute_activity_method(PagerActivities.trigger_page, request, **QUICK),
            self._procedure.noting("page not delivered"),
        )
        return paged is not None

    async def _page_event(self, event: Callable[[PagerActivities, PageAction], Awaitable[PageAccepted]]) -> None:
        await self._procedure.attempt(
            workflow.execute_activity_method(event, PageAction(dedup_key=self._id), **QUICK),
            self._procedure.noting("pager event not delivered"),
        )

    async def _status_page(self, change: StatusPageChange) -> None:
        await self._procedure.attempt(
            workflow.execute_activity_method(StatusPageActivities.update_status_page, change, **QUICK),
            self._procedure.noting("status page not updated"),
        )

    # Resolve and post-mortem ---------------------------------------------------------------------

    async def verify_resolution(self, asked: ResolveRequest) -> None:
        """The runbook's "Verify resolution": the affected services' health and CloudWatch figures,
        read as the assessment reads them. Unhealthy or unseen refuses the resolve, unless forced."""
        payload = asked.payload
        async with self._procedure.step("verify_resolution") as step:
            unverified = await self._unverified()
            if not unverified:
                step.detail = f"{texts.service_label(self._request.affected)} healthy, figures within thresholds"
                self._procedure.record("runbook", "resolution verified", step.detail)
                self._take_resolution(payload)
                verdict = ResolveOutcome(accepted=True)
            elif payload.force:
                self._procedure.fail_step(step, [*unverified, f"resolved by force: {payload.force_reason}"])
                self._procedure.record(
                    payload.user, "resolved by force", f"{payload.force_reason}; not verified: {'; '.join(unverified)}"
                )
                self._take_resolution(payload, unverified)
                verdict = ResolveOutcome(accepted=True, unverified=unverified)
            else:
                self._procedure.fail_step(step, unverified)
                self._procedure.refuse(
                    "resolve", payload.model_dump(mode="json"), "not verified: " + "; ".join(unverified)
                )
                await self._post(
                    self._room(), texts.resolve_refused_message(self._id, payload.user, unverified, self._people)
                )
                verdict = ResolveOutcome(
                    accepted=False, reason=self._procedure.status.refusals[-1].reason, unverified=unverified
                )
        self._state.resolve_request = None
        self._verdict = (asked.number, verdict)

    async def _unverified(self) -> list[str]:
        """What keeps the resolution from being verified, one reason each: failing health checks,
        the decision matrix's rows other than "No symptom", and what could not be observed."""
        request = self._request
        problems: list[str] = []
        metrics, health = await observe_services(
            self._procedure, request.environment, request.affected, request.thresholds.decision_window, problems
        )
        reasons = [f"{check.name}: {check.reason}" for report in health.values() for check in report.failures]
        if metrics:
            matrix = assess(metrics, health, request.thresholds)
            reasons += [f"{d.service}: {d.rule}: {d.evidence}" for d in matrix.decisions if d.action != Action.NONE]
        return reasons + [f"no data: {problem}" for problem in problems]

    async def resolve(self, resolution: Resolution) -> None:
        state = self._state
        async with self._procedure.step("resolve"):
            minutes = texts.duration_minutes(state.declared_at, resolution.at)
            items = [item.text for item in resolution.follow_up]
            text = texts.resolved_message(state.services, minutes, resolution.impact, resolution.resolution, items)
            for channel in dict.fromkeys([self._room(), self._request.channel]):
                await self._post(channel, text)
            if state.status_page:
                await self._status_page(
                    StatusPageChange(
                        incident_id=state.status_page.id,
                        status="resolved",
                        body=texts.status_page_resolved(state.services, minutes, resolution, internal=False),
                        internal_body=texts.status_page_resolved(state.services, minutes, resolution, internal=True),
                        services=self._request.affected,
                        component_status="operational",
                    )
                )
            await self._page_event(PagerActivities.resolve_page)

    async def post_mortem(self, resolution: Resolution) -> IncidentResult:
        state = self._state
        async with self._procedure.step("post_mortem") as step:
            self._postmortem = render_postmortem(self._id, state, self._procedure.status.timeline, self._policy)
            stored = await self._procedure.attempt(
                workflow.execute_activity_method(
                    IncidentActivities.store_postmortem,
                    PostmortemDocument(incident_id=self._id, markdown=self._postmortem),
                    **QUICK,
                ),
                lambda why: self._procedure.fail_step(step, [f"post-mortem not stored: {why}"]),
            )
            if stored:
                state.postmortem_url = stored.url
                self._procedure.record("runbook", "post-mortem stored", stored.url)
                await self._post(self._room(), texts.postmortem_message(self._id, stored.url))
        result = IncidentResult(
            id=self._id,
            severity=state.severity,
            duration_minutes=texts.duration_minutes(state.declared_at, resolution.at),
            acknowledged_by=state.acknowledged.by if state.acknowledged else "",
            escalated_to=[escalation.to for escalation in state.escalations],
            mitigations=[f"{m.action} of {texts.service_label(m.services)}: {m.state}" for m in state.mitigations],
            postmortem_url=state.postmortem_url,
        )
        self._procedure.finish(State.RESOLVED, result)
        return result

    # Continue-as-new -----------------------------------------------------------------------------

    def _add_steps_added_since(self) -> None:
        """A run carried from older code lacks the steps added since (verify_resolution)."""
        carried = {step.name: step for step in self._procedure.status.steps}
        self._procedure.status.steps = [carried.get(name) or StepRecord(name=name) for name in STEPS]

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return not self._mitigating and (
            info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._policy.events_per_run
        )

    def _carried(self) -> IncidentRequest:
        state = self._state.model_copy(update={"runs": self._state.runs + 1})
        return self._request.model_copy(update={"carried": CarriedIncident(state=state, status=self._procedure.status)})
