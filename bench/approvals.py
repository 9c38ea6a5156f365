"""Verified decisions: a Slack click through the gateway to the workflow's answer, and what signing
costs the CLI's `approve`."""

from __future__ import annotations

import asyncio
import subprocess
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.client import Client, WorkflowHandle

from bench.overhead import POLL_S, SETTINGS
from bench.report import BenchResult, median, percentile
from bench.stack import PARTS, BenchStack, runbook_command
from runbook.buttons import decision_for
from runbook.integrations import sandbox_secret
from runbook.proof import attest, load_private_key, unsigned
from runbook.status import HandlerOutcome, ProcedureStatus, State
from runbook.temporal import connect
from starter import signing
from starter.commands import deployment_request, launch_deployment

T = TypeVar("T")

# bob starts the deployment, so that every decision is refused after its proof is checked: dana
# (in Slack, not an approver) by the approver check, bob (an approver) by four eyes.
STARTER = "bob"
CLICKER = "dana"
CLICKER_REFUSED = f"{CLICKER!r} is not an approver"
STARTER_REFUSED = f"{STARTER} started this deployment"
SERVICES = ["notification-svc"]
WARM_UP = 2
# The sandbox's record of the response is what ends a click; polling for it only reads that record.
ANSWER_POLL_S = 0.01
ANSWER_TIMEOUT_S = 30.0
GATE_TIMEOUT_S = 120.0


async def at_the_gate(stack: BenchStack, client: Client) -> WorkflowHandle:
    """A deployment started by bob, held at its approval gate, its request with the buttons posted."""
    version = f"v9.{int(time.time()) % 100000}.0"
    request = deployment_request(
        stack.config, "production", version, SERVICES, STARTER, no_checklist_reason="bench: approvals"
    )
    handle = await launch_deployment(client, stack.config, "deployment", request)
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while True:
        status = await handle.query("status", result_type=ProcedureStatus)
        if status.step == "approval":
            return handle
        if status.state != State.RUNNING or time.monotonic() > deadline:
            raise RuntimeError(f"the deployment did not reach its approval gate: {status.state.value} at {status.step}")
        await asyncio.sleep(POLL_S)


async def click(http: httpx.AsyncClient, stack: BenchStack, workflow_id: str) -> tuple[float, float]:
    """dana clicks Approve in the sandbox's Slack: (seconds to the gateway's acknowledgement, to the
    answer the sandbox recorded at the click's response URL). LookupError: no such button posted yet."""
    sent = time.time()
    clicked = await http.post(
        f"{stack.fleet_url}/_sandbox/slack/click", json={"target": workflow_id, "action": "approve", "as": CLICKER}
    )
    acknowledged = time.time()
    if clicked.status_code == 404:
        raise LookupError(clicked.text)
    if clicked.status_code != 200 or clicked.json()["status"] != 200:
        raise RuntimeError(f"the click was not delivered: {clicked.status_code} {clicked.text[:300]}")
    response_url = clicked.json()["response_url"]
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        found = await http.get(f"{stack.fleet_url}/_sandbox/slack/responses", params={"response_url": response_url})
        answers = found.json()["responses"]
        if answers:
            answer = answers[0]
            if answer["effect"] != "ephemeral" or CLICKER_REFUSED not in answer["text"]:
                raise RuntimeError(f"not the refusal measured: {answer['effect']} {answer['text'][:300]!r}")
            answered = datetime.fromisoformat(answer["time"].replace("Z", "+00:00")).timestamp()
            return acknowledged - sent, answered - sent
        await asyncio.sleep(ANSWER_POLL_S)
    raise RuntimeError(f"no answer at the response URL within {ANSWER_TIMEOUT_S:g} s")


async def update(handle: WorkflowHandle, stack: BenchStack, slack_id: str) -> float:
    """The update the gateway sends for dana's click, attested with the gateway's key as it attests
    it, sent straight to Temporal: seconds to the workflow's answer."""
    decision = decision_for("approve", CLICKER)
    assert decision is not None
    key = load_private_key(sandbox_secret("RUNBOOK_GATEWAY_KEY", stack.env), "RUNBOOK_GATEWAY_KEY")
    claims = unsigned("slack", datetime.now(UTC), subject=slack_id, workflow_id=handle.id, decision=decision.update)
    payload = {**decision.payload, "proof": attest(claims, decision.payload, key).model_dump(mode="json")}
    return await refused_in(handle, payload, CLICKER_REFUSED)


async def refused_in(handle: WorkflowHandle, payload: dict[str, Any], refusal: str) -> float:
    """Seconds `execute_update("approve", payload)` takes, its answer the refusal measured."""
    started = time.perf_counter()
    outcome = await handle.execute_update("approve", payload, result_type=HandlerOutcome)
    took = time.perf_counter() - started
    if outcome.accepted or refusal not in outcome.reason:
        raise RuntimeError(f"not the refusal measured: {outcome}")
    return took


async def clicks_and_updates(stack: BenchStack, handle: WorkflowHandle, count: int) -> tuple[list, list]:
    """(ack, answer) per click and seconds per update, taken in turns so that both see one machine."""
    person = stack.config.people.get(CLICKER)
    assert person is not None and person.slack_id
    clicked, updated = [], []
    async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT_S) as http:
        # The first warm-up click, once the request with its buttons is posted (just after the gate).
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            try:
                await click(http, stack, handle.id)
                break
            except LookupError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the approval request's buttons were never posted") from None
                await asyncio.sleep(POLL_S)
        for n in range(WARM_UP + count):
            one_click = await click(http, stack, handle.id)
            one_update = await update(handle, stack, person.slack_id)
            if n >= WARM_UP:
                clicked.append(one_click)
                updated.append(one_update)
    return clicked, updated


@dataclass
class InProcess:
    """Seconds each, measured from the harness's own Temporal client."""

    clicks: list[tuple[float, float]]  # (to the gateway's acknowledgement, to the answer) per click
    updates: list[float]  # the gateway's update for the click, sent straight to Temporal
    signing: list[float]  # reading bob's key file and signing his approval, as the CLI does
    unsigned: list[float]  # bob's approve update, without a proof
    signed: list[float]  # and with his SSH-signed one


async def in_process(stack: BenchStack, key: Path, count: int) -> tuple[str, InProcess]:
    """The deployment's ID, and what was measured on it."""
    handle = await at_the_gate(stack, await connect(stack.config))
    clicks, updates = await clicks_and_updates(stack, handle, count)
    return handle.id, InProcess(clicks, updates, *await signed_updates(handle, key, count))


async def signed_updates(handle: WorkflowHandle, key: Path, count: int) -> tuple[list[float], list[float], list[float]]:
    """bob's approve sent straight to Temporal, unsigned and signed as `runbook approve --key` signs
    it (both refused by four eyes, the signed one after its proof is checked), in turns; and the
    signing alone."""
    payload = {"approver": STARTER, "comment": ""}
    signing_times: list[float] = []
    unsigned_times: list[float] = []
    signed_times: list[float] = []
    for n in range(WARM_UP + count):
        started = time.perf_counter()
        signer = signing.key_file_signer(str(key), "--key", "")
        signed = signing.signed_payload(signer, payload, workflow_id=handle.id, decision="approve")
        signed_in = time.perf_counter() - started
        for sent, times in in_turns(n, [(payload, unsigned_times), (signed, signed_times)]):
            took = await refused_in(handle, sent, STARTER_REFUSED)
            if n >= WARM_UP:
                times.append(took)
        if n >= WARM_UP:
            signing_times.append(signed_in)
    return signing_times, unsigned_times, signed_times


def in_turns(n: int, pair: list[T]) -> list[T]:
    """One first in even rounds, the other in odd ones: neither always has the warmer machine."""
    return pair if n % 2 == 0 else pair[::-1]


def new_key(folder: Path) -> Path:
    path = folder / "bob_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(path)], check=True)
    return path


def cli_approvals(stack: BenchStack, workflow_id: str, key: Path, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per `runbook approve` as bob, without a key and with his: in turns, one of each to
    warm up. Both refused by four eyes, the signed one after its proof is checked."""
    unsigned_runs: list[float] = []
    signed_runs: list[float] = []
    for n in range(1 + runs):
        for key_args, times in in_turns(n, [([], unsigned_runs), (["--key", str(key)], signed_runs)]):
            approve = [*runbook_command(), "approve", workflow_id, "--as", STARTER, *key_args, "--json"]
            took, _ = stack.timed(approve, STARTER_REFUSED)
            if n:
                times.append(took)
    return unsigned_runs, signed_runs


async def signed_refusals(stack: BenchStack, workflow_id: str) -> int:
    """bob's refusals whose payload carried a proof: the signed approvals, checked before four eyes refused them."""
    client = await connect(stack.config)
    status = await client.get_workflow_handle(workflow_id).query("status", result_type=ProcedureStatus)
    return sum(STARTER_REFUSED in r.reason and "'proof'" in r.payload for r in status.refusals)


def run(quick: bool) -> BenchResult:
    result = BenchResult("approvals", "Verified decisions: a Slack click through the gateway, a signed CLI approval")
    count, runs = (10, 3) if quick else (50, 7)
    stack = BenchStack("approvals", SETTINGS, parts=(*PARTS, "gateway"))
    key = new_key(stack.folder)
    bob: dict[str, Any] = tomllib.loads(stack.config_path.read_text())["people"][STARTER]
    stack.lay_over({"people": {STARTER: {**bob, "ssh_keys": [Path(f"{key}.pub").read_text().strip()]}}})
    with stack:
        workflow_id, measured = asyncio.run(in_process(stack, key, count))
        unsigned_runs, signed_runs = cli_approvals(stack, workflow_id, key, runs)
        verified = asyncio.run(signed_refusals(stack, workflow_id))
    signed_sent = WARM_UP + count + 1 + runs
    if verified != signed_sent:
        raise RuntimeError(f"{verified} signed approvals reached the workflow with their proof, not {signed_sent}")
    acks = [acknowledged for acknowledged, _ in measured.clicks]
    answers = [answered for _, answered in measured.clicks]
    click_p50, click_p99 = median(answers), percentile(answers, 0.99)
    update_p50, update_p99 = median(measured.updates), percentile(measured.updates, 0.99)
    ack_p99 = percentile(acks, 0.99)
    adds = click_p99 - update_p99
    signing = median(signed_runs) - median(unsigned_runs)
    after_ack = median([answered - acknowledged for acknowledged, answered in measured.clicks])
    result.add(f"Slack click → answer at its response URL, p50 of {count}", click_p50 * 1000, "ms")
    result.add(f"Slack click → answer at its response URL, p99 of {count}", click_p99 * 1000, "ms")
    result.add("  of which click → the gateway's acknowledgement, p50", median(acks) * 1000, "ms")
    result.add("  of which acknowledgement → answer, p50", after_ack * 1000, "ms")
    result.add("Slack click → the gateway's acknowledgement, p99", ack_p99 * 1000, "ms", "< 3000 ms", ack_p99 < 3.0)
    result.add(f"Temporal update of the same decision, p50 of {count}", update_p50 * 1000, "ms")
    result.add(f"Temporal update of the same decision, p99 of {count}", update_p99 * 1000, "ms")
    result.add("share of the click outside Temporal, at p50", (click_p50 - update_p50) / click_p50 * 100, "%")
    result.add("the gateway adds: click p99 − update p99", adds * 1000, "ms", "< 50 ms", adds < 0.05)
    result.add(f"`runbook approve` unsigned, median of {runs}", median(unsigned_runs) * 1000, "ms")
    result.add(f"`runbook approve --key` (SSH-signed), median of {runs}", median(signed_runs) * 1000, "ms")
    result.add("signing adds: signed − unsigned", signing * 1000, "ms", "< 100 ms", signing < 0.1)
    result.add(
        "  of which the CLI's signing: key read, SSHSIG (in process, median)",
        median(measured.signing) * 1000,
        "ms",
    )
    result.add(
        "  of which the workflow's check: signed − unsigned update (medians)",
        (median(measured.signed) - median(measured.unsigned)) * 1000,
        "ms",
    )
    result.notes = [
        f"After the gateway acknowledged, the click's answer came in {after_ack * 1000:.0f} ms (p50), the update "
        f"alone taking {update_p50 * 1000:.0f} ms: what the gateway itself adds past the update is that "
        "difference; the rest of the click, before its acknowledgement, is the sandbox delivering it.",
    ]
    result.method = [
        "Dev server, sandbox, worker and gateway (`python -m starter.gateway`, on a port of its own: the bench "
        "config's `[gateway] port`, where the sandbox's Slack sends its clicks); the overhead benchmark's settings; "
        "bob's ed25519 key made with `ssh-keygen` in the stack's folder and listed in `[people] bob.ssh_keys`. "
        f"One `StandardDeployment` of {', '.join(SERVICES)} to production, started by bob, held at its approval "
        "gate: every decision below is refused there after the whole of its checking, so one workflow answers "
        "them all, the same way each time, and nothing moves on.",
        "",
        f"Slack: {CLICKER} (in [people] with a Slack ID, not an approver) clicks Approve through the sandbox's "
        "`POST /_sandbox/slack/click`, which builds Slack's `block_actions` payload, signs it as Slack does and "
        "posts it to the gateway. The gateway checks the signature, maps the Slack user to a person, answers Slack, "
        "attests the decision with its key, sends the `approve` update; the workflow checks the proof and the "
        "person and refuses it (not an approver; the refusal recorded); the gateway posts the refusal to the click's "
        "response URL, where the sandbox records it with a millisecond timestamp. Click → answer = that timestamp − "
        "the moment the harness sent the click (both the machine's clock; the harness polls the sandbox's "
        f"record every {ANSWER_POLL_S * 1000:.0f} ms, but the time is the sandbox's, not the poll's). It includes the "
        "sandbox's own share (building and signing the payload, its HTTP calls). The acknowledgement = the click "
        "sent → the gateway's HTTP 200 back to the sandbox, as the harness sees the sandbox answer (Slack shows "
        "the clicker an error after 3 s): the sandbox's side of the click (it builds, signs and posts each one "
        "with an HTTP client of its own) and the gateway's checks. Acknowledgement → answer: the rest, the "
        "gateway's update (sent before it acknowledges) and its post to the response URL.",
        "",
        "Temporal update: the same `approve` payload, attested with the sandbox's gateway key as the gateway "
        "attests it, sent by `execute_update` from the harness's Temporal client to the same workflow, timed around "
        "that call: the round trip to the server, the workflow task that checks the proof and refuses, the answer. "
        f"Clicks and updates alternate, {WARM_UP + 1} clicks and {WARM_UP} updates to warm up (connections, "
        f"caches), then {count} of each measured. p99 is the nearest rank (of {count}, the slowest). The gateway "
        "adds = click p99 − update p99: the "
        "signature checks, the mapping, the attestation, the HTTP hops and the response URL, and the sandbox's "
        "share of them; the share outside Temporal = (click p50 − update p50) ÷ click p50.",
        "",
        f"CLI: `runbook approve ID --as bob --json` against the same with `--key` (bob's key file), each a new "
        f"process as a user runs it, in turns, one of each to warm up, then the median of {runs}. Both are refused "
        "by four eyes (bob started the deployment); the signed one only after the workflow has checked its SSH "
        "signature (its refusals carrying a proof are counted, and must be every signed run). Signing adds = "
        "median signed − median unsigned: reading the key, signing in-process, the payload's proof, and the "
        "workflow's SSHSIG verification. Each run is a whole interpreter start (most of its time), so on a busy "
        "machine this difference is noise around a few milliseconds; the two figures under it say where those "
        "go, measured in the harness's process on the same workflow: reading bob's key file and signing as the "
        "CLI does (`starter.signing`), and bob's `approve` sent by `execute_update` unsigned and signed, in turns, "
        f"{WARM_UP} of each to warm up, then {count} (median signed − median unsigned).",
    ]
    return result
