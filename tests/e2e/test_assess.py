"""Each `sandbox fault` mode, seen through `runbook assess`, gives the decision matrix's row for it.

The fleet is healed after each case, and CloudWatch's short test window forgets the fault.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

CASES = [
    # environment, services assessed, fault (service, mode, delay), expected action per service, rule
    ("production", "market-svc", ("market-svc", "5xx", None), {"market-svc": "rollback_now"}, "5xx errors > 1%"),
    (
        "staging",
        "payment-svc",
        ("payment-svc", "slow", 6.0),
        {"payment-svc": "investigate_propose_rollback"},
        "Response time > 5s",
    ),
    ("staging", "market-svc", ("market-svc", "db", None), {"market-svc": "do_not_rollback_alert"}, "Database errors"),
    ("production", "auth-svc", ("auth-svc", "cpu", None), {"auth-svc": "scale_up"}, "Memory/CPU spike"),
    (
        "production",
        "notification-svc,api-gateway",
        ("notification-svc", "down", None),
        {"notification-svc": "rollback_service", "api-gateway": "none"},
        "Single service failing",
    ),
    ("production", "payment-svc", ("payment-svc", "clear", None), {"payment-svc": "none"}, "No symptom"),
]


@pytest.mark.parametrize(
    ("environment", "services", "fault", "expected", "rule"), CASES, ids=[case[2][1] for case in CASES]
)
def test_each_fault_mode_gives_its_matrix_row(sandbox_stack, environment, services, fault, expected, rule):
    service, mode, delay_s = fault
    sandbox_stack.fault(environment, service, mode, delay_s)
    sandbox_stack.wait_for_figures(environment, service, mode)  # what assess reads: CloudWatch's window
    done = sandbox_stack.cli("assess", environment, "--services", services, "--json")
    assert done.returncode == 0, done.stderr
    decisions = {d["service"]: d for d in json.loads(done.stdout)["decisions"]}
    assert {name: d["action"] for name, d in decisions.items()} == expected
    assert decisions[service]["rule"] == rule
    assert decisions[service]["evidence"]


def test_assess_prints_a_readable_line_per_service_and_takes_no_action(sandbox_stack):
    done = sandbox_stack.cli("assess", "production")
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(sandbox_stack.config.services.names) + 1
    assert lines[-1].endswith("no action taken")


def test_a_namespace_without_data_is_no_data_for_every_service_and_exits_1(sandbox_stack, tmp_path):
    """A typo in metrics_namespace: nothing in CloudWatch, which is no data, never "no symptom"."""
    typo = tmp_path / "runbook.toml"
    text = sandbox_stack.config_path.read_text()
    typo.write_text(text.replace('metrics_namespace = "Skillancer"', 'metrics_namespace = "Skilancer"'))
    stack = dataclasses.replace(sandbox_stack, config_path=typo, env={**sandbox_stack.env, "RUNBOOK_CONFIG": str(typo)})

    done = stack.cli("assess", "production", "--services", "market-svc,auth-svc")

    assert done.returncode == 1, done.stderr
    *rows, last = done.stdout.strip().splitlines()
    for row, service in zip(rows, ["market-svc", "auth-svc"], strict=True):
        assert row.split()[:4] == [service, "no_data_alert_and_ask", "No", "data"]
        assert f"RequestCount in Skilancer {{Environment=production, Service={service}}} over 2s: no datapoints" in row
    assert last == "production: worst action no_data_alert_and_ask; no action taken"
