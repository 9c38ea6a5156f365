"""collect_metrics against the sandbox's moto: a figure without datapoints, or a 5xx rate over too
few requests, is "no data" with its metric, dimensions and window, never a zero taken for healthy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activities.aws import build_aws_clients
from activities.cloudwatch import collect_metrics, search_logs
from runbook.models import LogSearchRequest, MetricsRequest, ServiceMetrics

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


def test_a_window_since_a_change_went_live_leaves_out_what_came_before(sandbox_stack):
    """The issue's case: timeout errors logged a minute before the version went live are not its own."""
    config, aws = sandbox_stack.config, build_aws_clients(sandbox_stack.config)
    service = f"probe-{uuid.uuid4().hex[:8]}"
    group = f"{config.environment('production').log_group_prefix}{service}"
    aws.logs.create_log_group(logGroupName=group)
    aws.logs.create_log_stream(logGroupName=group, logStreamName="app")
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    aws.logs.put_log_events(
        logGroupName=group,
        logStreamName="app",
        logEvents=[{"timestamp": int(a_minute_ago.timestamp() * 1000), "message": "ERROR upstream request timeout"}],
    )
    went_live = a_minute_ago + timedelta(seconds=30)

    def timeouts(since: datetime | None) -> int:
        request = LogSearchRequest(
            environment="production", services=[service], word="timeout", window=WINDOW, since=since
        )
        return search_logs(aws.logs, config, request).counts[service]

    assert timeouts(None) == 1
    assert timeouts(went_live) == 0
    # A since ahead of this clock (another host's, a test's skipped time) cuts nothing.
    assert timeouts(datetime.now(UTC) + timedelta(hours=1)) == 1


def test_metrics_since_a_change_span_only_the_time_since(healthy_fleet):
    went_live = datetime.now(UTC) - timedelta(seconds=30)
    request = MetricsRequest(environment="production", services=["market-svc"], window=WINDOW, since=went_live)

    report = collect_metrics(build_aws_clients(healthy_fleet.config).cloudwatch, healthy_fleet.config, request)

    assert timedelta(seconds=30) <= report.window < timedelta(seconds=40)
    assert report.services[0].no_data == {}
