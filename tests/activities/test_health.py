"""The health probes against respx: concurrency, timeouts and refusals as the wire shows them."""

import asyncio

import httpx
import pytest
import respx

from activities.health import check_environment
from runbook.config import load_config
from runbook.models import HealthCheckRequest
from runbook.verification import integration_reasons
from tests.support import SANDBOX_CONFIG

CONFIG = load_config(SANDBOX_CONFIG)
BASE = "http://127.0.0.1:8080/staging"


@pytest.fixture
def fleet():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def everything_else_ok(fleet: respx.MockRouter) -> None:
    """respx matches routes in the order they were added: the specific ones come first."""
    fleet.get(url__startswith=BASE).mock(return_value=httpx.Response(200, json={"status": "ok"}))


async def test_a_healthy_environment(fleet):
    everything_else_ok(fleet)
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, CONFIG, HealthCheckRequest(environment="staging"))
    assert report.healthy and len(report.checks) == 13
    assert all(check.http_status == 200 and check.latency_ms is not None for check in report.checks)


async def test_readiness_without_its_checks_leaves_the_integrations_not_reported(fleet):
    fleet.get(f"{BASE}/health/ready").mock(return_value=httpx.Response(200, json={"status": "ready"}))
    everything_else_ok(fleet)
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, CONFIG, HealthCheckRequest(environment="staging"))
    assert integration_reasons(report) == [
        "database is not reported",
        "externalApis is not reported",
        "redis is not reported",
    ]


async def test_refused_timeout_and_status_are_told_apart(fleet):
    fleet.get(f"{BASE}/health/live").mock(side_effect=httpx.ConnectError("refused"))
    fleet.get(f"{BASE}/health/ready").mock(side_effect=httpx.ReadTimeout("slow"))
    fleet.get(f"{BASE}/svc/auth-svc/health/live").mock(return_value=httpx.Response(503, json={"status": "down"}))
    everything_else_ok(fleet)
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, CONFIG, HealthCheckRequest(environment="staging"))
    reasons = {check.name: check.reason for check in report.failures}
    assert reasons == {
        "liveness": "connection refused",
        "readiness": "timeout after 5 s",
        "auth-svc liveness": "HTTP 503 (down)",
    }


async def test_every_endpoint_is_in_flight_at_once(fleet):
    in_flight, peak = 0, 0

    async def held(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return httpx.Response(200, json={"status": "ok"})

    fleet.get(url__startswith=BASE).mock(side_effect=held)
    async with httpx.AsyncClient() as http:
        report = await check_environment(http, CONFIG, HealthCheckRequest(environment="staging", full=True))
    assert len(report.checks) == 22
    assert peak == 22
