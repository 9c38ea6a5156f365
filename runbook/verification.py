"""Post-Deployment Verification as policy: which findings fail a verification, and why."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from runbook import limits
from runbook.base import Model
from runbook.models import HealthReport, LogMatches, MetricsReport, Payload, ServiceMetrics

HEALTHY_INTEGRATION_STATES = {"up", "ok", "healthy", "connected"}
# The ServiceMetrics fields the 5xx rate is computed from.
_ERROR_RATE_FIGURES = ("requests", "errors_5xx")


class ItemState(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class ChecklistItem(Model):
    name: str
    state: ItemState = ItemState.PENDING
    by: str = ""
    at: datetime | None = None
    note: str = ""


class CheckPayload(Payload):
    """The `check` signal: `{"item": "user-can-log-in", "user": "alice", "passed": true, "note": "..."}`."""

    person_field = "user"
    item: str = Field(min_length=1, max_length=limits.CHECKLIST_ITEM)
    user: str = Field(min_length=1, max_length=limits.USER)
    passed: bool = True
    note: str = Field("", max_length=limits.NOTE)


class VerificationRequest(Model):
    environment: str
    full: bool = False
    manual: bool = False
    requested_by: str
    services: list[str]
    checklist: list[str]
    reminder_every: timedelta
    deadline: timedelta
    window: timedelta
    error_rate_percent: float
    channel: str
    # A deployment's verification: only what happened since its change went live is judged, once
    # that window spans one CloudWatch period. None: the last `window`, at once.
    since: datetime | None = None
    metrics_period: timedelta = timedelta(0)


class VerificationResult(Model):
    passed: bool
    reasons: list[str]
    health: HealthReport | None = None
    metrics: MetricsReport | None = None
    log_timeouts: LogMatches | None = None
    checklist: list[ChecklistItem] = Field(default_factory=list)


def automated_check_reasons(report: HealthReport) -> list[str]:
    return [f"{check.name}: {check.reason}" for check in report.failures if not check.over_budget]


def performance_reasons(report: HealthReport) -> list[str]:
    return [f"{check.name}: {check.reason}" for check in report.failures if check.over_budget]


def integration_reasons(report: HealthReport) -> list[str]:
    return [
        f"{name} is {state}"
        for name, state in sorted(report.integrations.items())
        if state.lower() not in HEALTHY_INTEGRATION_STATES
    ]


def error_rate_reasons(metrics: MetricsReport, limit_percent: float) -> list[str]:
    """A rate above the limit fails, and so does one that could not be computed: unknown is not 0%."""
    reasons = []
    for service in metrics.services:
        unknown = _unknown_rate_reasons(service)
        if unknown:
            reasons += unknown
        elif service.error_rate_percent > limit_percent:
            reasons.append(
                f"{service.service}: 5xx {service.error_rate_percent:.1f}% of {service.requests:.0f} requests"
                f" > {limit_percent:g}%"
            )
    return reasons


def _unknown_rate_reasons(service: ServiceMetrics) -> list[str]:
    unknown = [service.no_data[field] for field in _ERROR_RATE_FIGURES if field in service.no_data]
    return [f"{service.service}: 5xx rate unknown, no data: {why}" for why in unknown]


def failed_on_no_data_alone(result: VerificationResult) -> bool:
    """Failed, and only because figures could not be observed: the decision matrix's No data row,
    which never rolls back by itself."""
    if result.passed or result.metrics is None:
        return False
    unknown = {reason for service in result.metrics.services for reason in _unknown_rate_reasons(service)}
    return set(result.reasons) <= unknown


def timeout_reasons(matches: LogMatches) -> list[str]:
    return [f"{service}: {count} timeout errors in logs" for service, count in sorted(matches.counts.items()) if count]


def checklist_reasons(items: list[ChecklistItem]) -> list[str]:
    return [
        f"checklist {item.name}: {item.note or 'failed'} ({item.by})"
        for item in items
        if item.state == ItemState.FAILED
    ]
