"""CloudWatch metrics and Logs: the error rate, latency and saturation behind verification and the
decision matrix. Only Sum/Average/Maximum statistics and plain-word filters: what moto answers
truthfully, and all the runbook needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.aws import AwsClients
from runbook.appendix import LogEvent, LogQuery, LogTail
from runbook.config import RunbookConfig
from runbook.durations import format_duration
from runbook.models import LogMatches, LogSearchRequest, MetricsReport, MetricsRequest, ServiceMetrics

# metric name → (statistic, ServiceMetrics field)
_METRICS = {
    "RequestCount": ("Sum", "requests"),
    "HTTPCode_5XX_Count": ("Sum", "errors_5xx"),
    # The worst interval's average: a slowdown that began a minute ago must not vanish in a
    # five-minute mean.
    "ResponseTime": ("Maximum", "avg_response_ms"),
    "CPUUtilization": ("Maximum", "cpu_percent"),
    "MemoryUtilization": ("Maximum", "memory_percent"),
    "DatabaseErrors": ("Sum", "database_errors"),
}


def window_start(end: datetime, window: timedelta, since: datetime | None) -> datetime:
    """The last `window` before `end`, cut at `since` when that is later: what happened before a
    change went live is not the change's doing. A `since` not before `end` comes from a clock
    ahead of this one (another host's, or a test's skipped time): it cannot cut anything."""
    start = end - window
    return max(start, since) if since is not None and since < end else start


def collect_metrics(cloudwatch: Any, config: RunbookConfig, request: MetricsRequest) -> MetricsReport:
    end = datetime.now(UTC)
    start = window_start(end, request.window, request.since)
    return MetricsReport(
        environment=request.environment,
        window=end - start,
        services=[
            _service_metrics(cloudwatch, config, request.environment, service, start, end)
            for service in request.services
        ],
    )


def _service_metrics(
    cloudwatch: Any, config: RunbookConfig, environment: str, service: str, start: datetime, end: datetime
) -> ServiceMetrics:
    namespace = config.aws.metrics_namespace
    dimensions = {"Environment": environment, "Service": service}
    named = ", ".join(f"{name}={value}" for name, value in dimensions.items())

    def where(metric: str) -> str:
        return f"{metric} in {namespace} {{{named}}} over {format_duration(end - start)}"

    figures: dict[str, float] = {}
    no_data: dict[str, str] = {}
    for metric, (statistic, field) in _METRICS.items():
        answer = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
            StartTime=start,
            EndTime=end,
            # One period spanning the window; CloudWatch refuses a period under a second.
            Period=max(1, int((end - start).total_seconds())),
            Statistics=[statistic],
        )
        value = _combine(statistic, answer.get("Datapoints", []))
        if value is None:
            no_data[field] = f"{where(metric)}: no datapoints"
        figures[field] = value or 0.0
    minimum = config.thresholds.min_requests
    if "requests" not in no_data and figures["requests"] < minimum:
        # A 5xx rate over a handful of requests says nothing; over none it would read 0%.
        no_data["requests"] = (
            f"{where('RequestCount')}: {figures['requests']:g} requests, fewer than the {minimum} a 5xx rate needs"
        )
    return ServiceMetrics(service=service, no_data=no_data, **figures)


def search_logs(logs: Any, config: RunbookConfig, request: LogSearchRequest) -> LogMatches:
    prefix = config.environment(request.environment).log_group_prefix
    since_ms = int(window_start(datetime.now(UTC), request.window, request.since).timestamp() * 1000)
    counts: dict[str, int] = {}
    samples: list[str] = []
    for service in request.services:
        events = _matching_events(logs, f"{prefix}{service}", request.word, since_ms)
        counts[service] = len(events)
        samples += [f"{service}: {event['message']}" for event in events[:2]]
    return LogMatches(counts=counts, samples=samples[:10])


def _matching_events(logs: Any, group: str, word: str, since_ms: int) -> list[dict[str, Any]]:
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=word, startTime=since_ms
        )
        return [event for page in pages for event in page.get("events", [])]
    except logs.exceptions.ResourceNotFoundException:
        return []


def log_group(config: RunbookConfig, environment: str, service: str) -> str:
    return f"{config.environment(environment).log_group_prefix}{service}"


def tail_logs(logs: Any, config: RunbookConfig, query: LogQuery) -> LogTail:
    """The service's log lines since `query.start` that contain `query.text`, oldest first."""
    group = log_group(config, query.environment, query.service)
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=round(query.start.timestamp() * 1000)
    )
    try:
        events = [
            LogEvent(
                id=event["eventId"],
                at=datetime.fromtimestamp(event["timestamp"] / 1000, UTC),
                stream=event.get("logStreamName", ""),
                message=event["message"],
            )
            for page in pages
            for event in page.get("events", [])
            if query.text in event["message"]
        ]
    except logs.exceptions.ResourceNotFoundException:
        raise ApplicationError(f"no log group {group} in {config.aws.region}", non_retryable=True) from None
    return LogTail(log_group=group, events=sorted(events, key=lambda event: event.at))


class CloudWatchActivities:
    def __init__(self, aws: AwsClients, config: RunbookConfig) -> None:
        self._cloudwatch = aws.cloudwatch
        self._logs = aws.logs
        self._config = config

    @activity.defn
    def collect_metrics(self, request: MetricsRequest) -> MetricsReport:
        return collect_metrics(self._cloudwatch, self._config, request)

    @activity.defn
    def search_logs(self, request: LogSearchRequest) -> LogMatches:
        return search_logs(self._logs, self._config, request)


def _combine(statistic: str, datapoints: list[dict[str, Any]]) -> float | None:
    values = [point[statistic] for point in datapoints if statistic in point]
    if not values:
        return None
    if statistic == "Sum":
        return float(sum(values))
    if statistic == "Maximum":
        return float(max(values))
    return float(sum(values) / len(values))
