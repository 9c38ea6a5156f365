"""`runbook status ID --follow > file` over a hotfix, as a user keeps a deployment's log: the block
once, then each change once with its time, no terminal escapes, ending with the hotfix. On the way,
the shell completes the running hotfix's ID."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

from tests.support import PROJECT, wait_for
from tests.unit.test_cli_conventions import complete

# A change line: "17:02:11 deploy_production running" (its time, then what changed).
CHANGE = re.compile(r"^\d\d:\d\d:\d\d \S")


def test_status_follow_into_a_file_writes_each_change_once_and_no_escapes(e2e_stack, tmp_path):
    version = f"v8.3.{uuid.uuid4().int % 100000}"
    started = e2e_stack.cli(
        "hotfix", "production", "--version", version, "--services", "notification-svc", "--as", "alice", "--json",
        "--no-checklist", "--reason", "followed in a test",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    hotfix_id = json.loads(started.stdout)["id"]
    log = tmp_path / "follow.log"
    with log.open("w") as sink:
        follower = subprocess.Popen(
            [sys.executable, "-m", "starter", "status", hotfix_id, "--follow"],
            cwd=PROJECT,
            env={**e2e_stack.env, "TERM": "xterm-256color"},
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: "approval running" in log.read_text(), "the hotfix at its approval", 60, process=follower)
            # The shell completes the running hotfix's ID (as bash asks `runbook`: argcomplete's protocol).
            offered, _ = complete("runbook approve hotfix-production-v8.3", tmp_path, e2e_stack.env)
            assert hotfix_id in offered
            approved = e2e_stack.cli("approve", hotfix_id, "--as", "bob", "--comment", "checked the diff")
            assert approved.returncode == 0, approved.stderr
            code = follower.wait(timeout=120)
        finally:
            follower.kill()
    written = log.read_text()
    assert code == 0, follower.stderr.read() if follower.stderr else written
    assert "\x1b" not in written
    lines = written.splitlines()
    assert lines[0].startswith(f"{hotfix_id}  hotfix  RUNNING")
    changes = [line for line in lines if CHANGE.match(line)]
    assert len(changes) == len(set(changes)), written
    assert sum(" approved: checked the diff" in line for line in changes) == 1, written
    assert sum(line.endswith(" approval passed") or " approval passed in " in line for line in changes) == 1
    assert changes[-1].endswith(f"{hotfix_id} COMPLETED"), written
