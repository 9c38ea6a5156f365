"""Incident Response as a user runs it: the CLI against the sandbox's ECS, S3, Slack, status page,
pager and operations API, with a worker and a dev server on free ports."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from urllib.parse import urlsplit

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.common import SearchAttributePair

from activities.incident import postmortem_key
from activities.lock import acquire_environment
from runbook import search
from runbook.models import LockRequest
from runbook.status import ProcedureStatus
from runbook.temporal import connect
from tests.support import procedure_status, wait_for

INCIDENT_ID = re.compile(r"^INC-\d{8}-\d{4}$")


@pytest.fixture
def aws(e2e_stack):
    return e2e_stack.aws


@pytest.fixture
def bad_revision_left_behind(aws, e2e_stack):
    """Afterwards market-svc runs a fresh good revision: a rollback in a later test must not find
    the bad one as its previous revision."""
    yield
    deploy_to_production(aws, e2e_stack, "market-svc", "v1.1.0")


def running(aws, stack, service: str) -> dict:
    cluster = stack.config.environment("production").cluster
    return aws.ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def running_version(aws, stack, service: str) -> str:
    definition = aws.ecs.describe_task_definition(taskDefinition=running(aws, stack, service)["taskDefinition"])[
        "taskDefinition"
    ]
    return definition["containerDefinitions"][0]["image"].rsplit(":", 1)[1]


def deploy_to_production(aws, stack, service: str, version: str) -> None:
    """What a deployment of `version` leaves behind: a new revision, rolled out by the sandbox."""
    cluster = stack.config.environment("production").cluster
    arn = aws.ecs.register_task_definition(
        family=f"{cluster}-{service}",
        containerDefinitions=[{"name": service, "image": f"skillancer/{service}:{version}", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    aws.ecs.update_service(cluster=cluster, service=service, taskDefinition=arn)
    wait_for(
        lambda: running(aws, stack, service)["deployments"][0].get("rolloutState") in ("COMPLETED", "FAILED"),
        "the rollout to settle",
    )


def settled_mitigations(stack, incident_id: str, count: int) -> ProcedureStatus | None:
    """The status once `count` mitigations have ended, done or failed."""
    current = procedure_status(stack, incident_id)
    ended = [m for m in current.details["incident"]["mitigations"] if m["state"] in ("done", "failed")]
    return current if len(ended) == count else None


def declare(stack, *args: str) -> str:
    done = stack.cli("incident", "declare", *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    incident_id = json.loads(done.stdout)["id"]
    assert INCIDENT_ID.match(incident_id)
    return incident_id


class DeploymentInFlight:
    """A deployment of production as the runbook's search attributes and the environment lock show
    it, for the incident to find and pre-empt. Nobody runs it: it stays in flight until pre-empted."""

    def __init__(self, stack, services: list[str], version: str) -> None:
        self.stack, self.services, self.version = stack, services, version
        self.id = f"deploy-production-{version}-{uuid.uuid4().hex[:6]}"

    async def start(self) -> None:
        client = await connect(self.stack.config)
        attributes = search.start_attributes("deployment", "production", self.services, self.version).updated(
            SearchAttributePair(search.STAGE, "deploy_production")
        )
        await client.start_workflow(
            "StandInDeployment", id=self.id, task_queue=f"nobody-{uuid.uuid4()}", search_attributes=attributes
        )
        grant = await acquire_environment(
            client,
            self.stack.config.temporal.task_queue,
            LockRequest(environment="production", holder_id=self.id, kind="deployment"),
        )
        assert grant.granted

    async def history(self) -> list[EventType.ValueType]:
        client = await connect(self.stack.config)
        return [event.event_type for event in (await client.get_workflow_handle(self.id).fetch_history()).events]

    async def end(self) -> None:
        client = await connect(self.stack.config)
        await client.get_workflow_handle(self.id).terminate("test over")


def test_a_bad_deployment_becomes_a_p1_rolled_back_resolved_and_written_up(e2e_stack, aws, bad_revision_left_behind):
    # A good revision just before the bad one, whatever other tests of the session left behind:
    # with no record of the bad deployment, the rollback goes to the revision before it.
    deploy_to_production(aws, e2e_stack, "market-svc", "v1.1.0")
    deploy_to_production(aws, e2e_stack, "market-svc", "v1.2.0-bad")
    deployment = DeploymentInFlight(e2e_stack, ["market-svc"], "v1.2.0-bad")
    asyncio.run(deployment.start())
    try:
        incident_id = declare(
            e2e_stack, "--severity", "P1", "--summary", "checkout failing", "--services", "market-svc"
        )
        assessment = wait_for(
            lambda: procedure_status(e2e_stack, incident_id).details["incident"]["assessment"], "the assessment"
        )
        # Other tests of this session may have changed production too; this one must be among them.
        assert deployment.id in [d["id"] for d in assessment["related"]]
        assert assessment["unhealthy"] == ["market-svc"] and assessment["worst"] == "rollback_now"

        acked = e2e_stack.cli("incident", "ack", incident_id, "--note", "on it")
        assert acked.returncode == 0 and f"accepted: {incident_id} acknowledged by tester" in acked.stdout
        again = e2e_stack.cli("incident", "ack", incident_id)
        assert again.returncode == 2 and "refused: already acknowledged by tester" in again.stderr

        (rollback,) = wait_for(lambda: settled_mitigations(e2e_stack, incident_id, 1), "the rollback").details[
            "incident"
        ]["mitigations"]
        # The runbook's P1 step, `rollback.sh -y production all`: every service; one with nothing
        # earlier to return to is left as it is.
        everything = e2e_stack.config.services.names
        assert (rollback["action"], rollback["services"], rollback["state"]) == ("rollback", everything, "done"), (
            rollback
        )
        assert running_version(aws, e2e_stack, "market-svc") == "v1.1.0"
        # Pre-empted: its lock taken (the lock says from whom and why; no signal), then cancelled.
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in asyncio.run(deployment.history())
    finally:
        asyncio.run(deployment.end())

    updated = e2e_stack.cli(
        "incident",
        "update",
        incident_id,
        "--status",
        "monitoring",
        "--action",
        "watching checkout",
        "--eta",
        "15 minutes",
    )
    assert updated.returncode == 0, updated.stderr
    listed = e2e_stack.cli("list", "--kind", "incident", "--open")
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(incident_id)]
    assert re.match(
        rf"{incident_id} +P1 +RUNNING +(\d+s|\d+m \d\ds) +ack tester +checkout failing +"
        r"\| last update: Monitoring \d+s ago: watching checkout$",
        row,
    ), row

    resolved = e2e_stack.cli(
        "incident",
        "resolve",
        incident_id,
        "--resolution",
        "rolled back market-svc to v1.1.0",
        "--root-cause",
        "v1.2.0 broke checkout",
        "--follow-up",
        "canary deploys",
    )
    assert resolved.returncode == 0, resolved.stderr
    wait_for(lambda: procedure_status(e2e_stack, incident_id).state.value == "RESOLVED", "the resolution")
    shown = e2e_stack.cli("status", incident_id)
    assert shown.returncode == 0
    assert f"# Post-mortem: {incident_id}, checkout failing" in shown.stdout and "- [ ] canary deploys" in shown.stdout
    stored = (
        aws.s3.get_object(Bucket=e2e_stack.config.aws.records_bucket, Key=postmortem_key(incident_id))["Body"]
        .read()
        .decode()
    )
    assert stored.rstrip() in shown.stdout and "| tester | acknowledged: on it |" in stored

    slack = e2e_stack.calls("slack")
    posted = [(c["body"]["channel"], c["body"]["text"]) for c in slack if c["path"].endswith("chat.postMessage")]
    war_room = next(
        channel for channel, text in posted if text.startswith(f":rotating_light: War room for {incident_id}")
    )
    assert [c["body"]["name"] for c in slack if c["path"].endswith("conversations.create")].count(
        incident_id.lower()
    ) == 1
    assert [
        c["body"]["users"]
        for c in slack
        if c["path"].endswith("conversations.invite") and c["body"]["channel"] == war_room
    ] == ["U0DANA00004,U0ERIN00005"], "the responders by their Slack IDs; the commander (tester) has none"
    in_incidents = [text for channel, text in posted if channel == "#incidents"]
    assert (
        "🚨 INCIDENT: market-svc experiencing issues\n"
        "- Impact: checkout failing\n- Status: Investigating\n- ETA: Unknown"
    ) in in_incidents
    assert any(
        text.startswith("✅ RESOLVED: market-svc incident\n- Duration: ")
        and text.endswith("- Follow-up: canary deploys")
        for text in in_incidents
    )
    in_war_room = [text for channel, text in posted if channel == war_room]
    assert any(text.startswith(f":rewind: ROLLBACK started in production by {incident_id}") for text in in_war_room)
    assert (
        in_war_room[-1]
        == f":memo: Post-mortem for {incident_id}: s3://{e2e_stack.config.aws.records_bucket}/{postmortem_key(incident_id)}"
    )
    events = [call["body"] for call in e2e_stack.calls("pagerduty") if call["path"].endswith("/v2/enqueue")]
    pages = [event for event in events if event["dedup_key"] == incident_id]
    assert [page["event_action"] for page in pages] == ["trigger", "acknowledge", "resolve"]
    assert pages[0]["payload"]["severity"] == "critical" and pages[0]["routing_key"]
    # The alert names the affected system, and links back to the incident.
    production = urlsplit(e2e_stack.config.environment("production").base_url).hostname
    assert pages[0]["payload"]["source"] == production
    assert pages[0]["payload"]["custom_details"]["workflow_id"] == incident_id
    # This incident's own status-page calls: other incidents of the session update theirs too.
    page_id = procedure_status(e2e_stack, incident_id).details["incident"]["status_page"]["id"]
    page_calls = [
        call
        for call in e2e_stack.calls("statuspage")
        if (call["method"] == "POST" and "checkout failing" in json.dumps(call["body"]))
        or call["path"].endswith(f"/incidents/{page_id}")
    ]
    assert page_calls[0]["method"] == "POST" and page_calls[-1]["body"]["incident"]["status"] == "resolved"


def test_mitigations_reach_ecs_and_the_operations_api(e2e_stack, aws):
    before = running(aws, e2e_stack, "payment-svc")["desiredCount"]
    incident_id = declare(e2e_stack, "--severity", "P3", "--summary", "payouts slow", "--services", "payment-svc")
    scaled = e2e_stack.cli("incident", "mitigate", incident_id, "scale_up", "--reason", "CPU at 97%")
    assert scaled.returncode == 0, scaled.stderr

    async def from_the_ui() -> None:
        # What "Send a Signal" in the Temporal UI does: one JSON object per signal.
        handle = (await connect(e2e_stack.config)).get_workflow_handle(incident_id)
        await handle.signal("mitigate", {"user": "carol", "action": "rate_limit"})
        await handle.signal("mitigate", {"user": "carol", "action": "maintenance_page"})
        await handle.signal("mitigate", {"user": "carol", "action": "reboot"})

    asyncio.run(from_the_ui())
    current = wait_for(lambda: settled_mitigations(e2e_stack, incident_id, 3), "three mitigations")
    assert [(m["action"], m["by"]) for m in current.details["incident"]["mitigations"]] == [
        ("scale_up", "tester"),
        ("rate_limit", "carol"),
        ("maintenance_page", "carol"),
    ]
    assert [(r.handler, "action: Input should be" in r.reason) for r in current.refusals] == [("mitigate", True)]
    assert running(aws, e2e_stack, "payment-svc")["desiredCount"] == e2e_stack.config.scaling.scale_up_target(before)
    ops = [(call["path"], call["body"]) for call in e2e_stack.calls("ops") if call["body"]["incident"] == incident_id]
    assert ops == [
        (
            "/production/_ops/rate-limit",
            {"services": ["payment-svc"], "requests_per_second": 50, "incident": incident_id},
        ),
        ("/production/_ops/maintenance", {"enabled": True, "services": ["payment-svc"], "incident": incident_id}),
    ]
    bad = e2e_stack.cli("incident", "mitigate", incident_id, "scale_up", "--services", "billing")
    assert bad.returncode == 2 and "unknown service 'billing'" in bad.stderr
    closed = e2e_stack.cli(
        "incident", "resolve", incident_id, "--resolution", "scaled up", "--root-cause", "payout batch"
    )
    assert closed.returncode == 0, closed.stderr
    wait_for(lambda: procedure_status(e2e_stack, incident_id).state.value == "RESOLVED", "the resolution")
    late = e2e_stack.cli("incident", "ack", incident_id)
    assert late.returncode == 2 and f"{incident_id} is closed" in late.stderr, late.stderr


def test_a_resolve_is_refused_while_the_service_is_down_and_forced_only_with_a_reason(e2e_stack, healthy_fleet):
    incident_id = declare(e2e_stack, "--severity", "P3", "--summary", "logins fail", "--services", "auth-svc")
    assert e2e_stack.cli("sandbox", "fault", "production", "auth-svc", "down").returncode == 0
    resolve = ["incident", "resolve", incident_id, "--resolution", "restarted auth", "--root-cause", "a stuck pool"]

    refused = e2e_stack.cli(*resolve)
    # Unhealthy, not bad input: exit 1, why on one line each, how to resolve anyway.
    assert refused.returncode == 1 and refused.stdout == "", refused.stdout + refused.stderr
    first, *reasons, last = refused.stderr.splitlines()
    assert first == f"runbook: {incident_id} not resolved: the resolution is not verified"
    assert reasons and all(line.startswith("  ") for line in reasons)
    assert any(line.startswith("  auth-svc liveness: ") for line in reasons), reasons
    assert last == "resolve anyway, on the record: --force --reason TEXT"
    assert procedure_status(e2e_stack, incident_id).state.value == "RUNNING"

    unexplained = e2e_stack.cli(*resolve, "--force")
    assert unexplained.returncode == 2 and unexplained.stderr.count("\n") == 1
    assert "--force needs --reason TEXT" in unexplained.stderr

    forced = e2e_stack.cli(*resolve, "--force", "--reason", "customers can log in again", "--improvement", "alert")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(f"accepted: {incident_id} resolved by force;")
    assert "\n  not verified: auth-svc liveness: " in forced.stdout
    final = wait_for(
        lambda: procedure_status(e2e_stack, incident_id),
        "the post-mortem",
        accept=lambda s: s.state.value == "RESOLVED",
    )
    postmortem = final.details["postmortem"]
    assert (
        "Resolved by force by tester: customers can log in again\n\nNot verified:\n- auth-svc liveness: " in postmortem
    )
    assert "## Improvements\n\n- alert\n" in postmortem
    assert [r.handler for r in final.refusals] == ["resolve"]


def test_an_acknowledgement_made_in_pagerduty_reaches_the_incident(e2e_stack):
    incident_id = declare(
        e2e_stack, "--severity", "P3", "--summary", "search is slow", "--services", "notification-svc"
    )
    wait_for(
        lambda: any(e.event == "on-call paged" for e in procedure_status(e2e_stack, incident_id).timeline), "the page"
    )
    # dana acknowledges where she was paged: in PagerDuty, not with the runbook's CLI. Without
    # PagerDuty's webhook to the gateway, the worker's polling alone must find it.
    acked = e2e_stack.cli("sandbox", "pagerduty", "ack", incident_id, "--as", "dana", "--no-webhook")
    assert acked.returncode == 0, acked.stdout + acked.stderr
    state = wait_for(
        lambda: procedure_status(e2e_stack, incident_id).details["incident"]["acknowledged"], "the acknowledgement"
    )
    assert state["by"] == "dana" and state["note"].startswith("acknowledged in PagerDuty (PDANA04)")
    again = e2e_stack.cli("incident", "ack", incident_id)
    assert again.returncode == 2 and "refused: already acknowledged by dana" in again.stderr
    told = [
        call["body"]["text"]
        for call in e2e_stack.calls("slack")
        if call["path"].endswith("chat.postMessage") and call["body"]["text"].startswith(f":eyes: {incident_id}")
    ]
    assert len(told) == 1 and told[0].startswith(f":eyes: {incident_id} acknowledged by <@U0DANA00004>"), told
