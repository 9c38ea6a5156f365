"""`make up` starts the gateway like the stack's other parts, `make status` lists it and `make down`
stops it: in a state directory of its own, on a free port (tests/badinput/test_stack_ownership.py's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.badinput.test_stack_ownership import stack, state  # noqa: F401 (the fixture)
from tests.support import PROJECT

START_GATEWAY = (
    "import os; from runbook.config import load_config; from starter.stack import parts, start; "
    "config = load_config(); start(next(part for part in parts(config) if part.name == 'gateway'), config, os.environ)"
)


def test_up_starts_the_gateway_status_lists_it_and_down_stops_it(state):  # noqa: F811
    folder, env = state
    started = subprocess.run(
        [sys.executable, "-c", START_GATEWAY], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stdout + started.stderr
    pid = int((folder / "gateway.pid").read_text())
    try:
        assert f"gateway: started (pid {pid}): gateway at http://127.0.0.1:" in started.stdout
        port = started.stdout.split("http://127.0.0.1:", 1)[1].split(",", 1)[0]
        assert httpx.post(f"http://127.0.0.1:{port}/slack/interactivity").status_code == 401
        assert f"gateway: running (pid {pid})" in stack(env, "status").stdout
        assert "gateway at http://127.0.0.1:" in (folder / "gateway.log").read_text()
        done = stack(env, "down")
        assert done.returncode == 0, done.stderr
        assert f"gateway: stopped (pid {pid})" in done.stdout and not Path(f"/proc/{pid}").exists()
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
