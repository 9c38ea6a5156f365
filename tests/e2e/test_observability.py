"""What the worker of `make up` shows operators: Prometheus metrics on its metrics address and
JSON log lines that name the workflow and activity they come from."""

from __future__ import annotations

import json

import httpx

from tests.support import wait_for


def metric_names(text: str) -> set[str]:
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_metrics_and_json_logs_of_a_verification(e2e_stack):
    done = e2e_stack.cli("verify", "staging")
    assert done.returncode == 0, done.stdout + done.stderr
    workflow_id = done.stdout.splitlines()[0]

    url = f"http://{e2e_stack.config.observability.metrics_address}/metrics"
    names = wait_for(
        lambda: metric_names(httpx.get(url, timeout=5).text),
        f"temporal_workflow_completed at {url}",
        10,
        accept=lambda names: "temporal_workflow_completed" in names,
    )
    assert {"temporal_workflow_task_execution_latency_bucket", "temporal_activity_execution_latency_bucket"} <= names

    lines = e2e_stack.worker_log.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    ours = [entry for entry in entries if entry.get("workflow_id") == workflow_id]
    steps = [entry for entry in ours if "activity_id" not in entry]
    assert steps and all(entry["workflow_type"] == "Verification" and entry["run_id"] for entry in steps)
    assert any(entry["message"].startswith("step ") and entry["message"].endswith(" started") for entry in steps)
    assert any(entry["message"] == "verification finished COMPLETED" for entry in steps)
    health = [entry for entry in ours if entry.get("activity_type") == "check_health"]
    assert health and health[0]["message"].startswith("staging: healthy (") and health[0]["activity_id"]
