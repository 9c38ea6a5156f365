"""A stack of its own for each benchmark: dev server, sandbox and worker on free ports, driven by
a runbook.toml made from the repository's, with the benchmark's settings laid over it.

Beside a running `make up` or `make test`: every port is free when picked, every part listens on
127.0.0.1, and only the processes started here are stopped, by the handles kept of them.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from runbook.config import RunbookConfig, load_config
from runbook.search import server_flags
from starter.stack import own_temporal_settings, temporal_binary

PROJECT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0
PARTS = ("temporal", "sandbox", "worker")
# RUNBOOK_USER of every CLI run, and who the benchmarks act as: whoever acts must be one of [people].
# An email only: no Slack ID, PagerDuty ID or SSH key, so nothing is sent on its behalf.
BENCH_PERSON = {"bench": {"email": "bench@skillancer.com"}}
# Of the caller's shell: encryption would only add its own cost to every figure; a signing key or
# an agent would sign what the benchmarks send unsigned; a real gateway key fits no sandbox config.
NOT_INHERITED = ("RUNBOOK_ENCRYPTION_KEYS", "RUNBOOK_SSH_KEY", "SSH_AUTH_SOCK", "RUNBOOK_GATEWAY_KEY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def merged(base: dict[str, Any], overrides: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """A section ([thresholds]) is merged key by key, keeping what the overrides leave out."""
    result = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict) and (top or not _inline(value)):
            result[key] = merged(result[key], value, top=False)
        else:
            result[key] = value
    return result


def _inline(value: dict[str, Any]) -> bool:
    # A table of scalars (respond_within) is replaced whole: a partial one would mix two policies.
    return bool(value) and not any(isinstance(item, dict) for item in value.values())


def toml_text(data: dict[str, Any]) -> str:
    """The subset of TOML runbook.toml uses: tables, sub-tables, inline tables, scalars, lists."""
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        scalars = {
            k: v
            for k, v in values.items()
            if not (isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()))
        }
        tables = {k: v for k, v in values.items() if k not in scalars}
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{key} = {_value(value)}" for key, value in scalars.items())
        for key, value in tables.items():
            for name, sub in value.items():
                table(f"{prefix + '.' if prefix else ''}{key}.{name}", sub)

    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(x, dict) for x in value.values()):
            for name, sub in value.items():
                table(f"{key}.{name}", sub)
        elif isinstance(value, dict):
            table(key, value)
        else:
            lines.insert(0, f"{key} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


class BenchStack:
    """`with BenchStack("health", overrides, parts=("sandbox",)) as stack:` … the parts asked for
    (PARTS, or "gateway" too), up and answering; on leaving, stopped in reverse order, whatever happened."""

    def __init__(
        self,
        name: str,
        overrides: dict[str, Any] | None = None,
        parts: tuple[str, ...] = PARTS,
        keep_logs: bool = False,
    ) -> None:
        self.name = name
        self.parts = parts
        self.keep_logs = keep_logs
        self.folder = Path(tempfile.mkdtemp(prefix=f"runbook-bench-{name}-"))
        self.temporal_port, self.fleet_port, self.aws_port = free_port(), free_port(), free_port()
        self.gateway_port = free_port()
        ports = {
            "temporal": {"address": f"127.0.0.1:{self.temporal_port}", "task_queue": f"bench-{name}"},
            "sandbox": {"fleet_port": self.fleet_port, "aws_port": self.aws_port},
            # The sandbox's Slack sends its clicks here.
            "gateway": {"host": "127.0.0.1", "port": self.gateway_port},
            "people": BENCH_PERSON,
            # Metrics would want a port of their own; the benchmarks read RSS and histories instead.
            "observability": {"metrics_address": ""},
        }
        base = tomllib.loads((PROJECT / "runbook.toml").read_text())
        for environment in base["environments"].values():
            environment["base_url"] = environment["base_url"].replace("127.0.0.1:8080", f"127.0.0.1:{self.fleet_port}")
        self.config_path = self.folder / "runbook.toml"
        self._write(merged(merged(base, overrides or {}), ports))
        inherited = {
            key: value
            for key, value in own_temporal_settings(os.environ, self.folder).items()
            if key not in NOT_INHERITED
        }
        self.env = {
            **inherited,
            "RUNBOOK_CONFIG": str(self.config_path),
            "RUNBOOK_USER": "bench",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def _write(self, data: dict[str, Any]) -> None:
        self.config_path.write_text(toml_text(data))
        self.config: RunbookConfig = load_config(self.config_path)

    def lay_over(self, overrides: dict[str, Any]) -> None:
        """More settings, before the stack starts: those made in its folder (a key generated there)."""
        self._write(merged(tomllib.loads(self.config_path.read_text()), overrides))

    @property
    def fleet_url(self) -> str:
        return f"http://127.0.0.1:{self.fleet_port}"

    @property
    def worker_pid(self) -> int:
        return self.processes["worker"].pid

    def __enter__(self) -> BenchStack:
        try:
            if "temporal" in self.parts:
                self._start_temporal()
            if "sandbox" in self.parts:
                self._start(
                    "sandbox",
                    [sys.executable, "-m", "sandbox"],
                    lambda: _answers(f"{self.fleet_url}/_sandbox/health") and port_open(self.aws_port),
                )
            if "worker" in self.parts:
                log = self.folder / "worker.log"
                self._start(
                    "worker",
                    [sys.executable, str(PROJECT / "worker.py")],
                    lambda: "polling task queue" in log.read_text(errors="replace"),
                )
            if "gateway" in self.parts:
                log = self.folder / "gateway.log"
                # Said once it listens (as `make up` waits for it).
                self._start(
                    "gateway",
                    [sys.executable, "-m", "starter.gateway"],
                    lambda: "gateway at http://" in log.read_text(errors="replace"),
                )
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.stop(failed=exc_type is not None)

    def _start_temporal(self) -> None:
        command = [
            temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.temporal_port),
            "--headless", "--metrics-port", str(free_port()), "--http-port", str(free_port()), "--log-level", "error",
            *server_flags(),
        ]  # fmt: skip
        self._start("temporal", command, lambda: port_open(self.temporal_port))

    def _start(self, part: str, command: list[str], ready: Callable[[], bool]) -> None:
        log = self.folder / f"{part}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=PROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.processes[part] = process
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(
                    f"bench: {part} did not come up (exit {process.poll()}); last lines of its log:\n{tail}"
                )
            time.sleep(0.1)

    def stop(self, failed: bool = False) -> None:
        for part in reversed(list(self.processes)):
            process = self.processes.pop(part)
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if failed or self.keep_logs:
            print(f"bench: {self.name} logs kept in {self.folder}", file=sys.stderr)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*runbook_command(), *args], cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def timed(self, command: list[str], expect: str) -> tuple[float, float]:
        """Seconds from launch to exit of `command` in this stack's environment, whose output must
        hold `expect`, and the CPU seconds (user and system) it used: on a shared machine the wall
        time is also other processes' turn, the CPU time much less so."""
        cpu_before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=60)
        took = time.perf_counter() - started
        if expect not in done.stdout:
            raise RuntimeError(f"{command[-4:]}: exit {done.returncode}, not {expect!r}: {done.stdout}{done.stderr}")
        return took, _children_cpu() - cpu_before

    def fault(self, environment: str, service: str, mode: str, delay_s: float | None = None) -> None:
        body: dict[str, Any] = {"environment": environment, "service": service, "mode": mode}
        if delay_s is not None:
            body["delay_s"] = delay_s
        httpx.post(f"{self.fleet_url}/_sandbox/faults", json=body, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.fleet_url}/_sandbox/faults", timeout=10).raise_for_status()


def runbook_command() -> list[str]:
    """The console script `make install` puts beside the interpreter, as a user types it."""
    script = Path(sys.executable).parent / "runbook"
    return [str(script)] if script.exists() else [sys.executable, "-m", "starter"]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's resident set (VmRSS) or its peak (VmHWM), in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime
