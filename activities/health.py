"""Health checks over HTTP: every endpoint probed at once, each with a bounded timeout."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from temporalio import activity

from runbook.config import RunbookConfig
from runbook.health import CheckSpec, Probe, build_report, plan_checks, plan_service_checks
from runbook.models import HealthCheckRequest, HealthReport, ServiceHealthRequest


async def probe(http: httpx.AsyncClient, spec: CheckSpec, timeout_s: float) -> Probe:
    started = time.perf_counter()
    try:
        # httpx's timeout bounds each connect and each read, not the whole exchange: a server that
        # sends its answer a byte at a time would hold the check for as long as it keeps sending.
        async with asyncio.timeout(timeout_s):
            response = await http.get(spec.url, timeout=timeout_s)
    except (httpx.TimeoutException, TimeoutError):
        return Probe(spec=spec, error=f"timeout after {timeout_s:g} s")
    except httpx.ConnectError:
        return Probe(spec=spec, error="connection refused")
    except httpx.HTTPError as error:
        return Probe(spec=spec, error=f"{type(error).__name__}: {error}")
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    return Probe(spec=spec, http_status=response.status_code, latency_ms=latency_ms, body=body)


async def _probe_all(
    http: httpx.AsyncClient,
    config: RunbookConfig,
    environment: str,
    full: bool,
    specs: list[CheckSpec],
    expected_integrations: list[str],
) -> HealthReport:
    started = time.perf_counter()
    probes = await asyncio.gather(*(probe(http, spec, config.thresholds.request_timeout_s) for spec in specs))
    wall_ms = (time.perf_counter() - started) * 1000
    return build_report(environment, full, list(probes), wall_ms, expected_integrations)


async def check_environment(
    http: httpx.AsyncClient, config: RunbookConfig, request: HealthCheckRequest
) -> HealthReport:
    specs = plan_checks(config, request.environment, request.full)
    expected = config.environment(request.environment).integrations
    return await _probe_all(http, config, request.environment, request.full, specs, expected)


async def check_service(http: httpx.AsyncClient, config: RunbookConfig, request: ServiceHealthRequest) -> HealthReport:
    specs = plan_service_checks(config, request.environment, request.service)
    # A service's own endpoints are no readiness of the environment: no integrations expected of them.
    return await _probe_all(http, config, request.environment, False, specs, [])


class HealthActivities:
    def __init__(self, http: httpx.AsyncClient, config: RunbookConfig) -> None:
        self._http = http
        self._config = config

    @activity.defn
    async def check_health(self, request: HealthCheckRequest) -> HealthReport:
        report = await check_environment(self._http, self._config, request)
        if report.failures:
            failing = ", ".join(check.name for check in report.failures)
            activity.logger.warning(
                "%s: %d of %d health checks failing: %s",
                request.environment,
                len(report.failures),
                len(report.checks),
                failing,
            )
        else:
            activity.logger.info(
                "%s: healthy (%d checks in %.0f ms)", request.environment, len(report.checks), report.wall_ms
            )
        return report

    @activity.defn
    async def check_service_health(self, request: ServiceHealthRequest) -> HealthReport:
        return await check_service(self._http, self._config, request)
