"""Load: many open P1 incidents on one worker, each with its update timer; the worker's memory and
how late those timers fire.

Opening a P1 is the heavy part (alert, page, war room, status page, assessment: a dozen activities),
and a 2-core machine opens a few per second. So a burst of incidents is declared for real, and timed;
the rest start as what a P1 open for a while is after continue-as-new: the same workflow, its war
room, status page and assessment on record (copied from one of the burst's, with a Slack channel and
a status-page incident of its own), updating every interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.common import SearchAttributePair, WorkflowIDReusePolicy

from bench.history import FiredTimer, fired_timers
from bench.report import BenchResult, percentile
from bench.stack import BenchStack, rss_kib
from runbook import search
from runbook.incident import CarriedIncident, IncidentRequest, IncidentState, StatusPageIncident, WarRoom
from runbook.integrations import resolve_integrations
from runbook.messages.incident import war_room_name
from runbook.severity import Severity
from runbook.status import ProcedureStatus
from runbook.temporal import connect
from workflows.incident import Incident

UPDATE_EVERY_S = 30
RESPOND_WITHIN = "6h"
START_CONCURRENCY = 20
FETCH_CONCURRENCY = 20
POLL_S = 2.0
# After the last start: the cycles, then this, so the last incidents' last updates are in.
SETTLE_S = 10.0
# What the benchmark needs after the burst: starting the rest, reading every history, stopping.
FINISH_S = 120.0
SETTINGS = {
    "incidents": {
        "update_every": f"{UPDATE_EVERY_S}s",
        # No escalation during the run: every timer that fires is an update timer.
        "respond_within": {"P1": RESPOND_WITHIN, "P2": RESPOND_WITHIN, "P3": RESPOND_WITHIN},
    },
}


def mib(kib: int) -> float:
    return kib / 1024


class Load:
    def __init__(self, stack: BenchStack, client) -> None:
        self.stack, self.client, self.config = stack, client, stack.config
        self.prefix = f"INC-LOAD-{uuid.uuid4().hex[:6]}"
        self.gate = asyncio.Semaphore(START_CONCURRENCY)
        self.services = self.config.services.names

    def request(self, number: int, carried: CarriedIncident | None = None) -> IncidentRequest:
        # One affected service each, round robin: the assessment probes that one, as a real P1 would.
        return IncidentRequest(
            severity=Severity.P1,
            summary=f"load test incident {number}",
            services=[self.service(number)],
            declared_by="bench",
            channel=self.config.channels.incidents,
            known_services=self.services,
            policy=self.config.incidents,
            thresholds=self.config.thresholds,
            carried=carried,
        )

    def service(self, number: int) -> str:
        return self.services[number % len(self.services)]

    def workflow_id(self, number: int) -> str:
        return f"{self.prefix}-{number:04d}"

    async def start(self, number: int, carried: CarriedIncident | None = None) -> str:
        request = self.request(number, carried)
        attributes = search.start_attributes("incident", request.environment, request.services).updated(
            SearchAttributePair(search.SEVERITY, "P1")
        )
        await self.client.start_workflow(
            Incident.run,
            request,
            id=self.workflow_id(number),
            task_queue=self.config.temporal.task_queue,
            search_attributes=attributes,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return self.workflow_id(number)

    async def start_open(self, http: httpx.AsyncClient, number: int, template: ProcedureStatus) -> str:
        """An incident as its next run after continue-as-new: open, assessed, updating."""
        async with self.gate:
            workflow_id = self.workflow_id(number)
            fleet = self.stack.fleet_url
            # The war room and status-page incident the first run would have opened, in the fakes.
            secrets = resolve_integrations(self.config)
            slack = {"Authorization": f"Bearer {secrets.slack.secret.get_secret_value()}"}
            statuspage = {"Authorization": f"OAuth {secrets.statuspage.secret.get_secret_value()}"}
            channel = (
                await http.post(
                    f"{fleet}/slack/api/conversations.create", json={"name": war_room_name(workflow_id)}, headers=slack
                )
            ).json()["channel"]
            page = self.config.statuspage.page_id
            opened = {
                "incident": {
                    "name": f"{self.service(number)}: load test incident {number}",
                    "body": "Investigating",
                    "impact_override": "critical",
                }
            }
            page_incident = (
                await http.post(f"{fleet}/statuspage/v1/pages/{page}/incidents", json=opened, headers=statuspage)
            ).json()
            now = datetime.now(UTC)
            first = IncidentState.model_validate(template.details["incident"])
            state = first.model_copy(
                update={
                    "summary": f"load test incident {number}",
                    "services": [self.service(number)],
                    "declared_at": now,
                    "target_respond_by": now + timedelta(hours=6),
                    "respond_by": now + timedelta(hours=6),
                    "war_room": WarRoom(id=channel["id"], name=channel["name"]),
                    "status_page": StatusPageIncident(
                        id=page_incident["id"], shortlink=page_incident.get("shortlink", "")
                    ),
                    "assessment": first.assessment.model_copy(update={"services": [self.service(number)]}),
                    # Set by the workflow's first turn: now + the interval.
                    "next_update_at": None,
                    "posted_updates": 0,
                    "last_posted_at": None,
                    "runs": first.runs + 1,
                }
            )
            status = dataclasses.replace(template, id=workflow_id, details={})
            return await self.start(number, CarriedIncident(state=state, status=status))

    async def assessed(self) -> int:
        """How many of ours posted their assessment to the war room (in the Slack fake's record)."""
        calls = (
            await asyncio.to_thread(
                httpx.get, f"{self.stack.fleet_url}/_sandbox/calls", params={"system": "slack"}, timeout=60
            )
        ).json()
        marker = f":mag: Assessment of {self.prefix}-"
        return sum(
            str((call.get("body") or {}).get("text", "")).startswith(marker)
            for call in calls
            if call["path"].endswith("chat.postMessage")
        )


async def until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def measure(stack: BenchStack, count: int, burst: int, cycles: int, open_timeout_s: float) -> dict:
    client = await connect(stack.config)
    load = Load(stack, client)
    pid = stack.worker_pid
    figures: dict = {"idle": rss_kib(pid)}

    began = time.monotonic()

    async def declared(number: int) -> str:
        async with load.gate:
            return await load.start(number)

    ids = list(await asyncio.gather(*(declared(number) for number in range(burst))))
    await until(lambda: _at_least(load.assessed, burst), open_timeout_s)
    figures["burst_s"] = time.monotonic() - began
    figures["burst_assessed"] = await load.assessed()
    figures["after_burst"] = rss_kib(pid)
    template = await client.get_workflow_handle(ids[0]).query("status", result_type=ProcedureStatus)

    began = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as http:
        ids += await asyncio.gather(*(load.start_open(http, number, template) for number in range(burst, count)))
    figures["start_s"] = time.monotonic() - began
    figures["all_started_at"] = time.time()
    figures["after_start"] = rss_kib(pid)
    await asyncio.sleep(cycles * UPDATE_EVERY_S + SETTLE_S)
    figures["end"], figures["end_at"] = rss_kib(pid), time.time()
    figures["peak"] = rss_kib(pid, "VmHWM")

    fetch_gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def timers_of(workflow_id: str) -> tuple[list[FiredTimer], int]:
        async with fetch_gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        return fired_timers(history), len(history.events)

    found = await asyncio.gather(*(timers_of(workflow_id) for workflow_id in ids))
    figures["timers"] = [timer for fired, _ in found for timer in fired]
    figures["events"] = [events for _, events in found]
    figures["running"] = (
        await client.count_workflows(f"WorkflowId STARTS_WITH '{load.prefix}' AND ExecutionStatus = 'Running'")
    ).count
    return figures


async def _at_least(count_of, wanted: int) -> bool:
    return await count_of() >= wanted


def run(quick: bool, count: int, burst: int, cycles: int, deadline: float | None = None) -> BenchResult:
    """`deadline` (time.monotonic()) bounds the burst's opening, so that `make bench` ends in time
    even on a machine too busy to open every one: the figures then say how many did."""
    burst = max(1, min(burst, count))
    result = BenchResult("load", f"Load: {count} open P1 incidents, updates every {UPDATE_EVERY_S} s, one worker")
    with BenchStack("load", SETTINGS) as stack:
        left = (deadline - time.monotonic()) if deadline else float("inf")
        open_timeout_s = min(600.0, max(60.0, left - cycles * UPDATE_EVERY_S - SETTLE_S - FINISH_S))
        figures = asyncio.run(measure(stack, count, burst, cycles, open_timeout_s))
        calls = len(httpx.get(f"{stack.fleet_url}/_sandbox/calls", timeout=60).json())
    timers: list[FiredTimer] = figures["timers"]
    steady = [timer for timer in timers if timer.fired > figures["all_started_at"]]

    def late(chosen: list[FiredTimer]) -> list[float]:
        return [timer.late_s * 1000 for timer in chosen]

    def picked_up(chosen: list[FiredTimer]) -> list[float]:
        return [timer.woke_late_s * 1000 for timer in chosen if timer.woke_late_s is not None]

    result.add("worker RSS, idle before the incidents", mib(figures["idle"]), "MiB")
    result.add(f"worker RSS, {burst} declared and opened", mib(figures["after_burst"]), "MiB")
    result.add(f"worker RSS, all {count} open", mib(figures["after_start"]), "MiB")
    result.add(f"worker RSS, at the end ({cycles} update interval(s) later)", mib(figures["end"]), "MiB")
    result.add("worker RSS, peak (VmHWM)", mib(figures["peak"]), "MiB")
    result.add(
        "worker RSS per open incident, (end − idle) ÷ incidents", (figures["end"] - figures["idle"]) / count, "KiB"
    )
    result.add(f"burst: {burst} P1s declared at once → {figures['burst_assessed']} assessed", figures["burst_s"], "s")
    result.add(f"starting the other {count - burst}, already open", figures["start_s"], "s")
    window = figures["end_at"] - figures["all_started_at"]
    result.add(f"update timers fired, all {count} open ({count * cycles} due in {window:.0f} s)", len(steady), "")
    result.add("  share of the due updates whose timer fired", 100 * len(steady) / (count * cycles), "%")
    result.add("  timer fired late by, p50", percentile(late(steady), 0.50), "ms")
    result.add("  timer fired late by, p99", percentile(late(steady), 0.99), "ms")
    result.add("  timer fired late by, max", max(late(steady), default=float("nan")), "ms")
    result.add("  update picked up by the worker late by, p50", percentile(picked_up(steady), 0.50), "ms")
    result.add("  update picked up by the worker late by, p99", percentile(picked_up(steady), 0.99), "ms")
    result.add("  update picked up by the worker late by, max", max(picked_up(steady), default=float("nan")), "ms")
    result.add("update timers fired over the whole run, burst included", len(timers), "")
    result.add("  timer fired late by, p50", percentile(late(timers), 0.50), "ms")
    result.add("  timer fired late by, p99", percentile(late(timers), 0.99), "ms")
    events = figures["events"]
    result.method = [
        "Dev server, sandbox and worker; the repository's runbook.toml with `[incidents] update_every = "
        f'"{UPDATE_EVERY_S}s"` and `respond_within` {RESPOND_WITHIN} for P1–P3 (nothing escalates during the run: '
        "every timer that fires is an update timer). Only the severities in `war_room_severities` (P1) get regular "
        "updates, so all are P1s, each naming one service (round robin over the five). Their outside calls land in "
        f"the sandbox's fakes ({calls} calls recorded in all). The worker is `python worker.py` with its default "
        "options.",
        "",
        f"1. **Burst**: {burst} P1s started at once with the client (`start_workflow`, {START_CONCURRENCY} at a "
        "time), as `runbook incident declare` starts them; each alerts, pages, opens a Slack war room (with "
        "invitations) and a status-page incident, and assesses (its service's health, CloudWatch, ECS, related "
        "deployments from visibility). Timed until all have posted their assessment.",
        f"2. **The rest** ({count - burst}) start as the next run of an open incident after continue-as-new "
        "(`IncidentRequest.carried`): the burst's first incident's state and record, with a Slack channel and a "
        "status-page incident of their own created in the fakes beforehand. Opening a P1 costs a dozen activities, and "
        f"declaring {count} at once would spend most of the run's time budget opening them on 2 cores; a run that "
        "carries an open incident does what every open P1 does from then on: an update every interval (the commander "
        "reminded when nothing new was said, the Update message to the war room, the status page updated).",
        f"3. After the last start, the harness waits {cycles} update interval(s) and {SETTLE_S:.0f} s, then reads "
        f"every incident's history (events per history: {min(events)}–{max(events)}; {figures['running']} of {count} "
        "still running).",
        "",
        "- **Timer fired late by** (the server's side): TimerFired event time − (TimerStarted event time + the timer's "
        "duration). The duration is computed by the workflow from its next update time, so a turn that ran late "
        "shortens the next timer instead of pushing the schedule.",
        "- **Picked up late by**: the first WorkflowTaskStarted after the TimerFired − (TimerStarted + duration): "
        "when the worker began the workflow task that posts the update, including the time the task waited for it.",
        f"- The main figures are over the timers that fired once all {count} were open (after the last start); the "
        "last lines are over every timer of the run, the burst's earlier ones included. Percentiles are nearest-rank.",
        "- A turn that finds its update time already past posts one update and moves the next to the first slot still "
        "ahead (`next_update_at += interval` until it is in the future): a worker that cannot keep up posts fewer "
        "updates, each late, rather than a growing queue of them. So the timers fired, against those due, say how "
        "much of the schedule the machine kept.",
        "- **Memory**: the worker process's resident set (VmRSS in /proc/PID/status; psutil is not a dependency) "
        "before the first start, after the burst, after the last start and at the end; peak is VmHWM.",
    ]
    return result
