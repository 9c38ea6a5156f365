"""Starting and stopping: `python -m sandbox` as the stack script runs it, and busy ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runbook.config import load_config
from sandbox import Sandbox
from tests.support import answers, free_port, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_runs_until_sigterm_and_logs_events_not_requests() -> None:
    fleet_port, aws_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--fleet-port", str(fleet_port), "--aws-port", str(aws_port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: answers(f"http://127.0.0.1:{fleet_port}/_sandbox/health"),
            "the sandbox answering",
            20,
            process=process,
            evidence=lambda: process.communicate()[1] if process.poll() is not None else "",
        )
        assert httpx.get(f"http://127.0.0.1:{fleet_port}/production/health/live").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{aws_port}/moto-api/").status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert f"fleet on http://127.0.0.1:{fleet_port}" in stderr
    assert "sandbox stopped" in stderr
    assert "HTTP/1.1" not in stderr and "HTTP Request" not in stderr


@pytest.mark.parametrize("busy", ["fleet_port", "aws_port"])
def test_a_busy_port_fails_the_start_with_its_number(busy: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"fleet_port": 0, "aws_port": 0, busy: port}
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            Sandbox(load_config(), **ports).start()
