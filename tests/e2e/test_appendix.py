"""The Appendix's useful commands as `runbook ecs`, `runbook logs` and `runbook redeploy`, typed as a
user types them, against the sandbox."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid

from activities.aws import build_aws_clients
from activities.lock import acquire_environment, release_environment
from runbook.models import LockRelease, LockRequest
from runbook.temporal import connect
from sandbox.aws import APP_STREAM
from tests.support import PROJECT


def write_lines(stack, environment: str, service: str, messages: list[str]) -> None:
    group = f"{stack.config.environment(environment).log_group_prefix}{service}"
    now_ms = int(time.time() * 1000)
    build_aws_clients(stack.config).logs.put_log_events(
        logGroupName=group,
        logStreamName=APP_STREAM,
        logEvents=[{"timestamp": now_ms, "message": message} for message in messages],
    )


def test_ecs_shows_the_deployments_their_revisions_rollout_states_and_task_counts(sandbox_stack):
    running = sandbox_stack.running("production", "api-gateway")
    done = sandbox_stack.cli("ecs", "production", "api-gateway", "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert (view["cluster"], view["service"], view["status"]) == ("skillancer-prod", "api-gateway", "ACTIVE")
    assert view["revision"]["arn"] == running.task_definition
    assert view["revision"]["version"] == running.version
    primary = next(d for d in view["deployments"] if d["status"] == "PRIMARY")
    assert primary["revision"]["arn"] == running.task_definition
    assert primary["rollout_state"] == "COMPLETED"
    assert primary["running"] == primary["desired"] == view["desired"] == running.desired

    text = sandbox_stack.cli("ecs", "production", "api-gateway")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("api-gateway in production (skillancer-prod): ACTIVE, ")
    family, revision = primary["revision"]["family"], primary["revision"]["revision"]
    assert lines[1] == f"task definition: {family}:{revision} ({running.version})"
    assert any(line.startswith(f"  PRIMARY  {primary['id']}  {family}:{revision}") for line in lines)


def test_logs_shows_the_lines_since_and_filters_them_by_their_text(sandbox_stack):
    marker = uuid.uuid4().hex[:8]
    served, timed_out = f"INFO GET /health 200 {marker}", f"ERROR upstream timeout after 5000ms {marker}"
    write_lines(sandbox_stack, "staging", "payment-svc", [served, timed_out])

    everything = sandbox_stack.cli("logs", "staging", "payment-svc", "--since", "5m", "--json")
    assert everything.returncode == 0, everything.stderr
    tail = json.loads(everything.stdout)
    assert tail["log_group"] == "/ecs/skillancer-staging-payment-svc"
    mine = [event["message"] for event in tail["events"] if marker in event["message"]]
    assert mine == [served, timed_out]
    assert all(event["stream"] for event in tail["events"])

    # Words and spaces: a filter pattern moto would match to every line; matched by the CLI instead.
    phrase = f"upstream timeout after 5000ms {marker}"
    filtered = sandbox_stack.cli("logs", "staging", "payment-svc", "--filter", phrase)
    assert filtered.returncode == 0, filtered.stderr
    assert len(filtered.stdout.splitlines()) == 1
    assert filtered.stdout.rstrip().endswith(f" {APP_STREAM} {timed_out}")

    nothing = sandbox_stack.cli("logs", "staging", "payment-svc", "--since", "1m", "--filter", f"no-such-{marker}")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == (
        f"no lines in /ecs/skillancer-staging-payment-svc in the last 1m containing 'no-such-{marker}'\n"
    )


def test_logs_follow_prints_new_lines_until_interrupted(sandbox_stack):
    marker = uuid.uuid4().hex[:8]
    follower = subprocess.Popen(
        [sys.executable, "-m", "starter", "logs", "staging", "notification-svc", "--since", "5m", "--follow", "--json"],
        cwd=PROJECT,
        env=sandbox_stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        for number in range(3):
            write_lines(sandbox_stack, "staging", "notification-svc", [f"INFO sent {number} {marker}"])
            while f"INFO sent {number} {marker}" not in seen:
                assert time.monotonic() < deadline, f"not followed: {seen}"
                assert follower.stdout is not None
                seen.append(json.loads(follower.stdout.readline())["message"])
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    seen += [json.loads(line)["message"] for line in out.splitlines()]
    mine = [message for message in seen if marker in message]
    assert mine == [f"INFO sent {number} {marker}" for number in range(3)]  # each once, in order
    assert follower.returncode == 130, err


def test_redeploy_rolls_out_the_current_revision_anew(e2e_stack):
    before = e2e_stack.running("staging", "auth-svc")
    done = e2e_stack.cli("redeploy", "staging", "auth-svc", "--reason", "pick up the new TLS certificate")
    assert done.returncode == 0, done.stdout + done.stderr
    workflow_id, ui, summary, outcome = done.stdout.splitlines()
    assert workflow_id.startswith("redeploy-staging-auth-svc-") and ui.startswith("UI: ")
    view = json.loads(e2e_stack.cli("ecs", "staging", "auth-svc", "--json").stdout)
    primary = next(d for d in view["deployments"] if d["status"] == "PRIMARY")
    assert (
        summary == f"  auth-svc: {before.version} (rev {primary['revision']['revision']}), deployment {primary['id']}"
    )
    assert outcome == "redeploy COMPLETED"
    assert e2e_stack.running("staging", "auth-svc") == before
    status = json.loads(e2e_stack.cli("status", workflow_id, "--json").stdout)
    assert (status["kind"], status["state"], status["requested_by"]) == ("redeploy", "COMPLETED", "tester")
    listed = json.loads(e2e_stack.cli("list", "--kind", "redeploy", "--json").stdout)
    assert workflow_id in [row["id"] for row in listed]

    again = e2e_stack.cli("redeploy", "staging", "auth-svc", "--reason", "once more", "--json")
    assert again.returncode == 0, again.stdout + again.stderr  # the first released the lock
    result = json.loads(again.stdout)
    assert (result["state"], result["version"]) == ("COMPLETED", before.version)
    assert result["deployment_id"] != primary["id"]


def test_redeploy_is_refused_naming_what_holds_the_environment(e2e_stack):
    held = e2e_stack.cli("verify", "production", "--manual", "--json")  # a running procedure to hold the lock
    holder = json.loads(held.stdout)["id"]
    lock = LockRequest(environment="production", holder_id=holder, kind="deployment")

    async def take() -> None:
        client = await connect(e2e_stack.config)
        assert (await acquire_environment(client, e2e_stack.config.temporal.task_queue, lock)).granted

    async def give_back() -> None:
        client = await connect(e2e_stack.config)
        await release_environment(client, LockRelease(environment="production", holder_id=holder))
        await client.get_workflow_handle(holder).terminate("test over")

    asyncio.run(take())
    try:
        before = e2e_stack.running("production", "market-svc")
        done = e2e_stack.cli("redeploy", "production", "market-svc", "--reason", "r")
    finally:
        asyncio.run(give_back())
    assert done.returncode == 2
    assert done.stderr == (
        f"runbook: error: production is being changed by {holder} (deployment); wait for it or cancel it\n"
    )
    assert done.stdout == ""
    assert e2e_stack.running("production", "market-svc") == before
