"""`runbook status` and `runbook approve` against a floor: a bare SDK script that connects and
sends the same query or update, run beside them on the same machine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.approvals import STARTER, STARTER_REFUSED, at_the_gate, in_turns
from bench.overhead import SETTINGS
from bench.report import BenchResult, median
from bench.stack import PROJECT, BenchStack, runbook_command
from runbook.temporal import connect

# Within this of the floor; the targets of issue 16.
RATIO_TARGET = 1.3

# The floor: Python, temporalio.client, Client.connect with the SDK's default converter, the one
# call, its answer printed as JSON; it leaves as the CLI leaves (os._exit, once its output is
# flushed), so that neither pays for the SDK's threads at interpreter shutdown.
FLOOR = """
import asyncio, json, os, sys
from temporalio.client import Client

async def main(address, namespace, workflow_id, call):
    client = await Client.connect(address, namespace=namespace)
    handle = client.get_workflow_handle(workflow_id)
    if call == "status":
        answer = await handle.query("status")
    else:
        answer = await handle.execute_update("approve", {"approver": sys.argv[5], "comment": ""})
    print(json.dumps(answer), flush=True)

asyncio.run(main(*sys.argv[1:5]))
os._exit(0)
"""


def timed(command: list[str], expect: str, stack: BenchStack) -> float:
    """Seconds from launch to exit of `command`, whose output must hold `expect`."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=stack.env, capture_output=True, text=True, timeout=60)
    took = time.perf_counter() - started
    if expect not in done.stdout:
        raise RuntimeError(f"{command[-4:]}: exit {done.returncode}, not {expect!r}: {done.stdout}{done.stderr}")
    return took


async def deployment_at_the_gate(stack: BenchStack) -> str:
    return (await at_the_gate(stack, await connect(stack.config))).id


def run(quick: bool) -> BenchResult:
    result = BenchResult("cli_speed", "`runbook status` and `runbook approve` against a bare SDK script")
    runs = 5 if quick else 9
    stack = BenchStack("cli-speed", SETTINGS)
    with stack:
        workflow_id = asyncio.run(deployment_at_the_gate(stack))
        temporal = stack.config.temporal
        runbook = runbook_command()
        floor = [sys.executable, "-c", FLOOR, temporal.address, temporal.namespace, workflow_id]
        commands = {
            "floor status": (floor + ["status", STARTER], '"approval"'),
            "runbook status": ([*runbook, "status", workflow_id, "--json"], '"approval"'),
            "floor approve": (floor + ["approve", STARTER], STARTER_REFUSED),
            "runbook approve": ([*runbook, "approve", workflow_id, "--as", STARTER, "--json"], STARTER_REFUSED),
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for n in range(1 + runs):  # the first round warms the page cache and .pyc files
            for pair in in_turns(n, [["floor status", "runbook status"], ["floor approve", "runbook approve"]]):
                for name in in_turns(n, pair):
                    took = timed(*commands[name], stack)
                    if n:
                        walls[name].append(took)
    typical = {name: median(times) for name, times in walls.items()}
    for call in ("status", "approve"):
        floor_s, runbook_s = typical[f"floor {call}"], typical[f"runbook {call}"]
        ratio = runbook_s / floor_s
        result.add(f"floor: bare SDK script, {call}, median of {runs}", floor_s * 1000, "ms")
        result.add(f"`runbook {call}`, median of {runs}", runbook_s * 1000, "ms")
        result.add(f"`runbook {call}` ÷ its floor", ratio, "×", f"≤ {RATIO_TARGET:g}×", ratio <= RATIO_TARGET)
    result.method = [
        f"A stack of its own (dev server, sandbox, worker); one production deployment started by {STARTER} and "
        "held at its approval gate. Each command is a fresh process, wall time from launch to exit, output "
        f"captured and checked: `runbook status ID --json`, and `runbook approve ID --as {STARTER} --json`, which "
        "four eyes refuses (he started the deployment), so that every run is the same full update round trip "
        "to the workflow and back, changing nothing. Floor and CLI run in turns, the first of each pair "
        f"alternating; one warm-up round, then {runs}.",
        "The floor is the least a Python client can do for the same answer: import temporalio.client, "
        "Client.connect with the SDK's default JSON converter, the same `status` query or `approve` update "
        "(unsigned, as the CLI sends it without a key), print the answer as JSON. What the CLI adds over it "
        "is its own: argparse, reading runbook.toml (pydantic models), the connection settings "
        "(temporalio.envconfig), the project's pydantic converter and the answer's validation, and `approve`'s "
        "check of who acts against [people].",
    ]
    return result
