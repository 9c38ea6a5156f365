"""Post-Deployment Verification's 5xx rule at its boundary: more than 1% of requests fails, 1% passes."""

from __future__ import annotations

from datetime import timedelta

from runbook.config import ThresholdsConfig
from runbook.models import MetricsReport, ServiceMetrics
from runbook.verification import error_rate_reasons

LIMIT = ThresholdsConfig().error_rate_percent  # the runbook's "5xx errors > 1%"


def report(errors: float, requests: float = 1000) -> MetricsReport:
    return MetricsReport(
        environment="production",
        window=timedelta(minutes=5),
        services=[ServiceMetrics(service="market-svc", requests=requests, errors_5xx=errors)],
    )


def test_the_default_limit_is_the_runbooks_one_percent():
    assert LIMIT == 1.0


def test_ten_errors_in_a_thousand_requests_pass():
    assert error_rate_reasons(report(10), LIMIT) == []


def test_eleven_errors_in_a_thousand_requests_fail_naming_the_service_and_the_rate():
    assert error_rate_reasons(report(11), LIMIT) == ["market-svc: 5xx 1.1% of 1000 requests > 1%"]


def test_no_requests_is_no_error_rate():
    assert error_rate_reasons(report(0, requests=0), LIMIT) == []


def test_a_rate_without_data_fails_naming_the_metric_dimensions_and_window():
    why = "RequestCount in Skillancer {Environment=production, Service=market-svc} over 5m: no datapoints"
    quiet = ServiceMetrics(service="market-svc", no_data={"requests": why, "cpu_percent": "CPUUtilization: none"})
    metrics = report(0).model_copy(update={"services": [quiet]})

    assert error_rate_reasons(metrics, LIMIT) == [f"market-svc: 5xx rate unknown, no data: {why}"]
