"""`runbook status` and `runbook approve` against a floor: a bare SDK script that connects and
sends the same query or update, run beside them on the same machine."""

from __future__ import annotations

import asyncio
import itertools
import sys

from bench.approvals import STARTER, STARTER_REFUSED, at_the_gate, in_turns
from bench.overhead import SETTINGS
from bench.report import BenchResult, median
from bench.stack import BenchStack, runbook_command
from runbook.temporal import connect

# Within this of the floor; the targets of issue 16.
RATIO_TARGET = 1.3

# The floor: Python, temporalio.client, Client.connect with the SDK's default converter, the one
# call, its answer printed as JSON; it leaves as the CLI leaves (os._exit, once its output is
# flushed), so that neither pays for the SDK's threads at interpreter shutdown. "typed" reads the
# answer as the CLI does, into runbook/status.py's dataclasses with that same converter: the floor
# of a client that reads what it is answered.
FLOOR = """
import asyncio, json, os, sys
from temporalio.client import Client

address, namespace, workflow_id, call, approver, converter = sys.argv[1:7]
answer_type = None
if converter == "typed":
    from runbook.status import HandlerOutcome, ProcedureStatus, jsonable
    answer_type = ProcedureStatus if call == "status" else HandlerOutcome

async def main():
    client = await Client.connect(address, namespace=namespace)
    handle = client.get_workflow_handle(workflow_id)
    if call == "status":
        answer = await handle.query("status", result_type=answer_type)
    else:
        decision = {"approver": approver, "comment": ""}
        answer = await handle.execute_update("approve", decision, result_type=answer_type)
    print(json.dumps(answer if answer_type is None else jsonable(answer)), flush=True)

asyncio.run(main())
os._exit(0)
"""


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
        expected = {"status": '"approval"', "approve": STARTER_REFUSED}
        commands = {
            "runbook status": ([*runbook, "status", workflow_id, "--json"], expected["status"]),
            "runbook approve": ([*runbook, "approve", workflow_id, "--as", STARTER, "--json"], expected["approve"]),
        }
        for call, converter in itertools.product(expected, ("bare", "typed")):
            commands[f"{converter} floor {call}"] = (floor + [call, STARTER, converter], expected[call])
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        rounds = [[f"{kind} {call}" for kind in ("bare floor", "typed floor", "runbook")] for call in expected]
        for n in range(1 + runs):  # the first round warms the page cache and .pyc files
            for same_call in in_turns(n, rounds):
                for name in in_turns(n, same_call):
                    took, cpu = stack.timed(*commands[name])
                    if n:
                        walls[name].append(took)
                        cpus[name].append(cpu)
    typical = {name: median(times) for name, times in walls.items()}
    typical_cpu = {name: median(times) for name, times in cpus.items()}
    for call in expected:
        floor_s, typed_s, runbook_s = (typical[f"{kind} {call}"] for kind in ("bare floor", "typed floor", "runbook"))
        ratio = runbook_s / floor_s
        result.add(f"floor: bare SDK script, {call}, median of {runs}", floor_s * 1000, "ms")
        result.add(f"typed floor: the same, read into the status dataclasses, median of {runs}", typed_s * 1000, "ms")
        result.add(f"`runbook {call}`, median of {runs}", runbook_s * 1000, "ms")
        result.add(f"`runbook {call}` ÷ its floor", ratio, "×", f"≤ {RATIO_TARGET:g}×", ratio <= RATIO_TARGET)
        result.add(f"`runbook {call}` ÷ its typed floor", runbook_s / typed_s, "×")
        floor_cpu, runbook_cpu = typical_cpu[f"bare floor {call}"], typical_cpu[f"runbook {call}"]
        result.add(f"  CPU time: floor, {call}, median", floor_cpu * 1000, "ms")
        result.add(f"  CPU time: `runbook {call}`, median", runbook_cpu * 1000, "ms")
        result.add(f"  CPU time: `runbook {call}` ÷ its floor", runbook_cpu / floor_cpu, "×")
    result.method = [
        f"A stack of its own (dev server, sandbox, worker); one production deployment started by {STARTER} and "
        "held at its approval gate. Each command is a fresh process, wall time from launch to exit, output "
        f"captured and checked: `runbook status ID --json`, and `runbook approve ID --as {STARTER} --json`, which "
        "four eyes refuses (he started the deployment), so that every run is the same full update round trip "
        "to the workflow and back, changing nothing. The floors and the CLI run in turns, their order "
        f"reversed every other round; one warm-up round, then {runs}. The CPU times (user and system, from "
        "getrusage of the finished children) are shown beside the wall times: on a shared machine they move "
        "much less with other processes' load.",
        "The floor is the least a Python client can do for the same answer: import temporalio.client, "
        "Client.connect with the SDK's default JSON converter, the same `status` query or `approve` update "
        "(unsigned, as the CLI sends it without a key), print the answer as JSON. What the CLI adds over it "
        "is its own: argparse, reading runbook.toml's [temporal] and [people] (runbook/settings.py, without "
        "pydantic), the connection settings (temporalio.envconfig), reading the answer into runbook/status.py's "
        "dataclasses, and `approve`'s check of who acts against [people] and for a key to sign with. The target "
        "(1.3×) is against this floor.",
        "The typed floor is the same script reading the answer as the CLI does, into runbook/status.py's "
        "dataclasses (ProcedureStatus, HandlerOutcome) with the SDK's own converter: the floor of a client that "
        "reads what it is answered. Between the typed floor and the CLI is what is the CLI's own.",
    ]
    return result
