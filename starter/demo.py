"""`make demo`: the main job on the local stack: a standard deployment of every service.

It stops at the approval gate and shows the ways to approve: Slack's button, the UI's signal and
the CLI; with AUTO_APPROVE=1 a second demo user clicks Approve in the sandbox's Slack (the gateway
verifies Slack's signature and attests the click), the demo user ticks production's key user flows
(the manual checklist), and the deployment runs to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import cache

from runbook.config import load_config
from starter.stack import STATE_DIR, own_temporal_settings

DEMO_USER, DEMO_APPROVER = "demo", "demo-approver"


@cache
def demo_environment() -> dict[str, str]:
    """The demo user's, on the local stack `make demo` started, whatever Temporal the caller's settings name."""
    return {**own_temporal_settings(os.environ, STATE_DIR), "RUNBOOK_USER": DEMO_USER}


def runbook(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    print(f"\n$ runbook {' '.join(args)}", flush=True)
    return subprocess.run(
        [sys.executable, "-m", "starter", *args], env=demo_environment(), text=True, capture_output=capture
    )


def wait_for_step(workflow_id: str, step: str) -> str:
    """The deployment's state once it reaches `step` or ends before it."""
    while True:
        status = json.loads(runbook("status", workflow_id, "--json", capture=True).stdout)
        if status["step"] == step or status["state"] != "RUNNING":
            return status["state"]
        time.sleep(1)


def main() -> int:
    config = load_config()
    version = f"v1.2.0-demo.{datetime.now(UTC):%H%M%S}"
    started = runbook("deploy", "production", "--version", version, "--services", "all", capture=True)
    print(started.stdout + started.stderr, end="")
    if started.returncode != 0:
        return started.returncode
    workflow_id = started.stdout.splitlines()[0]
    print("\nwaiting for prerequisites, staging deployment and staging verification ...", flush=True)
    if wait_for_step(workflow_id, "approval") != "RUNNING":
        return runbook("status", workflow_id).returncode
    if os.environ.get("AUTO_APPROVE") == "1":
        clicked = runbook("sandbox", "slack", "click", workflow_id, "approve", "--as", DEMO_APPROVER)
        if clicked.returncode != 0:
            return clicked.returncode
        print("\nwaiting for production's rollout, monitoring and automated checks ...", flush=True)
        if wait_for_step(workflow_id, "checklist") == "RUNNING":
            for item in config.verification.checklist:
                runbook("check", workflow_id, item, "--as", DEMO_USER, "--note", "ticked by make demo AUTO_APPROVE=1")
        return runbook("status", workflow_id, "--follow").returncode
    print(
        f"\n{workflow_id} waits for approval. Approve it as someone other than {DEMO_USER!r}, any way:\n"
        f"  Slack (the sandbox's): runbook sandbox slack click {workflow_id} approve --as {DEMO_APPROVER}\n"
        f"  UI:  {config.temporal.workflow_link(workflow_id)}\n"
        f'       "Send a Signal": name approve, input {{"approver": "{DEMO_APPROVER}", "comment": "looks good"}}\n'
        f"  CLI: runbook approve {workflow_id} --as {DEMO_APPROVER}\n"
        f"then tick production's key user flows: runbook check {workflow_id} ITEM (items: "
        f"{', '.join(config.verification.checklist)})\n"
        f"and follow it: runbook status {workflow_id} --follow\n"
        f"(make demo AUTO_APPROVE=1 approves and ticks for you)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
