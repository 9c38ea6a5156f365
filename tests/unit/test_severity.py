"""The severity policy: response times, the next business day in London, escalation, obligations."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from runbook.config import ConfigError, IncidentsConfig, load_config, parse_config
from runbook.severity import (
    Severity,
    close_of_next_business_day,
    escalation_target,
    opens_war_room,
    respond_by,
    response_window_text,
    update_interval,
)
from tests.support import SANDBOX_CONFIG

POLICY = load_config(SANDBOX_CONFIG).incidents


def london(text: str) -> datetime:
    """A wall-clock time in Europe/London, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


@pytest.mark.parametrize(
    ("severity", "window"),
    [(Severity.P1, timedelta(minutes=5)), (Severity.P2, timedelta(minutes=15)), (Severity.P3, timedelta(hours=1))],
)
def test_timed_severities_are_due_their_window_after_the_declaration(severity, window):
    declared = london("2026-11-26T03:10")
    assert respond_by(severity, declared, POLICY) == declared + window


@pytest.mark.parametrize(
    ("declared", "due"),
    [
        ("2026-11-27T19:30", "2026-11-30T18:00"),  # Friday evening → Monday's close
        ("2026-11-28T11:00", "2026-11-30T18:00"),  # Saturday
        ("2026-11-30T08:15", "2026-11-30T18:00"),  # Monday before opening: that same day
        ("2026-11-30T09:00", "2026-12-01T18:00"),  # Monday at opening: the day has begun
        ("2026-11-26T14:00", "2026-11-27T18:00"),  # Thursday afternoon → Friday
        ("2027-03-26T20:00", "2027-03-29T18:00"),  # across the clocks going forward (BST)
    ],
)
def test_p4_is_due_by_the_close_of_the_next_business_day_in_london(declared, due):
    assert respond_by(Severity.P4, london(declared), POLICY) == london(due)


def test_business_days_hours_and_zone_come_from_the_configuration():
    new_york = POLICY.model_copy(update={"timezone": "America/New_York", "business_days": ["Mon", "Tue", "Wed", "Thu"]})
    # Thursday 22:00 in New York: Friday is no business day there, so Monday.
    thursday_night = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert close_of_next_business_day(thursday_night, new_york) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_a_drill_overrides_any_severity_window():
    declared = london("2026-11-27T19:30")
    assert respond_by(Severity.P4, declared, POLICY, timedelta(minutes=2)) == declared + timedelta(minutes=2)
    assert response_window_text(Severity.P4, POLICY) == "next business day"
    assert response_window_text(Severity.P1, POLICY) == "5m"
    assert response_window_text(Severity.P1, POLICY, timedelta(seconds=30)) == "30s"


def test_the_escalation_list_in_order_then_nobody():
    assert [escalation_target(level, POLICY) for level in range(3)] == ["frank", "grace", None]


def test_p1_opens_a_war_room_with_updates_every_15_minutes_and_p2_when_configured():
    assert opens_war_room(Severity.P1, POLICY) and update_interval(Severity.P1, POLICY) == timedelta(minutes=15)
    assert not opens_war_room(Severity.P2, POLICY) and update_interval(Severity.P2, POLICY) is None
    with_p2 = POLICY.model_copy(update={"war_room_severities": [Severity.P1, Severity.P2]})
    assert opens_war_room(Severity.P2, with_p2) and update_interval(
        Severity.P2, with_p2, timedelta(minutes=1)
    ) == timedelta(minutes=1)
    assert update_interval(Severity.P3, with_p2) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('timezone = "Europe/London"', 'timezone = "Europe/Atlantis"'), "unknown time zone 'Europe/Atlantis'"),
        (
            ('business_hours = ["09:00", "18:00"]', 'business_hours = ["18:00", "09:00"]'),
            "opening must come before closing",
        ),
        (
            ('business_days = ["Mon", "Tue", "Wed", "Thu", "Fri"]', 'business_days = ["Monday"]'),
            "incidents.business_days.0",
        ),
        (
            ('respond_within = { P1 = "5m", P2 = "15m", P3 = "1h" }', 'respond_within = { P0 = "1m" }'),
            "incidents.respond_within.P0",
        ),
        (('war_room_severities = ["P1"]', 'war_room_severities = ["SEV1"]'), "incidents.war_room_severities.0"),
    ],
)
def test_a_wrong_incident_setting_names_the_key(change, expected):
    text = SANDBOX_CONFIG.read_text()
    assert change[0] in text
    with pytest.raises(ConfigError) as error:
        parse_config(text.replace(*change), "custom.toml")
    assert expected in str(error.value)


def test_the_policy_survives_the_trip_through_temporal():
    assert IncidentsConfig.model_validate(POLICY.model_dump(mode="json")) == POLICY
