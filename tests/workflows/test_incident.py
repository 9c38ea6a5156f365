"""The Incident workflow on a real dev server: a whole P1, regrading, a P4 over a weekend,
continue-as-new, refused payloads and the replay of a recorded history.

The outside world is replaced by activities of the same names that record what they were asked;
the deployment-related check is the real visibility query, against a stand-in deployment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.aws import AwsClients
from activities.incident import IncidentActivities, related_deployments_query
from runbook import search
from runbook.config import load_config
from runbook.incident import (
    ChannelRequest,
    EcsServiceState,
    IncidentRequest,
    IncidentResult,
    InviteRequest,
    OpsApplied,
    OpsRequest,
    PageAccepted,
    PageAction,
    PageRequest,
    PostmortemDocument,
    RelatedDeployment,
    RelatedDeploymentsQuery,
    ResolveOutcome,
    ScaleChange,
    ScaleUpRequest,
    ServiceStatesRequest,
    SlackChannel,
    StatusPageChange,
    StatusPageIncident,
    StatusPageOpen,
    StoredDocument,
)
from runbook.models import (
    CheckResult,
    HealthCheckRequest,
    HealthReport,
    LockGrant,
    LockRelease,
    MetricsReport,
    MetricsRequest,
    PlanRequest,
    PreemptRequest,
    Revision,
    RollbackPlan,
    RolloutRequest,
    RolloutResult,
    ServiceHealthRequest,
    ServiceMetrics,
    ServiceTarget,
    SlackMessage,
    SlackPosted,
    SlackSettled,
    UpdateServiceRequest,
    UpdateServiceResult,
)
from runbook.pager import AcknowledgementWatch, PageAcknowledged, PageEscalated, PageEscalation
from runbook.people import People, Person
from runbook.records import DeploymentRecord
from runbook.severity import Severity
from runbook.status import HandlerOutcome, ProcedureStatus
from tests.conftest import keep_history
from tests.support import SANDBOX_CONFIG, eventually, status, until
from workflows.action_items import ActionItemFollowUp
from workflows.incident import Incident
from workflows.rollback import Rollback

CONFIG = load_config(SANDBOX_CONFIG)


class EcsWithoutServices:
    """ECS that lists no deployments: the runbook's stand-in deployments are the related ones."""

    def describe_services(self, **_: Any) -> dict[str, list]:
        return {"services": []}


NO_ECS_DEPLOYMENTS = AwsClients(ecs=EcsWithoutServices(), cloudwatch=None, logs=None, s3=None)
LONDON = ZoneInfo("Europe/London")
WAR_ROOM = "C-WAR-ROOM"


class PagerDutyApp:
    """Where the on-call engineer acknowledges a page."""

    def __init__(self) -> None:
        self.acknowledged = asyncio.Event()
        self.acknowledgement = PageAcknowledged(
            status="acknowledged", by="", pagerduty_user="", at=datetime.now(UTC), incident_id=""
        )

    def acknowledge(self, person: str, user_id: str) -> None:
        self.acknowledgement = self.acknowledgement.model_copy(
            update={"by": person, "pagerduty_user": user_id, "at": datetime.now(UTC), "incident_id": "Q1"}
        )
        self.acknowledged.set()


class World:
    """What the activities report, and everything they were asked to tell the outside world."""

    def __init__(self) -> None:
        self.failing = {"market-svc"}
        self.database_errors: set[str] = set()
        # Services whose figures CloudWatch has no datapoints for.
        self.silent: set[str] = set()
        self.slack: list[SlackMessage] = []
        # Messages whose buttons a decision replaced with its outcome.
        self.settled: list[SlackSettled] = []
        self.channels: list[str] = []
        self.invites: list[list[str]] = []
        self.pages: list[tuple[str, PageRequest | PageAction]] = []
        self.escalated: list[PageEscalation] = []
        # PagerDuty's side, for a test that watches it: an acknowledgement made there.
        self.pagerduty: PagerDutyApp | None = None
        self.status_page: list[StatusPageOpen | StatusPageChange] = []
        self.locks: list[PreemptRequest | LockRelease] = []
        self.rolled_back: list[str] = []
        self.mitigations: list[str] = []
        self.postmortems: list[PostmortemDocument] = []
        # While set, health checks wait for it: a verification held open.
        self.health_gate: asyncio.Event | None = None

    def said(self, channel: str, start: str = "") -> list[str]:
        return [m.text for m in self.slack if m.channel == channel and m.text.startswith(start)]

    def activities(self, visibility: Client | None = None) -> list:
        @activity.defn(name="post_message")
        async def post_message(message: SlackMessage) -> SlackPosted:
            self.slack.append(message)
            return SlackPosted(channel=message.channel, ts=str(len(self.slack)))

        @activity.defn(name="settle_buttons")
        async def settle_buttons(settled: SlackSettled) -> SlackPosted:
            self.settled.append(settled)
            return SlackPosted(channel=settled.channel, ts=settled.ts)

        @activity.defn(name="create_channel")
        async def create_channel(request: ChannelRequest) -> SlackChannel:
            self.channels.append(request.name)
            return SlackChannel(id=WAR_ROOM, name=request.name)

        @activity.defn(name="invite")
        async def invite(request: InviteRequest) -> InviteRequest:
            self.invites.append(request.users)
            return request

        @activity.defn(name="trigger_page")
        async def trigger_page(request: PageRequest) -> PageAccepted:
            self.pages.append(("trigger", request))
            return PageAccepted(dedup_key=request.dedup_key)

        @activity.defn(name="acknowledge_page")
        async def acknowledge_page(request: PageAction) -> PageAccepted:
            self.pages.append(("acknowledge", request))
            return PageAccepted(dedup_key=request.dedup_key)

        @activity.defn(name="resolve_page")
        async def resolve_page(request: PageAction) -> PageAccepted:
            self.pages.append(("resolve", request))
            return PageAccepted(dedup_key=request.dedup_key)

        @activity.defn(name="escalate_page")
        async def escalate_page(request: PageEscalation) -> PageEscalated:
            self.escalated.append(request)
            return PageEscalated(action="responder_added", detail=f"added {request.to} as responder", incident_id="Q1")

        # A time-skipping server skips no time while an activity runs, so only a test that watches
        # PagerDuty has a watch that waits; elsewhere PagerDuty cannot be read, for good.
        @activity.defn(name="await_acknowledgement")
        async def await_acknowledgement(watch: AcknowledgementWatch) -> PageAcknowledged:
            if self.pagerduty is None:
                raise ApplicationError("no PagerDuty in this test", non_retryable=True)
            await self.pagerduty.acknowledged.wait()
            return self.pagerduty.acknowledgement

        @activity.defn(name="open_status_page")
        async def open_status_page(request: StatusPageOpen) -> StatusPageIncident:
            self.status_page.append(request)
            return StatusPageIncident(id="sp-1", shortlink="https://stspg.io/sp-1")

        @activity.defn(name="update_status_page")
        async def update_status_page(request: StatusPageChange) -> StatusPageIncident:
            self.status_page.append(request)
            return StatusPageIncident(id=request.incident_id)

        @activity.defn(name="check_service_health")
        async def check_service_health(request: ServiceHealthRequest) -> HealthReport:
            if self.health_gate:
                await self.health_gate.wait()
            failing = request.service in self.failing
            check = CheckResult(
                name=f"{request.service} liveness",
                url="u",
                http_status=503 if failing else 200,
                verdict="fail" if failing else "pass",
                reason="HTTP 503" if failing else "",
            )
            return HealthReport(environment=request.environment, full=False, checks=[check])

        @activity.defn(name="collect_metrics")
        async def collect_metrics(request: MetricsRequest) -> MetricsReport:
            figures = [
                ServiceMetrics(
                    service=s,
                    requests=1000,
                    errors_5xx=300 if s in self.failing else 0,
                    database_errors=12 if s in self.database_errors else 0,
                    no_data={"requests": "no datapoints for RequestCount"} if s in self.silent else {},
                )
                for s in request.services
            ]
            return MetricsReport(environment=request.environment, window=request.window, services=figures)

        @activity.defn(name="service_states")
        async def service_states(request: ServiceStatesRequest) -> list[EcsServiceState]:
            return [
                EcsServiceState(service=s, desired=2, running=2, version="v1.2.0", rollout="COMPLETED")
                for s in request.services
            ]

        @activity.defn(name="related_deployments")
        async def no_related_deployments(query: RelatedDeploymentsQuery) -> list[RelatedDeployment]:
            return []

        @activity.defn(name="store_postmortem")
        async def store_postmortem(document: PostmortemDocument) -> StoredDocument:
            self.postmortems.append(document)
            return StoredDocument(url=f"s3://records/postmortems/{document.incident_id}.md")

        @activity.defn(name="scale_up")
        async def scale_up(request: ScaleUpRequest) -> list[ScaleChange]:
            self.mitigations.append("scale_up")
            return [ScaleChange(service=s, before=n, after=n + 2) for s, n in request.desired_before.items()]

        @activity.defn(name="rate_limit")
        async def rate_limit(request: OpsRequest) -> OpsApplied:
            self.mitigations.append("rate_limit")
            return OpsApplied(action="rate_limit", detail="limited")

        @activity.defn(name="maintenance_page")
        async def maintenance_page(request: OpsRequest) -> OpsApplied:
            self.mitigations.append("maintenance_page")
            return OpsApplied(action="maintenance_page", detail="maintenance page on")

        @activity.defn(name="preempt_lock")
        async def preempt_lock(request: PreemptRequest) -> LockGrant:
            self.locks.append(request)
            return LockGrant(granted=True)

        @activity.defn(name="release_lock")
        async def release_lock(request: LockRelease) -> LockRelease:
            self.locks.append(request)
            return request

        # The Rollback child's own steps.
        @activity.defn(name="plan_rollback")
        async def plan_rollback(request: PlanRequest) -> RollbackPlan:
            def revision(service: str, number: int, version: str) -> Revision:
                return Revision(
                    arn=f"{service}:{number}", family=f"skillancer-prod-{service}", revision=number, version=version
                )

            targets = [
                ServiceTarget(
                    service=s, current=revision(s, 3, "v1.2.0"), target=revision(s, 2, "v1.1.0"), desired_count=2
                )
                for s in request.services
            ]
            return RollbackPlan(environment=request.environment, targets=targets)

        @activity.defn(name="update_service")
        async def update_service(request: UpdateServiceRequest) -> UpdateServiceResult:
            self.rolled_back.append(request.service)
            self.failing.discard(request.service)
            return UpdateServiceResult(deployment_id="ecs-deployment", already_applied=False)

        @activity.defn(name="wait_for_rollout")
        async def wait_for_rollout(request: RolloutRequest) -> RolloutResult:
            return RolloutResult(service=request.service, state="COMPLETED")

        @activity.defn(name="write_record")
        async def write_record(record: DeploymentRecord) -> DeploymentRecord:
            return record

        # The environment's health check that verifies the rollback: what still fails, failing.
        @activity.defn(name="check_health")
        async def check_health(request: HealthCheckRequest) -> HealthReport:
            checks = [
                CheckResult(name=f"{service} liveness", url="u", http_status=503, verdict="fail")
                for service in sorted(self.failing)
            ]
            return HealthReport(environment=request.environment, full=request.full, checks=checks)

        related = (
            IncidentActivities(visibility, NO_ECS_DEPLOYMENTS, CONFIG).related_deployments
            if visibility
            else no_related_deployments
        )
        return [
            post_message, settle_buttons, create_channel, invite, trigger_page, acknowledge_page, resolve_page,
            escalate_page, await_acknowledgement, open_status_page,
            update_status_page, check_service_health, collect_metrics, service_states, related, store_postmortem,
            scale_up, rate_limit, maintenance_page, preempt_lock, release_lock, plan_rollback, update_service,
            wait_for_rollout, write_record, check_health,
        ]  # fmt: skip


@pytest.fixture
def world() -> World:
    return World()


def request(severity: str, services: list[str], **changes: Any) -> IncidentRequest:
    policy = CONFIG.incidents.model_copy(update=changes.pop("policy", {}))
    return IncidentRequest(
        severity=Severity(severity),
        summary="checkout failing",
        services=services,
        declared_by="alice",
        channel=CONFIG.channels.incidents,
        known_services=CONFIG.services.names,
        policy=policy,
        thresholds=CONFIG.thresholds,
        **{"people": CONFIG.people, **changes},
    )


@asynccontextmanager
async def incident(
    env: WorkflowEnvironment, world: World, incident_request: IncidentRequest, *, visibility: bool = False, **start: Any
) -> AsyncIterator[WorkflowHandle]:
    queue = f"test-{uuid.uuid4()}"
    activities = world.activities(env.client if visibility else None)
    # The incident's children: its rollbacks, and its action items once resolved.
    children = [Rollback, ActionItemFollowUp]
    async with Worker(env.client, task_queue=queue, workflows=[Incident, *children], activities=activities):
        # Time moves only when a test fast-forwards it.
        with env.with_time_skipping_disabled():
            handle = await env.client.start_workflow(
                Incident.run,
                incident_request,
                id=f"INC-test-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
                search_attributes=search.start_attributes(
                    "incident", incident_request.policy.environment, incident_request.services
                ),
                **start,
            )
        try:
            yield handle
        finally:
            if (await handle.describe()).status.name == "RUNNING":
                await handle.terminate("test over")


def incident_state(current: ProcedureStatus) -> dict:
    return current.details["incident"]


def events(current: ProcedureStatus) -> list[str]:
    return [entry.event for entry in current.timeline]


async def answer(handle: WorkflowHandle, name: str, payload: Any) -> HandlerOutcome:
    return await handle.execute_update(name, payload, result_type=HandlerOutcome)


async def resolve(handle: WorkflowHandle, payload: dict[str, Any]) -> ResolveOutcome:
    return await handle.execute_update("resolve", payload, result_type=ResolveOutcome)


@workflow.defn(name="StandInDeployment")
class StandInDeployment:
    """A deployment in flight, as the search attributes of the real ones show it."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@asynccontextmanager
async def deployment_in_flight(env: WorkflowEnvironment, services: list[str], version: str) -> AsyncIterator[str]:
    deployment_id = f"deploy-production-{uuid.uuid4().hex[:8]}"
    attributes = search.start_attributes("deployment", "production", services, version).updated(
        SearchAttributePair(search.STAGE, "deploy_production")
    )
    with env.with_time_skipping_disabled():
        # Nobody polls this queue: it stays running, as a deployment waiting on its rollout would.
        handle = await env.client.start_workflow(
            StandInDeployment.run, id=deployment_id, task_queue=f"nobody-{uuid.uuid4()}", search_attributes=attributes
        )
    try:
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

        async def listed() -> list[str]:
            return [e.id async for e in env.client.list_workflows(related_deployments_query("production", since))]

        # Visibility lists a started workflow a moment later.
        await eventually(
            listed, f"{deployment_id} in the related deployments' list", accept=lambda ids: deployment_id in ids
        )
        yield deployment_id
    finally:
        await handle.terminate("test over")


async def test_a_whole_p1_from_declaration_to_post_mortem(skipping_env, world):
    async with deployment_in_flight(skipping_env, ["market-svc"], "v1.2.0") as deployment_id:
        # Only the deployed service that the incident names is rolled back (the default is "all").
        affected = request("P1", ["market-svc"], policy={"rollback_scope": "affected"})
        async with incident(skipping_env, world, affected, visibility=True) as handle:
            declared = await until(handle, lambda s: incident_state(s)["assessment"] is not None, "assessment")
            related = [d["id"] for d in incident_state(declared)["assessment"]["related"]]
            assert deployment_id in related
            assert "deployment-related" in events(declared)

            # Nobody acknowledges: the secondary on-call at 5 minutes, the DevOps lead at 10.
            await skipping_env.fast_forward(handle, timedelta(minutes=11))
            escalated = await status(handle)
            assert [e["to"] for e in incident_state(escalated)["escalations"]] == ["frank", "grace"]
            assert incident_state(escalated)["mitigations"] == []

            assert (await answer(handle, "acknowledge", {"user": "bob", "note": "on it"})).accepted
            rolled_back = await until(
                handle,
                lambda s: any(
                    m["state"] != "running" and m["state"] != "pending" for m in incident_state(s)["mitigations"]
                ),
                "the rollback",
            )
            (rollback,) = incident_state(rolled_back)["mitigations"]
            assert (rollback["action"], rollback["services"], rollback["state"]) == ("rollback", ["market-svc"], "done")
            assert "market-svc v1.2.0 → v1.1.0 rolled_back" in rollback["detail"]
            assert world.rolled_back == ["market-svc"]

            update = {
                "user": "alice",
                "status": "Mitigating",
                "action": "rolled back market-svc to v1.1.0",
                "eta": "30 minutes",
            }
            assert (await answer(handle, "update", update)).accepted
            await skipping_env.fast_forward(handle, timedelta(minutes=21))  # updates at 15 and 30
            assert (
                await answer(handle, "update", {**update, "status": "Monitoring", "action": "watching error rates"})
            ).accepted
            await skipping_env.fast_forward(handle, timedelta(minutes=30))  # updates at 45 and 60
            resolution = {
                "user": "alice",
                "resolution": "rolled back to v1.1.0",
                "root_cause": "v1.2.0 broke the checkout query",
                "follow_up": ["canary deploys"],
                "improvements": ["page the secondary sooner", "a smoke test\nbefore production"],
            }
            verdict = await answer(handle, "resolve", resolution)
            assert (verdict.accepted, verdict.reason) == (True, "")
            result: IncidentResult = await handle.result()
            final = await status(handle)
            await keep_history(handle, "incident")

    incident_id = handle.id
    assert final.state.value == "RESOLVED"
    assert (result.acknowledged_by, result.escalated_to, result.duration_minutes) == (
        "bob",
        ["frank", "grace"],
        62,
    )

    # The incidents channel: the Initial Alert, word for word, then the Resolved message.
    alert, resolved = world.said("#incidents")
    assert alert == (
        "🚨 INCIDENT: market-svc experiencing issues\n- Impact: checkout failing\n- Status: Investigating\n"
        "- ETA: Unknown"
    )
    # The alert carried an Acknowledge button; once bob acknowledged, it said so in the button's place.
    asking = [(m.channel, m.text) for m in world.slack if [b.action_id for b in m.buttons] == ["acknowledge"]]
    assert asking[0] == ("#incidents", alert)
    assert [(s.channel, s.text) for s in world.settled] == [
        (channel, f"{text}\n\n*Acknowledged by <@U0BOB000002>* (unverified)") for channel, text in asking
    ]
    assert resolved.startswith(
        "✅ RESOLVED: market-svc incident\n- Duration: 62 minutes\n"
        "- Impact: checkout failing\n- Resolution: rolled back to v1.1.0"
    )
    # The war room: created, responders invited by their Slack IDs, then the escalated people as
    # they were called.
    assert world.channels == [incident_id.lower()]
    assert world.invites == [["U0ALICE0001", "U0DANA00004", "U0ERIN00005"], ["U0FRANK0006"], ["U0GRACE0007"]]
    assert len(world.said(WAR_ROOM, ":rotating_light: War room")) == 1
    assert len(world.said(WAR_ROOM, ":mag: Assessment")) == 1
    escalations = world.said(WAR_ROOM, ":rotating_light: <@")
    assert [text.split(": ")[1] for text in escalations] == ["<@U0FRANK0006>", "<@U0GRACE0007>"]
    assert all("not acknowledged within 5m" in text for text in escalations)
    assert len(world.said(WAR_ROOM, ":eyes:")) == 1
    assert len(world.said(WAR_ROOM, ":rewind: ROLLBACK started")) == 1
    # Four updates in the hour; the commander reminded before the two with nothing new said.
    # The commander's two updates go out as given, each restarting the 15 minutes; a silent 15
    # minutes repeats the last one after reminding the commander. The rollback the runbook did is
    # told on a line of its own, beside the commander's words.
    updates = world.said(WAR_ROOM, "📍 UPDATE")
    mitigating = "📍 UPDATE: market-svc incident\n- Status: Mitigating\n- Action: rolled back market-svc to v1.1.0\n"
    monitoring = "📍 UPDATE: market-svc incident\n- Status: Monitoring\n- Action: watching error rates\n"
    done = (
        f"- Done: rollback of market-svc: {incident_id}-rollback-1 COMPLETED: market-svc v1.2.0 → v1.1.0 rolled_back\n"
    )
    eta = "- ETA: 30 minutes"
    assert updates == [mitigating + done + eta, mitigating + eta, monitoring + eta, monitoring + eta]
    assert len(world.said(WAR_ROOM, ":bell: <@U0ALICE0001>")) == 2
    given = [e.at for e in final.timeline if e.event.startswith("update: ")]
    posted = [e.at for e in final.timeline if e.event.startswith("update ") and e.event.endswith(" posted")]
    assert len(given) == 2 and len(posted) == 4
    assert posted[0] - given[0] < timedelta(minutes=1) and posted[2] - given[1] < timedelta(minutes=1)  # at once
    assert posted[1] - posted[0] >= timedelta(minutes=15) and posted[3] - posted[2] >= timedelta(minutes=15)
    assert world.said(WAR_ROOM, ":memo: Post-mortem") == [
        f":memo: Post-mortem for {incident_id}: s3://records/postmortems/{incident_id}.md"
    ]
    # The pager: one alert by dedup key, acknowledged, resolved. A second trigger would notify
    # nobody new: escalation asks PagerDuty itself to reach each person, and the timeline says how.
    assert [action for action, _ in world.pages] == ["trigger", "acknowledge", "resolve"]
    assert {event.dedup_key for _, event in world.pages} == {incident_id}
    assert [(e.dedup_key, e.to, e.escalation) for e in world.escalated] == [
        (incident_id, "frank", 1),
        (incident_id, "grace", 2),
    ]
    assert [e.detail for e in final.timeline if e.event == "escalated in PagerDuty"] == [
        "added frank as responder",
        "added grace as responder",
    ]

    # The status page: opened, one change per update, resolved.
    assert [getattr(change, "status", "opened") for change in world.status_page] == [
        "opened",
        "identified",
        "identified",
        "monitoring",
        "monitoring",
        "resolved",
    ]
    # Its services' components: down while it is open (a P1), operational once it is resolved.
    assert [(change.services, change.component_status) for change in world.status_page] == [
        (["market-svc"], "major_outage")
    ] * 5 + [(["market-svc"], "operational")]
    # The incident took the environment (pre-empting the deployment), its child held it on the
    # incident's behalf, and the incident gave it back.
    *preempts, release = world.locks
    assert all((p.holder_id, p.kind, p.environment) == (incident_id, "rollback", "production") for p in preempts)
    assert deployment_id in preempts[0].reason
    assert isinstance(release, LockRelease) and release.holder_id == incident_id

    # The post-mortem: every timeline entry up to its writing, with its time and who.
    (document,) = world.postmortems
    assert document.markdown == final.details["postmortem"]
    written = events(final).index("post-mortem stored")
    for entry in final.timeline[:written]:
        when = entry.at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S %Z")
        assert f"| {when} | {entry.actor} | {entry.event}" in document.markdown, entry
    for expected in ("declared P1", "initial alert posted", "escalated to frank", "escalated to grace",
                     "acknowledged", "assessed", "deployment-related", "mitigation 1 done: rollback",
                     "update: Mitigating", "update: Monitoring", "update 4 posted", "resolved"):  # fmt: skip
        assert f"| {expected}" in document.markdown
    assert "## Root cause\n\nv1.2.0 broke the checkout query" in document.markdown
    assert "- [ ] canary deploys" in document.markdown
    assert "## Improvements\n\n- page the secondary sooner\n- a smoke test before production\n" in document.markdown
    sections = [line for line in document.markdown.splitlines() if line.startswith("## ")]
    assert sections == ["## P1 clock", "## Timeline", "## Impact", "## Root cause", "## Resolution"] + [
        "## Improvements",
        "## Action items",
    ]
    # Verified before it was taken: the rolled-back service answers, its figures within thresholds.
    assert events(final).index("resolution verified") < events(final).index("resolved")
    # The P1 clock: nobody acknowledged by minute 5 (the commander reminded, once); assessed at
    # once; the rollback under way as soon as it was acknowledged, well before minute 30.
    (reminder,) = world.said(WAR_ROOM, ":alarm_clock:")
    assert reminder.startswith(
        f":alarm_clock: <@U0ALICE0001>: {incident_id} is not acknowledged 5 min after it was declared"
    )
    assert events(final).count("P1 clock missed: acknowledged") == 1
    opening = document.markdown.split("\n\n- Severity")[0]
    assert opening.startswith(f"# Post-mortem: {incident_id}, checkout failing\n\n## P1 clock\n")
    assert "| Acknowledged | by 5 min | 11 min | missed by 6 min |" in opening
    assert "| Assessed | by 10 min | 0 s | met |" in opening
    assert "| Mitigation under way | by 30 min | 11 min | met |" in opening


async def test_database_errors_veto_the_rollback_of_an_acknowledged_deployment_related_p1(skipping_env, world):
    world.database_errors = {"market-svc"}
    async with deployment_in_flight(skipping_env, ["market-svc"], "v1.2.0") as deployment_id:
        async with incident(skipping_env, world, request("P1", ["market-svc"]), visibility=True) as handle:
            declared = await until(handle, lambda s: incident_state(s)["assessment"] is not None, "assessment")
            assessment = incident_state(declared)["assessment"]
            assert deployment_id in [d["id"] for d in assessment["related"]] and assessment["vetoed"]
            assert (await answer(handle, "acknowledge", {"user": "bob", "note": "on it"})).accepted
            # Told on the war room: the loop went on from the acknowledgement to what it obliges.
            await until(handle, lambda s: world.said(WAR_ROOM, ":eyes:"), "the acknowledgement told")
            world.failing.clear()
            world.database_errors.clear()
            resolution = {"user": "alice", "resolution": "fixed the migration", "root_cause": "a lock on orders"}
            assert (await answer(handle, "resolve", resolution)).accepted
            result: IncidentResult = await handle.result()
            final = await status(handle)

    assert result.acknowledged_by == "bob"
    assert result.mitigations == [] and incident_state(final)["mitigations"] == []
    # No Rollback child: the environment never taken from the deployment, production never changed.
    assert world.locks == [] and world.rolled_back == []
    assert len(world.said(WAR_ROOM, ":rewind: ROLLBACK started")) == 0
    veto = next(entry for entry in final.timeline if entry.event == "rollback vetoed by the decision matrix")
    assert veto.detail == "database errors: DO NOT roll back; the commander decides"
    assert "mitigation 1 done: rollback" not in events(final)


async def test_people_slack_cannot_reach_are_named_as_text_and_recorded_as_not_invited(skipping_env, world):
    # The commander is no person of [people]; erin is one, without a Slack user ID.
    people = People({**CONFIG.people.root, "erin": Person(email="erin@skillancer.com")})
    declared = request("P1", ["auth-svc"], people=people).model_copy(update={"declared_by": "tester"})
    async with incident(skipping_env, world, declared) as handle:
        opened = await until(handle, lambda s: "responders invited" in events(s), "the war room")
        assert world.invites == [["U0DANA00004"]]
        (not_invited,) = [entry for entry in opened.timeline if entry.event == "could not be invited"]
        assert not_invited.detail == "tester, erin: no Slack user ID in [people]"
        assert [e.detail for e in opened.timeline if e.event == "responders invited"] == ["dana"]
        # The room is told after the invitations are recorded.
        await until(handle, lambda s: world.said(WAR_ROOM, ":rotating_light: War room"), "the war room's message")
        (room,) = world.said(WAR_ROOM, ":rotating_light: War room")
        assert "\n- Commander: tester\n" in room


async def test_an_acknowledgement_made_in_pagerduty_acknowledges_the_incident_once(skipping_env, world):
    world.pagerduty = PagerDutyApp()
    async with incident(skipping_env, world, request("P2", ["auth-svc"])) as handle:
        await until(handle, lambda s: "on-call paged" in events(s), "the page")
        # dana acknowledges in PagerDuty's app, where she was paged.
        world.pagerduty.acknowledge("dana", "PDANA04")
        acked = await until(handle, lambda s: incident_state(s)["acknowledged"] is not None, "the acknowledgement")
        assert incident_state(acked)["acknowledged"]["by"] == "dana"
        assert [(e.actor, e.detail) for e in acked.timeline if e.event == "acknowledged"] == [
            ("dana", "acknowledged in PagerDuty (PDANA04)")
        ]
        # Once: an acknowledgement from the CLI afterwards is refused, naming who acknowledged.
        again = await answer(handle, "acknowledge", {"user": "bob", "note": "me too"})
        assert not again.accepted and "already acknowledged by dana" in again.reason
        told = await eventually(lambda: world.said("#incidents", ":eyes:"), "the acknowledgement told")
        assert len(told) == 1 and told[0].startswith(f":eyes: {handle.id} acknowledged by <@U0DANA00004>")
        assert world.escalated == []


async def test_an_acknowledgement_from_the_cli_stops_reading_pagerduty(skipping_env, world):
    world.pagerduty = PagerDutyApp()
    async with incident(skipping_env, world, request("P2", ["auth-svc"])) as handle:
        await until(handle, lambda s: "on-call paged" in events(s), "the page")
        assert (await answer(handle, "acknowledge", {"user": "bob"})).accepted

        async def watch_cancelled() -> bool:
            history = await handle.fetch_history()
            return EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in [e.event_type for e in history.events]

        await eventually(watch_cancelled, "the watch on PagerDuty cancelled")
        assert incident_state(await status(handle))["acknowledged"]["by"] == "bob"


async def test_regrading_p3_to_p1_opens_the_war_room_and_starts_the_updates(skipping_env, world):
    async with incident(skipping_env, world, request("P3", ["auth-svc"])) as handle:
        declared = await until(handle, lambda s: "on-call paged" in events(s), "the page")
        assert {step.name: step.state.value for step in declared.steps}["war_room"] == "skipped"
        await skipping_env.fast_forward(handle, timedelta(minutes=20))
        # A P3 has an hour to be acknowledged, no war room, no status page, no regular updates.
        assert world.channels == [] and world.status_page == []
        assert [m.channel for m in world.slack] == ["#incidents"]
        assert world.pages[0][1].severity == "warning"

        assert (
            await answer(handle, "severity", {"user": "alice", "severity": "P1", "reason": "every login fails"})
        ).accepted
        # P1 was due 5 minutes after the declaration: 20 minutes late, escalated at once.
        regraded = await until(handle, lambda s: world.said(WAR_ROOM, ":rotating_light: <@"), "the escalation told")
        assert world.channels == [handle.id.lower()]
        assert world.invites == [["U0ALICE0001", "U0DANA00004", "U0ERIN00005"], ["U0FRANK0006"]]
        assert len(world.said(WAR_ROOM, ":rotating_light: <@U0FRANK0006>")) == 1
        assert isinstance(world.status_page[0], StatusPageOpen) and world.status_page[0].impact == "critical"
        assert incident_state(regraded)["assessment"]["unhealthy"] == []
        assert [e["to"] for e in incident_state(regraded)["escalations"]] == ["frank"]
        (regrade_told,) = world.said("#incidents", ":arrows_counterclockwise:")
        assert regrade_told.endswith("regraded P3 → P1 by <@U0ALICE0001>: every login fails")
        assert [(action, getattr(event, "severity", "")) for action, event in world.pages] == [
            ("trigger", "warning"),
            ("trigger", "critical"),
        ]
        assert [e.to for e in world.escalated] == ["frank"]
        description = await handle.describe()
        assert description.typed_search_attributes.get(search.SEVERITY) == "P1"

        await skipping_env.fast_forward(handle, timedelta(minutes=16))
        assert len(world.said(WAR_ROOM, "📍 UPDATE: auth-svc incident\n- Status: Investigating")) == 1
        assert len(world.said(WAR_ROOM, ":bell: <@U0ALICE0001>")) == 1
        assert [getattr(change, "status", "opened") for change in world.status_page] == ["opened", "investigating"]


async def test_a_resolve_is_verified_one_at_a_time_refused_while_unhealthy_or_unseen_and_forced_on_record(
    temporal_env, world
):
    async with incident(temporal_env, world, request("P3", ["market-svc"])) as handle:
        await until(handle, lambda s: "on-call paged" in events(s), "the page")
        resolution = {"user": "alice", "resolution": "restarted checkout", "root_cause": "a stuck pool"}
        # Two at once: the second is refused while the first is being verified.
        world.health_gate = asyncio.Event()
        first = asyncio.create_task(resolve(handle, resolution))
        await until(handle, lambda s: "resolve asked" in events(s), "the first resolve asked")
        second = await resolve(handle, {**resolution, "user": "bob"})
        assert not second.accepted and second.reason == "a resolve by alice is being verified first"
        world.health_gate.set()
        unhealthy = await first
        assert (unhealthy.accepted, unhealthy.unverified) == (
            False,
            [
                "market-svc liveness: HTTP 503",
                "market-svc: 5xx errors > 1%: 5xx 30.0% of 1000 requests > 1.0%; health endpoint not answering 200",
            ],
        )
        assert unhealthy.reason == "not verified: " + "; ".join(unhealthy.unverified)

        # Answering again, but CloudWatch has no datapoints: unknown is not healthy.
        world.failing.clear()
        world.silent = {"market-svc"}
        unseen = await resolve(handle, resolution)
        assert not unseen.accepted
        assert unseen.unverified == ["market-svc: No data: no datapoints for RequestCount"]
        current = await status(handle)
        assert current.state.value == "RUNNING" and incident_state(current)["resolution"] is None
        assert {step.name: step.state.value for step in current.steps}["verify_resolution"] == "failed"
        assert [r.handler for r in current.refusals] == ["resolve"] * 3
        assert events(current).count("resolve refused") == 3
        told = world.said("#incidents", f":no_entry: {handle.id} not resolved: <@U0ALICE0001> asked")
        assert len(told) == 2 and "\n- market-svc liveness: HTTP 503\n" in told[0]

        # Forced, with a reason: taken, and what was not verified goes on the record.
        forced = await resolve(handle, {**resolution, "force": True, "force_reason": "a broken exporter"})
        assert (forced.accepted, forced.unverified) == (True, unseen.unverified)
        await handle.result()
        final = await status(handle)
    assert final.state.value == "RESOLVED"
    forced_at = events(final).index("resolved by force")
    assert events(final)[forced_at - 1 : forced_at + 2] == ["resolve asked", "resolved by force", "resolved"]
    (document,) = world.postmortems
    assert (
        "## Resolution\n\nrestarted checkout\n\nResolved by force by alice: a broken exporter\n\n"
        "Not verified:\n- market-svc: No data: no datapoints for RequestCount\n"
    ) in document.markdown
    assert "## P1 clock" not in document.markdown  # a P3 has no P1 procedure


async def test_the_p1_clock_reminds_the_commander_once_per_missed_phase_across_continue_as_new(skipping_env, world):
    async with incident(skipping_env, world, request("P1", ["market-svc"], policy={"events_per_run": 100})) as handle:
        await until(handle, lambda s: incident_state(s)["assessment"] is not None, "the assessment")
        assert (await answer(handle, "acknowledge", {"user": "bob"})).accepted
        # Enough said to continue as new before minute 30: the clock is carried.
        for number in range(1, 31):
            await handle.signal("update", {"user": "alice", "status": "Identified", "action": f"looking {number}"})
        await until(handle, lambda s: len(incident_state(s)["updates"]) == 30, "thirty updates")
        await until(handle, lambda s: incident_state(s)["runs"] >= 2, "a second run")

        # Nobody mitigates by minute 30: the commander is reminded in the war room, once.
        await skipping_env.fast_forward(handle, timedelta(minutes=31))
        await until(handle, lambda s: world.said(WAR_ROOM, ":alarm_clock:"), "the reminder")
        await skipping_env.fast_forward(handle, timedelta(minutes=30))
        (reminder,) = world.said(WAR_ROOM, ":alarm_clock:")
        assert reminder == (
            f":alarm_clock: <@U0ALICE0001>: {handle.id} has no mitigation 30 min after it was declared"
            f" (the P1 procedure's target); mitigate: runbook incident mitigate {handle.id}"
            " scale_up|rate_limit|maintenance_page"
        )
        assert (await answer(handle, "mitigate", {"user": "alice", "action": "scale_up"})).accepted
        await until(handle, lambda s: incident_state(s)["mitigations"][0]["state"] == "done", "the mitigation")
        world.failing.clear()
        assert (await resolve(handle, {"user": "alice", "resolution": "scaled up", "root_cause": "load"})).accepted
        await handle.result()
        final = await status(handle)
    assert incident_state(final)["runs"] >= 2
    assert events(final).count("P1 clock missed: mitigation under way") == 1
    assert "P1 clock missed: acknowledged" not in events(final) and "P1 clock missed: assessed" not in events(final)
    (document,) = world.postmortems
    assert "| Acknowledged | by 5 min | 0 s | met |" in document.markdown
    assert "| Assessed | by 10 min | 0 s | met |" in document.markdown
    assert "| Mitigation under way | by 30 min | 1 h 1 min | missed by 31 min |" in document.markdown


def next_friday_evening(now: datetime) -> datetime:
    local = now.astimezone(LONDON)
    friday = (local + timedelta(days=(4 - local.weekday()) % 7)).replace(hour=19, minute=30, second=0, microsecond=0)
    return friday if friday > local else friday + timedelta(days=7)


async def test_a_p4_declared_on_friday_evening_is_due_by_mondays_close(skipping_env, world):
    friday = next_friday_evening(datetime.now(UTC))
    monday_close = (friday + timedelta(days=3)).replace(hour=18, minute=0)
    delay = friday - datetime.now(UTC)
    async with incident(skipping_env, world, request("P4", ["notification-svc"]), start_delay=delay) as handle:
        await skipping_env.fast_forward(handle, delay + timedelta(seconds=5))
        declared = await until(handle, lambda s: "on-call paged" in events(s), "the page")
        assert datetime.fromisoformat(incident_state(declared)["respond_by"]) == monday_close

        # The weekend passes without an escalation; Monday 17:00 is still in time.
        await skipping_env.fast_forward(handle, (monday_close - timedelta(hours=1)) - friday)
        assert incident_state(await status(handle))["escalations"] == []
        assert (await answer(handle, "acknowledge", {"user": "carol"})).accepted
        acknowledged = await until(handle, lambda s: world.said("#incidents", ":eyes:"), "the acknowledgement told")
    ack = incident_state(acknowledged)["acknowledged"]
    assert datetime.fromisoformat(ack["at"]).astimezone(LONDON).strftime("%a %H") == "Mon 17"
    assert ack["within_target"] is True
    assert "(within the response time)" in world.said("#incidents", ":eyes:")[0]
    assert [action for action, _ in world.pages] == ["trigger", "acknowledge"]


async def run_histories(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """How many events each run of the chain holds."""
    lengths, run_id = [], first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else ""
        )
    return lengths


async def test_continue_as_new_keeps_history_bounded_and_carries_everything(temporal_env, world):
    incident_request = request("P1", ["market-svc"], policy={"events_per_run": 100})
    async with incident(temporal_env, world, incident_request) as handle:
        await until(handle, lambda s: incident_state(s)["war_room"] is not None, "the war room")
        await handle.signal("acknowledge", {"user": "bob"})
        await handle.signal("severity", {"user": "alice", "severity": "P2"})
        await handle.signal("severity", {"user": "alice", "severity": "P1"})
        for number in range(1, 61):
            await handle.signal(
                "update", {"user": "alice", "status": "Mitigating", "action": f"step {number}", "eta": "soon"}
            )
        current = await until(handle, lambda s: len(incident_state(s)["updates"]) == 60, "sixty updates")
        state = incident_state(current)
        assert state["runs"] >= 2
        assert (
            state["acknowledged"]["by"],
            state["severity"],
            state["war_room"]["id"],
            state["status_page"]["id"],
        ) == ("bob", "P1", WAR_ROOM, "sp-1")
        assert [u["action"] for u in state["updates"]] == [f"step {n}" for n in range(1, 61)]
        assert events(current)[0] == "declared P1" and events(current).count("acknowledged") == 1
        # Carried, not redone: one war room, one status page incident, one page.
        opened = [call for call in world.status_page if isinstance(call, StatusPageOpen)]
        assert world.channels == [handle.id.lower()] and len(opened) == 1
        assert (await handle.describe()).typed_search_attributes.get(search.SEVERITY) == "P1"
        world.failing.clear()
        assert (
            await answer(handle, "resolve", {"user": "alice", "resolution": "fixed", "root_cause": "load"})
        ).accepted
        await handle.result()
        final = incident_state(await status(handle))
        lengths = await run_histories(temporal_env.client, handle.id, handle.first_execution_run_id)
    assert len(lengths) == final["runs"]
    assert max(lengths) < 2 * 100
    (document,) = world.postmortems
    assert all(f"update: Mitigating: step {n} (ETA soon)" in document.markdown for n in range(1, 61))


BAD_PAYLOADS = [
    ("acknowledge", None, "expected a JSON object"),
    ("acknowledge", "bob", "expected a JSON object"),
    ("acknowledge", {"note": "on it"}, "user: Field required"),
    (
        "update",
        {"user": "alice", "status": "Panicking", "action": "x"},
        "status: Input should be 'Investigating', 'Identified', 'Mitigating' or 'Monitoring'",
    ),
    ("update", {"user": "alice", "status": "Mitigating"}, "action: Field required"),
    (
        "mitigate",
        {"user": "alice", "action": "reboot"},
        "action: Input should be 'scale_up', 'rate_limit' or 'maintenance_page'",
    ),
    (
        "mitigate",
        {"user": "alice", "action": "scale_up", "services": ["teleport-svc"]},
        "unknown service 'teleport-svc'; known: api-gateway",
    ),
    ("resolve", {"user": "alice", "resolution": "fixed"}, "root_cause: Field required"),
    ("resolve", [], "expected a JSON object"),
    (
        "resolve",
        {"user": "alice", "resolution": "fixed", "root_cause": "load", "force": True},
        "force needs a force_reason",
    ),
    ("severity", {"user": "alice", "severity": "P9"}, "severity: Input should be 'P1', 'P2', 'P3' or 'P4'"),
    ("severity", {"user": "alice", "severity": "P3"}, "is P3 already"),
    ("severity", {"user": 7, "severity": "P2"}, "user: Input should be a valid string"),
]


async def test_bad_payloads_on_every_signal_are_refused_recorded_and_harmless(temporal_env, world):
    async with incident(temporal_env, world, request("P3", ["auth-svc"])) as handle:
        assert (await answer(handle, "acknowledge", {"user": "bob"})).accepted
        cases = [*BAD_PAYLOADS, ("acknowledge", {"user": "carol"}, "already acknowledged by bob")]
        for name, payload, reason in cases:
            outcome = await answer(handle, name, payload)
            assert not outcome.accepted and reason in outcome.reason, (name, payload, outcome.reason)
            await handle.signal(name, payload)
        current = await until(handle, lambda s: len(s.refusals) == 2 * len(cases), "every refusal recorded")
        assert current.state.value == "RUNNING"
        assert [r.handler for r in current.refusals] == [name for name, _, _ in cases for _ in (1, 2)]
        assert all(
            reason in refusal.reason
            for (_, _, reason), refusal in zip([c for c in cases for _ in (1, 2)], current.refusals, strict=True)
        )
        assert incident_state(current)["severity"] == "P3" and incident_state(current)["resolution"] is None
        # Still answering: a good payload after all the bad ones.
        assert (await answer(handle, "mitigate", {"user": "alice", "action": "rate_limit"})).accepted
        await until(handle, lambda s: incident_state(s)["mitigations"][0]["state"] == "done", "the mitigation")
    assert world.mitigations == ["rate_limit"]
