"""The fleet unreachable during a health check: every check fails with its reason, and the answer
comes within the request timeout, never a hang. Nothing may listen (the connection is refused at
once); something may accept connections and never answer (a frozen process or load balancer); or
it may start an answer and never finish it. Only the timeout ends the last two."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import stack_config_text, stack_environment
from tests.support import PROJECT, SANDBOX_CONFIG, free_port, start_worker, stop

REQUEST_TIMEOUT_S = 1.0
# Starting the CLI (Python and its imports: seconds on a loaded machine), on top of the timeout.
# Still short of a hang, and of the 13 s that 13 checks would take one after another.
MARGIN_S = 8.0
TIMED_OUT = f"timeout after {REQUEST_TIMEOUT_S:g} s"
FULL_CHECKS, CHECKS = 22, 13
INTEGRATIONS = ("database", "redis", "externalApis")


class Listener:
    """127.0.0.1, accepting every connection. Silent, it never sends a byte; trickling, it answers
    200 with a long body and sends it a byte at a time, never getting to the end."""

    def __init__(self, trickle: bool = False) -> None:
        self.trickle = trickle
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._accept, name="fault-listener", daemon=True)]

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self._held.append(connection)
            if self.trickle:
                answering = threading.Thread(target=self._trickle, args=(connection,), daemon=True)
                self._threads.append(answering)
                answering.start()

    def _trickle(self, connection: socket.socket) -> None:
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while not self._stopping.wait(0.2):
                connection.sendall(b" ")
        except OSError:
            pass  # the client gave up and closed: what a bounded check does

    def __enter__(self) -> Listener:
        self._threads[0].start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._socket.close()

    @property
    def accepted(self) -> int:
        return len(self._held)


def unreachable(text: str, fleet: str, staging_port: int, production_port: int) -> str:
    """runbook.toml's text with each environment's fleet at the given port, and a short timeout."""
    replacements = {
        f'base_url = "http://{fleet}/staging"': f'base_url = "http://127.0.0.1:{staging_port}/staging"',
        f'base_url = "http://{fleet}/production"': f'base_url = "http://127.0.0.1:{production_port}/production"',
        "request_timeout_s = 5.0": f"request_timeout_s = {REQUEST_TIMEOUT_S}",
    }
    for old, new in replacements.items():
        assert old in text, f"runbook.toml no longer has {old!r}; update this test"
        text = text.replace(old, new)
    return text


def runbook(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """The CLI as a user runs it, and how long the user waited. A hang fails here, not the suite."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "starter", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`runbook {' '.join(args)}` still had not answered after {error.timeout} s")
    return done, time.monotonic() - started


@pytest.fixture(params=["nothing-listens", "never-answers", "never-finishes"])
def fleet(request, tmp_path) -> Iterator[tuple[dict[str, str], str, Listener | None]]:
    """The CLI's environment with production's fleet unreachable in one way, and the reason to expect."""
    path = tmp_path / "runbook.toml"
    if request.param == "nothing-listens":
        # Bound a moment ago and released: nothing listens there.
        path.write_text(unreachable(SANDBOX_CONFIG.read_text(), "127.0.0.1:8080", free_port(), free_port()))
        yield stack_environment(path), "connection refused", None
        return
    with Listener(trickle=request.param == "never-finishes") as listener:
        path.write_text(unreachable(SANDBOX_CONFIG.read_text(), "127.0.0.1:8080", free_port(), listener.port))
        yield stack_environment(path), TIMED_OUT, listener


def test_health_check_of_an_unreachable_fleet_says_why_within_the_timeout(fleet):
    env, reason, listener = fleet
    done, waited = runbook(env, "health-check", "production", "--full", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] is False
    assert len(report["checks"]) == FULL_CHECKS
    assert {(check["verdict"], check["reason"]) for check in report["checks"]} == {("fail", reason)}
    # Every endpoint at once: 22 timeouts one after another would be 22 s.
    assert report["wall_ms"] < (REQUEST_TIMEOUT_S + 1) * 1000, report["wall_ms"]
    assert waited < REQUEST_TIMEOUT_S + MARGIN_S, f"the health check took {waited:.1f} s"
    if listener:
        assert listener.accepted >= FULL_CHECKS  # the wait was for an answer, not for a connection

    shown, waited = runbook(env, "health-check", "production")
    assert shown.returncode == 1
    assert waited < REQUEST_TIMEOUT_S + MARGIN_S, f"the health check took {waited:.1f} s"
    assert shown.stdout.splitlines()[-1].startswith(
        f"production: UNHEALTHY: {CHECKS} failing: liveness ({reason}); readiness ({reason}); "
    ), shown.stdout


def test_the_runbook_script_fails_too(tmp_path):
    path = tmp_path / "runbook.toml"
    path.write_text(unreachable(SANDBOX_CONFIG.read_text(), "127.0.0.1:8080", free_port(), free_port()))
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "health-check.sh"), "staging"],
        env=stack_environment(path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"staging: UNHEALTHY: {CHECKS} failing: liveness (connection refused); " in done.stdout
    assert time.monotonic() - started < REQUEST_TIMEOUT_S + MARGIN_S


@pytest.fixture(scope="module")
def silent_fleet_worker(sandbox_stack, tmp_path_factory) -> Iterator[dict[str, str]]:
    """A worker of its own on the session's server, whose production fleet never answers; AWS is
    the sandbox's, so the error rate and log steps have their figures."""
    fleet_port, aws_port = sandbox_stack.config.sandbox.fleet_port, sandbox_stack.config.sandbox.aws_port
    text = stack_config_text(sandbox_stack.config.temporal.address, f"faults-{uuid.uuid4()}", fleet_port, aws_port)
    folder = tmp_path_factory.mktemp("silent-fleet")
    with Listener() as listener:
        path = folder / "runbook.toml"
        path.write_text(unreachable(text, f"127.0.0.1:{fleet_port}", free_port(), listener.port))
        env = stack_environment(path)
        log = folder / "worker.log"
        worker = start_worker(env, log, timeout=30)
        try:
            yield env
        finally:
            stop(worker)


@pytest.mark.parametrize("full", [False, True], ids=["verify", "verify-full"])
def test_verification_of_a_silent_fleet_fails_within_the_timeout(silent_fleet_worker, full):
    done, waited = runbook(silent_fleet_worker, "verify", "production", "--json", *(["--full"] if full else []))
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["passed"] is False
    reasons = result["reasons"]
    assert f"liveness: {TIMED_OUT}" in reasons and f"market-svc readiness: {TIMED_OUT}" in reasons, reasons
    # Each check once, and the integrations readiness should have reported: none seen, none passed.
    unreported = [reason for reason in reasons if reason.endswith(" is not reported")]
    assert len(unreported) == len(INTEGRATIONS), reasons
    assert len(reasons) == (FULL_CHECKS if full else CHECKS) + len(INTEGRATIONS), reasons
    assert len(set(reasons)) == len(reasons), reasons
    # One health check's timeout, the other steps (CloudWatch, logs), and the CLI's start.
    assert waited < REQUEST_TIMEOUT_S + MARGIN_S + 5, f"the verification took {waited:.1f} s"
