"""Time to mitigate: a P1 declared for a bad deployment → production back on the previous revision."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from temporalio.common import SearchAttributePair

from activities.aws import build_aws_clients
from activities.lock import acquire_environment
from bench.report import BenchResult, median
from bench.stack import BenchStack
from runbook import search
from runbook.models import LockRequest
from runbook.status import ProcedureStatus
from runbook.temporal import connect

SERVICE = "market-svc"
GOOD, BAD = "v1.1.0", "v1.2.0-bad"
POLL_S = 0.1
TIMEOUT_S = 120.0


@dataclass
class Run:
    declared: float  # the CLI returned the incident's ID
    acknowledged: float
    rollback_issued: float  # ECS's service first points at the previous revision again
    mitigated: float  # ... and its rollout there is COMPLETED
    outcome: str


class Production:
    def __init__(self, stack: BenchStack) -> None:
        self.ecs = build_aws_clients(stack.config).ecs
        self.cluster = stack.config.environment("production").cluster

    def service(self) -> dict:
        return self.ecs.describe_services(cluster=self.cluster, services=[SERVICE])["services"][0]

    def deploy(self, version: str) -> str:
        """What a deployment of `version` leaves behind: a new revision, rolled out (or failed) by the sandbox."""
        container = {"name": SERVICE, "image": f"skillancer/{SERVICE}:{version}", "memory": 512}
        arn = self.ecs.register_task_definition(family=f"{self.cluster}-{SERVICE}", containerDefinitions=[container])[
            "taskDefinition"
        ]["taskDefinitionArn"]
        self.ecs.update_service(cluster=self.cluster, service=SERVICE, taskDefinition=arn)
        deadline = time.monotonic() + TIMEOUT_S
        while self.service()["deployments"][0].get("rolloutState") not in ("COMPLETED", "FAILED"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the rollout of {version} never settled")
            time.sleep(POLL_S)
        return arn


async def one_incident(stack: BenchStack, client, production: Production, number: int) -> Run:
    # A fresh good revision first: the rollback's "previous revision" must be this one, never an
    # earlier run's bad one.
    previous = production.deploy(GOOD) if number else production.service()["taskDefinition"]
    production.deploy(BAD)
    stand_in = f"deploy-production-{BAD}-{uuid.uuid4().hex[:6]}"
    # The deployment in flight, as visibility and the environment lock show it; no worker runs it.
    attributes = search.start_attributes("deployment", "production", [SERVICE], BAD).updated(
        SearchAttributePair(search.STAGE, "deploy_production")
    )
    await client.start_workflow(
        "StandInDeployment", id=stand_in, task_queue=f"nobody-{uuid.uuid4()}", search_attributes=attributes
    )
    grant = await acquire_environment(
        client,
        stack.config.temporal.task_queue,
        LockRequest(environment="production", holder_id=stand_in, kind="deployment"),
    )
    if not grant.granted:
        raise RuntimeError(f"production is held by {grant.holder}")
    incident_id = ""
    try:
        started = time.perf_counter()
        done = await asyncio.to_thread(
            stack.cli,
            "incident",
            "declare",
            "--severity",
            "P1",
            "--summary",
            "checkout failing",
            "--services",
            SERVICE,
            "--json",
        )
        if done.returncode != 0:
            raise RuntimeError(f"declare failed: {done.stderr}")
        incident_id = json.loads(done.stdout)["id"]
        declared = time.perf_counter() - started
        handle = client.get_workflow_handle(incident_id)
        await handle.execute_update("acknowledge", {"user": "bench", "note": "on it"})
        acknowledged = time.perf_counter() - started
        issued = 0.0
        while True:
            current = await asyncio.to_thread(production.service)
            if current["taskDefinition"] == previous:
                issued = issued or time.perf_counter() - started
                if current["deployments"][0].get("rolloutState") == "COMPLETED":
                    break
            if time.perf_counter() - started > TIMEOUT_S:
                raise RuntimeError(f"{incident_id}: production not back on {previous} after {TIMEOUT_S:.0f} s")
            await asyncio.sleep(POLL_S)
        mitigated = time.perf_counter() - started
        outcome = await settled(handle)
    finally:
        for workflow_id in (incident_id, stand_in):
            if workflow_id:
                try:
                    await client.get_workflow_handle(workflow_id).terminate("benchmark over")
                except Exception:
                    pass
    return Run(declared, acknowledged, issued, mitigated, outcome)


async def settled(handle) -> str:
    """The rollback's own verdict, once it ended (so terminating the incident cuts nothing short)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        status = await handle.query("status", result_type=ProcedureStatus)
        ended = [m for m in status.details["incident"]["mitigations"] if m["state"] in ("done", "failed")]
        if ended:
            return ended[0]["state"]
        await asyncio.sleep(POLL_S)
    return "unsettled"


async def measure(stack: BenchStack, runs: int) -> list[Run]:
    client = await connect(stack.config)
    production = Production(stack)
    return [await one_incident(stack, client, production, number) for number in range(runs)]


def run(quick: bool) -> BenchResult:
    result = BenchResult("mitigate", "Time to mitigate: P1 for a bad deployment → previous revision running")
    runs = 1 if quick else 3
    # The sandbox as `make up` has it: the repository's runbook.toml, on other ports.
    with BenchStack("mitigate") as stack:
        settings = stack.config
        measured = asyncio.run(measure(stack, runs))
    mitigated = median([r.mitigated for r in measured])
    result.add(f"declare → previous revision running (median of {runs})", mitigated, "s", "< 10 s", mitigated < 10)
    result.add("  of which: `incident declare` CLI returned", median([r.declared for r in measured]), "s")
    result.add("  of which: acknowledged", median([r.acknowledged for r in measured]), "s")
    result.add(
        "  of which: ECS pointed back at the previous revision", median([r.rollback_issued for r in measured]), "s"
    )
    result.add("slowest run", max(r.mitigated for r in measured), "s")
    result.method = [
        "Dev server, sandbox and worker with the repository's runbook.toml (other ports only): `rollout_seconds = "
        f"{settings.sandbox.rollout_seconds}`, `metrics_interval = {settings.sandbox.metrics_interval}`, "
        f"`rollout_poll_seconds = {settings.deployments.rollout_poll_seconds}`. As tests/e2e/test_incident.py does: "
        f"{SERVICE} in production gets a new revision running {BAD} (registered and rolled out by the sandbox, which "
        "fails it), and a deployment of it is in flight (a workflow with the deployment's search attributes, holding "
        "the production lock, that no worker runs). Before each run after the first, a fresh good revision is rolled "
        "out, so that the previous revision is a good one.",
        "",
        'The clock starts when `.venv/bin/runbook incident declare --severity P1 --summary "checkout failing" '
        f"--services {SERVICE} --json` is launched (a subprocess, with its Python start-up); as soon as it prints the "
        "ID, the harness acknowledges (the `acknowledge` update, as `runbook incident ack` sends it: the runbook "
        f"rolls back once a human has acknowledged). It then polls ECS `describe_services` every {POLL_S * 1000:.0f} "
        "ms until the service's task definition is the previous revision and its PRIMARY deployment is COMPLETED. In "
        "between, the incident alerts, pages, opens the war room and the status page, assesses (health, metrics, ECS, "
        "related deployments from visibility), finds the deployment in flight, pre-empts it, and runs the Rollback "
        "child (plan, update, wait for the rollout, health, notify, record: the clock stops at the rollout, before "
        f"Rollback's own health check and records). Median of {runs}; rollback outcomes: "
        f"{', '.join(r.outcome for r in measured)}.",
    ]
    return result
