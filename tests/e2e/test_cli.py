"""The CLI as a user types it, as a subprocess, against the started stack."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def healthy_fleet(sandbox_stack):
    sandbox_stack.clear_faults()
    yield
    sandbox_stack.clear_faults()


def test_health_check_of_a_healthy_environment(sandbox_stack):
    done = sandbox_stack.cli("health-check", "staging", "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("staging: HEALTHY (22 checks in ")
    assert "dashboard" in done.stdout and "circuits" in done.stdout and "auth-status" in done.stdout


def test_health_check_names_each_failing_check_and_why(sandbox_stack):
    sandbox_stack.fault("production", "market-svc", "down")
    sandbox_stack.fault("production", "payment-svc", "slow", delay_s=1.0)
    done = sandbox_stack.cli("health-check", "production", "--full", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    failing = {check["name"]: check["reason"] for check in report["checks"] if check["verdict"] == "fail"}
    assert failing["market-svc liveness"].startswith("HTTP 503")
    assert failing["payment-svc api"].startswith("slow: ")
    assert all(check["url"].startswith("http://127.0.0.1:") for check in report["checks"])


def test_health_check_script_as_the_runbook_shows_it(sandbox_stack):
    import subprocess

    from runbook.config import DEFAULT_CONFIG_PATH

    done = subprocess.run(
        ["bash", str(DEFAULT_CONFIG_PATH.parent / "scripts" / "health-check.sh"), "production"], env=sandbox_stack.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "production: HEALTHY (13 checks" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["health-check", "prod"], "runbook: error: unknown environment 'prod'; known: staging, production"),
        (["sandbox", "fault", "staging", "billing", "5xx"], "runbook: error: unknown service 'billing'; known: api-gateway"),
        (["sandbox", "fault", "staging", "auth-svc", "melt"], "invalid choice: 'melt'"),
        (["sandbox", "fault", "staging", "auth-svc", "slow", "--delay", "soon"], "bad duration 'soon'"),
        (["status", "verify-does-not-exist"], "no procedure with ID 'verify-does-not-exist'"),
    ],
)
def test_bad_input_is_one_line_exit_2(sandbox_stack, args, message):
    done = sandbox_stack.cli(*args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


def test_a_fault_is_seen_by_health_checks_and_cleared(sandbox_stack):
    assert sandbox_stack.cli("sandbox", "fault", "staging", "auth-svc", "5xx").returncode == 0
    broken = sandbox_stack.cli("health-check", "staging", "--full", "--json")
    assert broken.returncode == 1
    assert sandbox_stack.cli("sandbox", "fault", "staging", "auth-svc", "clear").returncode == 0
    assert sandbox_stack.cli("health-check", "staging", "--full").returncode == 0
