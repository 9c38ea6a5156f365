"""What the runbook's health-check script checks, and how each answer is judged.

Pure: the probing itself is in activities/health.py. Every check is one GET; `--full` adds the
verification script's dashboard, circuit breakers and auth status, per-service API status, the
homepage, and holds every call to its latency budget (API < 500 ms, homepage < 3 s).
"""

from __future__ import annotations

from typing import Any

from runbook.base import Model
from runbook.config import RunbookConfig
from runbook.models import CheckResult, HealthReport

# An integration readiness should report and does not: unknown, which is never healthy.
NOT_REPORTED = "not reported"


class CheckSpec(Model):
    name: str
    url: str
    budget_ms: float | None = None


class Probe(Model):
    """One GET's outcome as the wire saw it: a status and body, or the transport error."""

    spec: CheckSpec
    http_status: int | None = None
    latency_ms: float | None = None
    body: Any = None
    error: str = ""


def plan_checks(config: RunbookConfig, environment: str, full: bool) -> list[CheckSpec]:
    base = config.environment(environment).base_url.rstrip("/")
    thresholds, paths = config.thresholds, config.health
    api_budget = thresholds.api_latency_ms if full else None

    def check(name: str, path: str, budget: float | None = api_budget) -> CheckSpec:
        return CheckSpec(name=name, url=f"{base}{path}", budget_ms=budget)

    specs = [
        check("liveness", paths.liveness),
        check("readiness", paths.readiness),
        check("api-status", paths.api_status),
    ]
    for service in config.services.names:
        specs.append(check(f"{service} liveness", _of(paths.service_liveness, service)))
        specs.append(check(f"{service} readiness", _of(paths.service_readiness, service)))
    if full:
        specs += [
            check("dashboard", paths.dashboard),
            check("circuits", paths.circuits),
            check("auth-status", paths.auth_status),
            check("homepage", paths.homepage, thresholds.homepage_latency_ms),
        ]
        specs += [check(f"{service} api", _of(paths.service_api, service)) for service in config.services.names]
    return specs


def plan_service_checks(config: RunbookConfig, environment: str, service: str) -> list[CheckSpec]:
    """One service's own liveness, readiness and API status: what a rollback verifies."""
    base = config.environment(environment).base_url.rstrip("/")
    paths = config.health
    return [
        CheckSpec(name=f"{service} {name}", url=f"{base}{_of(path, service)}")
        for name, path in (
            ("liveness", paths.service_liveness),
            ("readiness", paths.service_readiness),
            ("api", paths.service_api),
        )
    ]


def _of(path: str, service: str) -> str:
    return path.replace("{service}", service)


def judge(probe: Probe) -> CheckResult:
    spec = probe.spec
    result = CheckResult(
        name=spec.name,
        url=spec.url,
        http_status=probe.http_status,
        latency_ms=probe.latency_ms,
        budget_ms=spec.budget_ms,
        verdict="pass",
    )
    reason = _failure_reason(probe)
    if reason:
        too_slow = reason.startswith(("timeout", "slow"))
        return result.model_copy(update={"verdict": "fail", "reason": reason, "too_slow": too_slow})
    return result.model_copy(update={"reason": _note(probe)})


def _failure_reason(probe: Probe) -> str:
    if probe.error:
        return probe.error
    if probe.http_status != 200:
        detail = _body_status(probe.body)
        return f"HTTP {probe.http_status}" + (f" ({detail})" if detail else "")
    if probe.spec.budget_ms is not None and probe.latency_ms is not None and probe.latency_ms > probe.spec.budget_ms:
        return f"slow: {probe.latency_ms:.0f} ms > {probe.spec.budget_ms:.0f} ms budget"
    if probe.spec.name == "circuits":
        opened = _open_circuits(probe.body)
        if opened:
            return "open circuits: " + ", ".join(opened)
    if probe.spec.name == "dashboard" and isinstance(probe.body, dict) and probe.body.get("overall") == "unhealthy":
        return "dashboard overall unhealthy"
    return ""


def _note(probe: Probe) -> str:
    body = probe.body if isinstance(probe.body, dict) else {}
    if probe.spec.name == "dashboard":
        summary = body.get("summary") or {}
        core = ", ".join(sorted((body.get("coreServices") or {}).keys()))
        moat = ", ".join(sorted((body.get("moatServices") or {}).keys()))
        return f"overall {body.get('overall')}; summary {summary}; core: {core}; moat: {moat}"
    return _body_status(body)


def _body_status(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("status") or body.get("overall") or body.get("error") or "")
    return ""


def _open_circuits(body: Any) -> list[str]:
    circuits = body.get("circuits", {}) if isinstance(body, dict) else {}
    return sorted(
        name for name, circuit in circuits.items() if isinstance(circuit, dict) and circuit.get("state") != "closed"
    )


def integrations_from(probes: list[Probe], expected: list[str]) -> dict[str, str]:
    """Each expected integration as readiness reports it ("not reported" when it does not), and
    the dashboard's other dependencies beside them."""
    readiness: dict[str, str] = {}
    dashboard: dict[str, str] = {}
    for probe in probes:
        body = probe.body if isinstance(probe.body, dict) else {}
        if probe.spec.name == "readiness":
            readiness = _states(body.get("checks"))
        if probe.spec.name == "dashboard":
            dashboard = _states(body.get("moatServices"))
    return {**dashboard, **dict.fromkeys(expected, NOT_REPORTED), **readiness}


def _states(checks: Any) -> dict[str, str]:
    if not isinstance(checks, dict):
        return {}
    return {
        name: str(check.get("status", "unknown")) if isinstance(check, dict) else str(check)
        for name, check in checks.items()
    }


def build_report(
    environment: str, full: bool, probes: list[Probe], wall_ms: float, expected_integrations: list[str]
) -> HealthReport:
    return HealthReport(
        environment=environment,
        full=full,
        checks=[judge(probe) for probe in probes],
        integrations=integrations_from(probes, expected_integrations),
        wall_ms=wall_ms,
    )


def render_report(report: HealthReport) -> str:
    rows = [("CHECK", "STATUS", "LATENCY", "VERDICT", "DETAIL")]
    for check in report.checks:
        latency = f"{check.latency_ms:.0f} ms" if check.latency_ms is not None else "-"
        status = str(check.http_status) if check.http_status is not None else "-"
        rows.append((check.name, status, latency, check.verdict.upper(), check.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    if report.integrations:
        lines.append(
            "integrations: " + ", ".join(f"{name} {state}" for name, state in sorted(report.integrations.items()))
        )
    failures = report.failures
    verdict = (
        "HEALTHY"
        if not failures
        else f"UNHEALTHY: {len(failures)} failing: " + "; ".join(f"{c.name} ({c.reason})" for c in failures)
    )
    lines.append(f"{report.environment}: {verdict} ({len(report.checks)} checks in {report.wall_ms:.0f} ms)")
    return "\n".join(line.rstrip() for line in lines)
