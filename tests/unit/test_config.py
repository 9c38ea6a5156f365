import re
from datetime import timedelta
from pathlib import Path

import pytest

from runbook.config import ConfigError, UnknownName, load_config, parse_config
from runbook.durations import format_duration, parse_duration
from tests.support import PROJECT, SANDBOX_CONFIG


def test_the_shipped_file_describes_the_sandbox():
    config = load_config(SANDBOX_CONFIG)
    assert set(config.environments) == {"staging", "production"}
    assert config.environment("production").cluster == "skillancer-prod"
    assert config.services.names == ["api-gateway", "auth-svc", "market-svc", "payment-svc", "notification-svc"]
    assert config.thresholds.api_latency_ms == 500 and config.thresholds.homepage_latency_ms == 3000
    assert config.verification.reminder_every == timedelta(minutes=15)


def test_the_deployed_file_checks_the_runbooks_endpoints_at_the_runbooks_base_url():
    config = load_config(PROJECT / "deploy" / "runbook.toml")
    assert config.environment("production").base_url == "https://api.skillancer.com"
    script = {"/health/dashboard", "/health/live", "/health/ready", "/health/circuits", "/api/v1/auth/status"}
    assert script <= set(config.health.model_dump().values())
    assert config.environment("production").integrations == ["database", "redis", "externalApis"]


def test_runbook_config_points_to_another_file(tmp_path: Path, monkeypatch):
    other = tmp_path / "other.toml"
    other.write_text(SANDBOX_CONFIG.read_text().replace('deadline = "2h"', 'deadline = "3d"'))
    monkeypatch.setenv("RUNBOOK_CONFIG", str(other))
    assert load_config().verification.deadline == timedelta(days=3)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("api_latency_ms = 500", "api_latency_ms = -1"),
            "thresholds.api_latency_ms: Input should be greater than 0 (got -1)",
        ),
        (('reminder_every = "15m"', 'reminder_every = "15 minutes"'), "verification.reminder_every"),
        (("[approvers]", "[approverz]"), "approverz: Extra inputs are not permitted"),
        (
            ('cluster = "skillancer-prod"', "cluster = 7"),
            "environments.production.cluster: Input should be a valid string (got 7)",
        ),
        (
            ('liveness = "/health/live"', 'liveness = "health/live"'),
            "health.liveness: Value error, a path below base_url: '/' then no spaces or braces"
            " (e.g. /health/live) (got 'health/live')",
        ),
        (
            ('service_api = "/svc/{service}/status"', 'service_api = "/svc/status"'),
            "health.service_api: Value error, a path below base_url with {service} once, no spaces"
            " (e.g. /svc/{service}/health/live) (got '/svc/status')",
        ),
        (
            ('integrations = ["database", "redis", "externalApis"]\n\n[services]', 'integrations = [""]\n\n[services]'),
            "environments.production.integrations.0: String should have at least 1 character (got '')",
        ),
    ],
)
def test_a_wrong_value_names_the_file_the_key_and_the_rule(change, expected):
    text = SANDBOX_CONFIG.read_text().replace(*change)
    with pytest.raises(ConfigError) as error:
        parse_config(text, "custom.toml")
    assert str(error.value).startswith("custom.toml: ")
    assert expected in str(error.value)


def test_broken_toml_and_a_missing_file_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[temporal\n", "broken.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_unknown_names_list_the_known_ones():
    config = load_config(SANDBOX_CONFIG)
    with pytest.raises(UnknownName, match="unknown environment 'prod'; known: staging, production"):
        config.environment("prod")
    with pytest.raises(UnknownName, match="unknown service 'billing'; known: api-gateway, auth-svc"):
        config.check_services(["api-gateway", "billing"])


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800)])
def test_durations_as_people_write_them(text, seconds):
    assert parse_duration(text).total_seconds() == seconds
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["", "5", "1.5h", "5 m", "-1m", "1w"])
def test_bad_durations_say_what_is_allowed(text):
    with pytest.raises(ValueError, match="s, m, h, d"):
        parse_duration(text)


@pytest.mark.parametrize(("current", "target"), [(2, 4), (9, 10), (10, 10), (12, 12)])
def test_scale_up_adds_the_step_up_to_the_cap_and_never_scales_down(current, target):
    assert load_config(SANDBOX_CONFIG).scaling.scale_up_target(current) == target


def test_the_configuration_survives_the_trip_through_temporal():
    from temporalio.contrib.pydantic import pydantic_data_converter

    from runbook.config import RunbookConfig

    config = load_config(SANDBOX_CONFIG)
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([config])
    assert converter.from_payloads([payload], [RunbookConfig])[0] == config


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('"market-svc"', '"market svc; rm -rf /"'),
            "services.names: Value error, bad service name 'market svc; rm -rf /'",
        ),
        (('"payment-svc"', '"Payment_Svc"'), "bad service name 'Payment_Svc'"),
        (
            ("[environments.staging]", '[environments."stag$ing"]'),
            "environments: Value error, bad environment name 'stag$ing'",
        ),
    ],
)
def test_environment_and_service_names_must_be_strict_dns_labels(change, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        parse_config(SANDBOX_CONFIG.read_text().replace(*change), "custom.toml")
