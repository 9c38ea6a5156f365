"""A service is failing when its liveness or API check is refused or answered with an error; slow
answers and timeouts are left to the response-time and 5xx rules, which CloudWatch's figures judge."""

from datetime import timedelta

import pytest

from runbook.assessment import snapshots
from runbook.models import CheckResult, HealthReport, MetricsReport, ServiceMetrics

METRICS = MetricsReport(
    environment="production", window=timedelta(minutes=1), services=[ServiceMetrics(service="market-svc", requests=100)]
)


def health(check: CheckResult) -> dict[str, HealthReport]:
    return {"market-svc": HealthReport(environment="production", full=True, checks=[check])}


@pytest.mark.parametrize(
    ("check", "healthy"),
    [
        (CheckResult(name="market-svc liveness", url="u", http_status=200, verdict="pass"), True),
        (
            CheckResult(
                name="market-svc liveness",
                url="u",
                http_status=200,
                latency_ms=900,
                budget_ms=500,
                verdict="fail",
                reason="slow: 900 ms",
                too_slow=True,
            ),
            True,
        ),
        (
            CheckResult(name="market-svc liveness", url="u", verdict="fail", reason="timeout after 1 s", too_slow=True),
            True,
        ),
        (CheckResult(name="market-svc liveness", url="u", verdict="fail", reason="connection refused"), False),
        (CheckResult(name="market-svc api", url="u", http_status=503, verdict="fail", reason="HTTP 503"), False),
        (CheckResult(name="market-svc readiness", url="u", http_status=503, verdict="fail", reason="HTTP 503"), True),
    ],
    ids=["answered", "slow-answer", "timed-out", "refused", "api-503", "readiness-only"],
)
def test_which_health_failures_make_a_service_failing(check, healthy):
    (snapshot,) = snapshots(METRICS, health(check))
    assert snapshot.healthy is healthy


def test_figures_without_data_reach_the_matrix_named():
    why = "HTTPCode_5XX_Count in Skillancer {Environment=production, Service=market-svc} over 1m: no datapoints"
    metrics = METRICS.model_copy(
        update={"services": [ServiceMetrics(service="market-svc", requests=100, no_data={"errors_5xx": why})]}
    )

    assert snapshots(metrics, {})[0].no_data == {"errors_5xx": why}
