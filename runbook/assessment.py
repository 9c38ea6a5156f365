"""From live figures to the decision matrix's input: one snapshot per service."""

from __future__ import annotations

from runbook.config import ThresholdsConfig
from runbook.decision import Assessment, ServiceSnapshot, decide
from runbook.models import HealthReport, MetricsReport

# Readiness fails when a dependency such as the database is down; that is the database's
# symptom, not the service's, so only liveness and API status decide whether a service is failing.
# A slow answer, or none within the timeout, is the response-time rule's business (CloudWatch
# sees the slow answers; a load balancer logs a frozen service's as 5xx), not a failure.
_FAILING_CHECKS = ("liveness", "api")


def assess(metrics: MetricsReport, health: dict[str, HealthReport], thresholds: ThresholdsConfig) -> Assessment:
    """The decision matrix applied to live figures: what deployment monitoring, an incident's
    assessment and `runbook assess` all ask."""
    return decide(snapshots(metrics, health), thresholds)


def snapshots(metrics: MetricsReport, health: dict[str, HealthReport]) -> list[ServiceSnapshot]:
    return [
        ServiceSnapshot(
            service=figures.service,
            requests=figures.requests,
            errors_5xx=figures.errors_5xx,
            avg_response_ms=figures.avg_response_ms,
            database_errors=figures.database_errors > 0,
            cpu_percent=figures.cpu_percent,
            memory_percent=figures.memory_percent,
            healthy=_healthy(health.get(figures.service)),
            no_data=figures.no_data,
        )
        for figures in metrics.services
    ]


def _healthy(report: HealthReport | None) -> bool:
    if report is None:
        return True
    return not any(check.name.endswith(_FAILING_CHECKS) and not check.too_slow for check in report.failures)
