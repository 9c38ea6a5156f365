"""`make down` (python -m starter.stack down) stops only what this checkout's `make up` started, and
one `up` or `down` runs at a time.

Each case writes a PID file into a state directory of its own (RUNBOOK_STATE_DIR), naming a process
the test started: one that is not ours must be refused, by name and with the reason, and still be
alive afterwards. No case touches the .runbook/ of a `make up` stack, and the one server started
(the control) listens on free ports.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import stack_config_text, stack_environment
from tests.support import PROJECT, free_port

TABLE = "make down / make up: processes that are not ours, and two at once"
COLUMNS = ("case", "input", "expected refusal", "observed")
SLEEP = "import time; time.sleep(60)"


class Setup(NamedTuple):
    part: str  # whose PID file names the process
    process: subprocess.Popen
    expected: str  # in the refusal on standard error


@pytest.fixture
def state(tmp_path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A state directory and the environment that points `python -m starter.stack` at it, with a
    runbook.toml on free ports; every process a case started is stopped afterwards."""
    folder = tmp_path / "state"
    folder.mkdir()
    config = tmp_path / "runbook.toml"
    text = stack_config_text(f"127.0.0.1:{free_port()}", "ownership", free_port(), free_port())
    config.write_text(text.replace('ui_url = "http://127.0.0.1:8233"', f'ui_url = "http://127.0.0.1:{free_port()}"'))
    yield folder, {**stack_environment(config), "RUNBOOK_STATE_DIR": str(folder)}


def stack(env: dict[str, str], action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "starter.stack", action],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def throwaway(tmp_path: Path, *command: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd or tmp_path, stdin=subprocess.DEVNULL)


def another_checkouts_sandbox(tmp_path: Path) -> subprocess.Popen:
    """`python -m sandbox` exactly as `up` starts it, but in another checkout (whose sandbox sleeps)."""
    other = tmp_path / "other-checkout"
    (other / "sandbox").mkdir(parents=True)
    (other / "sandbox" / "__init__.py").write_text("")
    (other / "sandbox" / "__main__.py").write_text(SLEEP + "\n")
    return throwaway(tmp_path, sys.executable, "-m", "sandbox", cwd=other)


def another_checkouts_worker(tmp_path: Path) -> subprocess.Popen:
    other = tmp_path / "other-checkout"
    other.mkdir()
    (other / "worker.py").write_text(SLEEP + "\n")
    return throwaway(tmp_path, sys.executable, str(other / "worker.py"))


CASES: dict[str, tuple[str, Callable[[Path], Setup]]] = {
    "a process whose command line merely contains worker.py": (
        "worker.pid = pid of: python -c 'import time; time.sleep(60)' worker.py",
        lambda tmp: Setup("worker", throwaway(tmp, sys.executable, "-c", SLEEP, "worker.py"), "not this checkout's"),
    ),
    "a process whose command line merely contains sandbox": (
        "sandbox.pid = pid of: python -c 'import time; time.sleep(60)' sandbox",
        lambda tmp: Setup("sandbox", throwaway(tmp, sys.executable, "-c", SLEEP, "sandbox"), "not this checkout's"),
    ),
    "a copied .runbook/: another checkout's sandbox": (
        "sandbox.pid = pid of `python -m sandbox` running in another folder",
        lambda tmp: Setup("sandbox", another_checkouts_sandbox(tmp), "not this checkout's sandbox"),
    ),
    "a copied .runbook/: another checkout's worker": (
        "worker.pid = pid of `python OTHER/worker.py`",
        lambda tmp: Setup("worker", another_checkouts_worker(tmp), "not this checkout's worker"),
    ),
    "a reused PID: an unrelated process": (
        "temporal.pid = pid of `sleep 60`",
        lambda tmp: Setup("temporal", throwaway(tmp, "sleep", "60"), "not this checkout's temporal"),
    ),
}


def observed(done: subprocess.CompletedProcess, alive: bool | None = None) -> str:
    said = " / ".join(line for line in done.stderr.strip().splitlines()[-2:]) or "(nothing on stderr)"
    fate = "" if alive is None else ("; process ALIVE" if alive else "; process KILLED")
    return f"exit {done.returncode}: {said}{fate}"


@pytest.mark.parametrize("name", list(CASES))
def test_down_refuses_a_process_that_is_not_ours(name, state, tmp_path, outcome_table):
    folder, env = state
    described, setup = CASES[name]
    case = setup(tmp_path)
    try:
        (folder / f"{case.part}.pid").write_text(str(case.process.pid))
        done = stack(env, "down")
        alive = case.process.poll() is None
        outcome_table(
            TABLE,
            COLUMNS,
            name,
            f"make down; {described}",
            f"{case.part} not stopped: {case.expected}",
            observed(done, alive),
        )
        assert alive, done.stderr
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{case.part} not stopped: pid {case.process.pid} is {case.expected}" in done.stderr
        assert (folder / f"{case.part}.pid").exists()  # left for the user to check
    finally:
        case.process.kill()
        case.process.wait()


def test_down_refuses_a_pid_file_without_a_pid(state, outcome_table):
    folder, env = state
    (folder / "worker.pid").write_text("not a pid\n")
    done = stack(env, "down")
    outcome_table(
        TABLE,
        COLUMNS,
        "a PID file without a PID",
        "make down; worker.pid = 'not a pid'",
        "worker not stopped: holds no PID",
        observed(done),
    )
    assert done.returncode == 1
    assert "worker not stopped:" in done.stderr and "holds no PID" in done.stderr


def test_down_stops_what_this_checkouts_up_started(state, outcome_table):
    """The control: a Temporal server started as `up` starts it is ours, and stopped."""
    folder, env = state
    script = (
        "import os; from runbook.config import load_config; from starter.stack import parts, start; "
        "config = load_config(); start(parts(config)[0], config, os.environ)"
    )
    started = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    pid = int((folder / "temporal.pid").read_text())
    done = stack(env, "down")
    gone = not Path(f"/proc/{pid}").exists()
    outcome_table(
        TABLE,
        COLUMNS,
        "control: this checkout's Temporal server",
        "make up (temporal only); make down",
        "none: stopped",
        f"exit {done.returncode}: {done.stdout.strip()}; process {'gone' if gone else 'ALIVE'}",
    )
    if not gone:
        os.kill(pid, 9)
    assert done.returncode == 0, done.stderr
    assert f"temporal: stopped (pid {pid})" in done.stdout and gone


def test_a_second_up_meanwhile_starts_nothing(state, outcome_table):
    """While another `up` holds the state directory's lock (here, the test), `up` starts nothing."""
    folder, env = state
    with (folder / "stack.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(str(os.getpid()))
        lock.flush()
        done = stack(env, "up")
    started = sorted(path.name for path in folder.glob("*.pid"))
    outcome_table(
        TABLE,
        COLUMNS,
        "two `make up` at once",
        "make up while another up holds .runbook/stack.lock",
        "another `make up` or `make down` is running",
        observed(done) + f"; PID files: {started or 'none'}",
    )
    for path in folder.glob("*.pid"):  # only if it did start something, despite the lock
        os.kill(int(path.read_text()), 9)
    assert done.returncode == 1
    assert f"another `make up` or `make down` of this stack is running (pid {os.getpid()})" in done.stderr
    assert started == [] and not (folder / "temporal.db").exists()
