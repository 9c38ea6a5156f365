"""The CLI as a user types it, as a subprocess, against the started stack."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import temporal_binary
from tests.support import PROJECT


def test_health_check_of_a_healthy_environment(sandbox_stack):
    done = sandbox_stack.cli("health-check", "staging", "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("staging: HEALTHY (22 checks in ")
    assert "dashboard" in done.stdout and "circuits" in done.stdout and "auth-status" in done.stdout


def test_health_check_names_each_failing_check_and_why(sandbox_stack):
    sandbox_stack.fault("production", "market-svc", "down")
    sandbox_stack.fault("production", "payment-svc", "slow", delay_s=2.0)
    done = sandbox_stack.cli("health-check", "production", "--full", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    failing = {check["name"]: check["reason"] for check in report["checks"] if check["verdict"] == "fail"}
    assert failing["market-svc liveness"].startswith("HTTP 503")
    assert failing["payment-svc api"].startswith("slow: ")
    assert all(check["url"].startswith("http://127.0.0.1:") for check in report["checks"])


def test_health_check_script_as_the_runbook_shows_it(sandbox_stack):
    done = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "health-check.sh"), "production"],
        env=sandbox_stack.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "production: HEALTHY (13 checks" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["health-check", "prod"], "runbook: error: unknown environment 'prod'; known: staging, production"),
        (
            ["sandbox", "fault", "staging", "billing", "5xx"],
            "runbook: error: unknown service 'billing'; known: api-gateway",
        ),
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
    sandbox_stack.taint("staging", "auth-svc")
    broken = sandbox_stack.cli("health-check", "staging", "--full", "--json")
    assert broken.returncode == 1
    assert sandbox_stack.cli("sandbox", "fault", "staging", "auth-svc", "clear").returncode == 0
    assert sandbox_stack.cli("health-check", "staging", "--full").returncode == 0


def test_verify_runs_the_workflow_and_reports_each_check(e2e_stack):
    done = e2e_stack.cli("verify", "staging", "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    workflow_id = done.stdout.splitlines()[0]
    assert workflow_id.startswith("verify-staging-")
    status = json.loads(e2e_stack.cli("status", workflow_id, "--json").stdout)
    assert {"id", "kind", "state", "step", "steps", "timeline"} <= set(status)
    assert (status["kind"], status["state"]) == ("verification", "COMPLETED")
    assert [step["state"] for step in status["steps"]] == ["passed"] * 5 + ["skipped"]


def test_verify_fails_naming_the_5xx_service(e2e_stack):
    e2e_stack.fault("staging", "market-svc", "5xx")
    # Verification reads the error rate from CloudWatch: once a datapoint with the fault is there.
    e2e_stack.wait_for_figures("staging", "market-svc", "5xx")
    done = e2e_stack.cli("verify", "staging", "--json")
    assert done.returncode == 1
    reasons = json.loads(done.stdout)["reasons"]
    assert any(reason.startswith("market-svc: 5xx ") for reason in reasons)
    assert any("market-svc api" in reason or "market-svc" in reason for reason in reasons)


def test_the_manual_checklist_from_the_command_line(e2e_stack):
    started = e2e_stack.cli("verify", "production", "--manual")
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.splitlines()[0]
    refused = e2e_stack.cli("check", workflow_id, "teleport")
    assert refused.returncode == 2
    assert "unknown checklist item 'teleport'; known: user-can-log-in" in refused.stderr
    first, *others, last = e2e_stack.config.verification.checklist
    assert e2e_stack.cli("check", workflow_id, first, "--as", "bob").returncode == 0
    for item in others:  # as the UI's "Send a Signal" sends them
        signal = [
            "workflow",
            "signal",
            "--address",
            e2e_stack.config.temporal.address,
            "--workflow-id",
            workflow_id,
            "--name",
            "check",
        ]
        subprocess.run(
            [temporal_binary(), *signal, "--input", json.dumps({"item": item, "user": "carol"})],
            check=True,
            capture_output=True,
        )
    failed = e2e_stack.cli("check", workflow_id, "notifications-are-delivered", "--fail", "--note", "no email")
    assert failed.returncode == 0 and "accepted" in failed.stdout
    final = e2e_stack.cli("status", workflow_id, "--follow")
    assert final.returncode == 1
    assert "FAILED" in final.stdout and "checklist notifications-are-delivered: no email (tester)" in final.stdout
    assert "check refused" in final.stdout
