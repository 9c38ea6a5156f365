"""CLI start-up: `runbook --help`, as a user's shell runs it."""

from __future__ import annotations

import shutil
import subprocess
import time

from bench.report import BenchResult, median
from bench.stack import PROJECT, runbook_command


def run(quick: bool) -> BenchResult:
    result = BenchResult("startup", "CLI start-up: `runbook --help`")
    runs = 5 if quick else 10
    command = [*runbook_command(), "--help"]
    subprocess.run(command, cwd=PROJECT, capture_output=True, check=True)  # warm-up: the page cache, .pyc files
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=PROJECT, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    typical, worst = median(walls), max(walls)
    result.add(f"`runbook --help`, median of {runs}", typical * 1000, "ms", "< 250 ms", typical < 0.25)
    result.add(f"`runbook --help`, slowest of {runs}", worst * 1000, "ms", "< 500 ms", worst < 0.5)
    hyperfine = "hyperfine is installed, but" if shutil.which("hyperfine") else "hyperfine is not installed;"
    result.method = [
        f"`.venv/bin/runbook --help` (the console script `make install` writes) as a subprocess, wall time from "
        f"launch to exit, output captured: one warm-up, then {runs} runs. {hyperfine} the runs are timed with "
        "`time.perf_counter` around `subprocess.run`, which adds well under a millisecond. The time is Python's "
        "own start-up, the console script's imports and argparse: the parser is built without importing "
        "the Temporal SDK, boto3 or httpx (starter/commands.py is imported only once a command has parsed).",
    ]
    return result
