"""collect_metrics against the sandbox's moto: a figure without datapoints, or a 5xx rate over too
few requests, is "no data" with its metric, dimensions and window, never a zero taken for healthy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activities.aws import build_aws_clients
from activities.cloudwatch import collect_metrics
from runbook.models import MetricsRequest, ServiceMetrics

WINDOW = timedelta(minutes=5)


def figures(stack, namespace: str) -> ServiceMetrics:
    config = stack.config.model_copy(
        update={"aws": stack.config.aws.model_copy(update={"metrics_namespace": namespace})}
    )
    request = MetricsRequest(environment="production", services=["market-svc"], window=WINDOW)
    return collect_metrics(build_aws_clients(config).cloudwatch, config, request).services[0]


def test_the_sandbox_fleets_figures_are_all_observed(healthy_fleet):
    assert figures(healthy_fleet, healthy_fleet.config.aws.metrics_namespace).no_data == {}


def test_a_namespace_without_datapoints_names_every_figure_as_no_data(sandbox_stack):
    namespace = f"Skillancer/Typo-{uuid.uuid4().hex[:8]}"

    seen = figures(sandbox_stack, namespace)

    where = f"in {namespace} {{Environment=production, Service=market-svc}} over 5m: no datapoints"
    assert seen.no_data == {
        "requests": f"RequestCount {where}",
        "errors_5xx": f"HTTPCode_5XX_Count {where}",
        "avg_response_ms": f"ResponseTime {where}",
        "cpu_percent": f"CPUUtilization {where}",
        "memory_percent": f"MemoryUtilization {where}",
        "database_errors": f"DatabaseErrors {where}",
    }


def test_fewer_requests_than_the_minimum_leave_the_rate_unknown(sandbox_stack):
    namespace = f"Skillancer/Quiet-{uuid.uuid4().hex[:8]}"
    dimensions = [{"Name": "Environment", "Value": "production"}, {"Name": "Service", "Value": "market-svc"}]
    names = ["RequestCount", "HTTPCode_5XX_Count", "ResponseTime", "CPUUtilization", "MemoryUtilization"]
    written = datetime.now(UTC) - timedelta(seconds=10)  # within the window, not in its last second
    build_aws_clients(sandbox_stack.config).cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": 0.0, "Timestamp": written}
            for name in [*names, "DatabaseErrors"]
        ],
    )

    seen = figures(sandbox_stack, namespace)

    assert sandbox_stack.config.thresholds.min_requests == 1
    assert seen.no_data == {
        "requests": f"RequestCount in {namespace} {{Environment=production, Service=market-svc}} over 5m: "
        "0 requests, fewer than the 1 a 5xx rate needs"
    }
