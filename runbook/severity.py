"""Incident severity policy (RUNBOOK.md, Incident Response → Severity Levels), pure.

| Level | Description                      | Response Time     |
| P1    | Service down, all users affected | Immediate         |
| P2    | Major feature broken             | 15 minutes        |
| P3    | Minor feature broken             | 1 hour            |
| P4    | Cosmetic issue                   | Next business day |

The response time is the time to acknowledgement. "Immediate" is the P1 procedure's "Alert (0-5
minutes)"; the windows themselves come from runbook.toml ([incidents] respond_within), and a level
without a window there is answered by the close of the next business day in the configured zone.

Workflows import this module passed through the sandbox, where zoneinfo would otherwise be
unavailable; the answers depend only on the arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo

from runbook.durations import format_duration

if TYPE_CHECKING:
    from runbook.config import IncidentsConfig


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


DESCRIPTIONS = {
    Severity.P1: "Service down, all users affected",
    Severity.P2: "Major feature broken",
    Severity.P3: "Minor feature broken",
    Severity.P4: "Cosmetic issue",
}

# How each level reads to the outside systems: PagerDuty Events v2 severities, Statuspage impacts.
PagerSeverity = Literal["critical", "error", "warning", "info"]
StatusPageImpact = Literal["critical", "major", "minor", "none"]
PAGER_SEVERITY: dict[Severity, PagerSeverity] = {
    Severity.P1: "critical",
    Severity.P2: "error",
    Severity.P3: "warning",
    Severity.P4: "info",
}
STATUSPAGE_IMPACT: dict[Severity, StatusPageImpact] = {
    Severity.P1: "critical",
    Severity.P2: "major",
    Severity.P3: "minor",
    Severity.P4: "none",
}
# Statuspage's component statuses: an open incident marks its services' components by severity,
# a resolved one marks them operational again.
ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
COMPONENT_STATUS: dict[Severity, ComponentStatus] = {
    Severity.P1: "major_outage",
    Severity.P2: "partial_outage",
    Severity.P3: "degraded_performance",
    Severity.P4: "degraded_performance",
}

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)


def respond_by(
    severity: Severity, since: datetime, policy: IncidentsConfig, override: timedelta | None = None
) -> datetime:
    """When acknowledgement is due, counted from `since`: the declaration, or the last escalation."""
    window = override if override is not None else policy.respond_within.get(severity)
    if window is not None:
        return since + window
    return close_of_next_business_day(since, policy)


def close_of_next_business_day(moment: datetime, policy: IncidentsConfig) -> datetime:
    """The close of the first business day that opens after `moment`, in UTC.

    Friday evening → Monday's close; a weekday before opening time → that same day's close."""
    zone = ZoneInfo(policy.timezone)
    opening, closing = policy.business_hours
    day = moment.astimezone(zone).date()
    while True:
        opens = datetime.combine(day, opening, tzinfo=zone)
        if WEEKDAYS[day.weekday()] in policy.business_days and opens > moment:
            return datetime.combine(day, closing, tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)


def response_window_text(severity: Severity, policy: IncidentsConfig, override: timedelta | None = None) -> str:
    window = override if override is not None else policy.respond_within.get(severity)
    return format_duration(window) if window is not None else "next business day"


def opens_war_room(severity: Severity, policy: IncidentsConfig) -> bool:
    """War room, status page, assessment and regular updates: the P1 procedure, for these levels."""
    return severity in policy.war_room_severities


def update_interval(severity: Severity, policy: IncidentsConfig, override: timedelta | None = None) -> timedelta | None:
    if not opens_war_room(severity, policy):
        return None
    return override if override is not None else policy.update_every


def escalation_target(level: int, policy: IncidentsConfig) -> str | None:
    """Who is called at escalation `level` (0 = the first after the on-call), or None past the list."""
    return policy.escalation[level] if level < len(policy.escalation) else None


def local_time(moment: datetime, policy: IncidentsConfig) -> datetime:
    return moment.astimezone(ZoneInfo(policy.timezone))
