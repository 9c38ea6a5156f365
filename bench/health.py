"""Health check: 25 services, 300 ms injected on each, against the runbook's sequential curl script."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

import httpx

from activities.health import check_environment
from bench.report import BenchResult, median
from bench.stack import BenchStack
from runbook.health import plan_checks
from runbook.models import HealthCheckRequest

ENVIRONMENT = "production"
DELAY_S = 0.3
SERVICE_COUNT = 25
# The five services every other part of the runbook knows, then numbered ones up to 25: the
# gateway and auth stay in the fleet, so the environment-wide endpoints (which pass through the
# gateway, and auth status through auth too) carry the injected latency like every other.
SERVICES = ["api-gateway", "auth-svc", "market-svc", "payment-svc", "notification-svc"] + [
    f"svc-{n:02d}" for n in range(6, SERVICE_COUNT + 1)
]

# RUNBOOK.md, "Verification Script", word for word but for BASE_URL.
SCRIPT_ENDPOINTS = [
    (
        "Health Dashboard",
        "/health/dashboard",
        "'{overall, summary, coreServices: (.coreServices | keys), moatServices: (.moatServices | keys)}'",
    ),
    ("Liveness", "/health/live", "."),
    ("Readiness", "/health/ready", "."),
    ("Circuit Breakers", "/health/circuits", "."),
    ("Auth Status", "/api/v1/auth/status", "."),
]


def verification_script(base_url: str, extended: bool, jq: bool) -> str:
    """The runbook's script; `extended` goes on the same way through every URL the full health
    check probes beyond the script's five, one `curl | jq` after another."""
    pipe = (lambda f: f"jq {f}") if jq else (lambda f: "cat")
    lines = ["#!/bin/bash", f'BASE_URL="{base_url}"', 'echo "Testing critical endpoints..."']
    for title, path, jq_filter in SCRIPT_ENDPOINTS:
        lines += [f'echo "=== {title} ==="', f'curl -s "$BASE_URL{path}" | {pipe(jq_filter)}']
    if extended:
        lines += ['echo "=== API Status ==="', f'curl -s "$BASE_URL/api/v1/status" | {pipe(".")}']
        # HTML, which jq cannot read: the page's bytes go where the script's output goes.
        lines += ['echo "=== Homepage ==="', 'curl -s "$BASE_URL/" | cat']
        for service in SERVICES:
            for path in ("health/live", "health/ready", "status"):
                lines += [f'echo "=== {service} {path} ==="', f'curl -s "$BASE_URL/svc/{service}/{path}" | {pipe(".")}']
    lines.append('echo "All checks complete!"')
    return "\n".join(lines) + "\n"


def run_script(stack: BenchStack, text: str, name: str) -> float:
    path = stack.folder / name
    path.write_text(text)
    started = time.perf_counter()
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-500:]}")
    return wall


async def in_process(stack: BenchStack) -> tuple[float, float, int, int]:
    """What `runbook health-check ENV --full` runs, in this process: wall (s), the report's own
    wall_ms, how many checks, how many got no HTTP answer at all."""
    started = time.perf_counter()
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, stack.config, HealthCheckRequest(environment=ENVIRONMENT, full=True))
    wall = time.perf_counter() - started
    unanswered = sum(check.http_status is None for check in report.checks)
    return wall, report.wall_ms / 1000, len(report.checks), unanswered


def endpoint_latencies(stack: BenchStack, again: int) -> dict[str, float]:
    """Each endpoint alone, one request at a time, in seconds: every URL once, then the three
    slowest `again` times more, each the median of what it got."""
    specs = {spec.name: spec.url for spec in plan_checks(stack.config, ENVIRONMENT, full=True)}
    latencies: dict[str, list[float]] = {name: [] for name in specs}
    with httpx.Client(timeout=10) as http:

        def measure(name: str) -> None:
            started = time.perf_counter()
            http.get(specs[name])
            latencies[name].append(time.perf_counter() - started)

        for name in specs:
            measure(name)
        for name in sorted(specs, key=lambda n: latencies[n][0], reverse=True)[:3]:
            for _ in range(again):
                measure(name)
    return {name: median(values) for name, values in latencies.items()}


def run(quick: bool) -> BenchResult:
    result = BenchResult("health", "Health check: 25 services, 300 ms each")
    runs_in_process, runs_cli, runs_curl = (5, 3, 1) if quick else (11, 5, 3)
    jq = shutil.which("jq") is not None
    if not shutil.which("curl"):
        result.notes.append("curl is not installed: the baseline was not measured.")
    overrides = {
        "services": {"names": SERVICES},
        # The health check reads no metrics: fewer CloudWatch writes keep the sandbox's own CPU out of the way.
        "sandbox": {"metrics_interval": 10.0},
    }
    with BenchStack("health", overrides, parts=("sandbox",)) as stack:
        for service in SERVICES:
            stack.fault(ENVIRONMENT, service, "slow", DELAY_S)
        base_url = stack.config.environment(ENVIRONMENT).base_url
        latencies = endpoint_latencies(stack, again=4)
        slowest_name, slowest = max(latencies.items(), key=lambda item: item[1])

        asyncio.run(in_process(stack))  # warm-up: imports and the first connections
        measured = [asyncio.run(in_process(stack)) for _ in range(runs_in_process)]
        wall = median([m[0] for m in measured])
        report_wall = median([m[1] for m in measured])
        checks, unanswered = measured[0][2], max(m[3] for m in measured)

        cli_walls, cli_codes, cli_failing = [], set(), []
        for _ in range(runs_cli):
            started = time.perf_counter()
            done = stack.cli("health-check", ENVIRONMENT, "--full", "--json")
            cli_walls.append(time.perf_counter() - started)
            cli_codes.add(done.returncode)
            failing = [c for c in json.loads(done.stdout)["checks"] if c["verdict"] == "fail"]
            cli_failing.append((len(failing), sum(c["reason"].startswith("slow") for c in failing)))
        cli_wall = median(cli_walls)

        script = verification_script(base_url, extended=False, jq=jq)
        extended = verification_script(base_url, extended=True, jq=jq)
        curl_walls = (
            [run_script(stack, extended, "verify-extended.sh") for _ in range(runs_curl)]
            if shutil.which("curl")
            else []
        )
        script_walls = (
            [run_script(stack, script, "verify.sh") for _ in range(runs_curl)] if shutil.which("curl") else []
        )
        baseline, literal = median(curl_walls), median(script_walls)
        stack.clear_faults()
        stack_budget = stack.config.thresholds.api_latency_ms

    result.add("slowest single endpoint alone", slowest * 1000, "ms")
    result.add(f"health check, in process ({checks} checks, median of {runs_in_process})", wall * 1000, "ms")
    result.add("health check, in process, probing only (the report's wall_ms)", report_wall * 1000, "ms")
    result.add(f"health check CLI `--full --json` (median of {runs_cli})", cli_wall * 1000, "ms")
    result.add(f"baseline: sequential curl of the same {checks} URLs (median of {runs_curl})", baseline * 1000, "ms")
    result.add("the script as written: its 5 endpoints only", literal * 1000, "ms")
    result.add("speed-up over the baseline, in process", baseline / wall, "×", "≥ 10×", baseline / wall >= 10)
    result.add(
        "speed-up over the baseline, CLI (with interpreter start-up)",
        baseline / cli_wall,
        "×",
        "≥ 10×",
        baseline / cli_wall >= 10,
    )
    result.add("in-process wall ÷ slowest single endpoint", wall / slowest, "×", "≤ 1.5×", wall / slowest <= 1.5)
    result.add("CLI wall ÷ slowest single endpoint (with interpreter start-up)", cli_wall / slowest, "×")

    paths = ", ".join(path for _, path, _ in SCRIPT_ENDPOINTS)
    result.method = [
        "Sandbox only (no Temporal: the health check is plain HTTP), seeded from a runbook.toml with 25 services "
        f"({', '.join(SERVICES[:6])} … {SERVICES[-1]}). `slow` with `delay_s` {DELAY_S} is injected on all 25 in "
        f"`{ENVIRONMENT}`. A service's own endpoints then answer in {DELAY_S * 1000:.0f} ms; the environment-wide "
        f"ones pass through api-gateway ({DELAY_S * 1000:.0f} ms), and auth status through api-gateway and auth-svc "
        f"(2 × {DELAY_S * 1000:.0f} ms).",
        "",
        f"- **Slowest single endpoint**: every URL of the full check requested alone, one after another; the three "
        f"slowest 4 times more; the median per URL, then the largest: {slowest_name}.",
        "- **In process**: `activities.health.check_environment` with a fresh `httpx.AsyncClient`, exactly what "
        f"`runbook health-check {ENVIRONMENT} --full` runs, timed around client creation and the check ({checks} "
        f"checks, every one probed at once); one warm-up, then the median of {runs_in_process}. Also the report's own "
        f"`wall_ms`: the probing alone, without creating the client. Checks with no HTTP answer: {unanswered}.",
        f"- **CLI**: `.venv/bin/runbook health-check {ENVIRONMENT} --full --json` as a subprocess, wall time "
        f"including Python start-up and imports; median of {runs_cli}. Exit codes seen: {sorted(cli_codes)}; checks "
        "judged failing per run (of which over the latency budget): "
        f"{', '.join((f'{n} ({slow})' for n, slow in cli_failing))}. With `--full` every call is held to the "
        f"{stack_budget:.0f} ms API budget, which the 2 × {DELAY_S * 1000:.0f} ms of auth status exceeds, and which "
        "others exceed when the machine is busy; a failing verdict is still an answer, and the time to reach it is "
        "what is measured.",
        "- **Baseline**: RUNBOOK.md's Verification Script as a bash file, `BASE_URL` set to the sandbox's "
        f"`{ENVIRONMENT}`: its 5 endpoints ({paths}) with its own `jq` filters, then, the same way (`echo` a header, "
        "`curl -s URL | jq .`), the other URLs the full health check probes: /api/v1/status, / (HTML: piped to `cat`, "
        "jq cannot parse it), and for each of the 25 services /svc/NAME/health/live, /svc/NAME/health/ready and "
        f"/svc/NAME/status: {checks} URLs in all, one after another. Median of {runs_curl}. "
        + (
            "jq is installed and used."
            if jq
            else "jq is not installed: every `| jq ...` became `| cat`, which makes the baseline slightly faster."
        ),
        f"- **The script as written**: only its 5 endpoints, exactly as RUNBOOK.md has them (median of {runs_curl}); "
        f"shown for scale, not the baseline, since it checks no service of its own.",
        "- Ratios: baseline ÷ health-check wall, and health-check wall ÷ slowest single endpoint.",
    ]
    return result
