"""Run many `runbook` command lines, each in a process of its own, importing the CLI only once.

A command that reaches Temporal imports the SDK, boto3 and the workflows first (about a second of
CPU); sixty command lines would spend a minute on two cores just importing. This driver imports the
CLI and its commands once, then forks
one child per command line: the child runs starter.cli.main(argv), exactly what `python -m starter`
runs, with its own environment, standard input (/dev/null: no terminal), output files and exit
code. Forking is safe because nothing here has started a thread: the SDK's runtime and its threads
are created in each child, when it connects.

Input on standard input, a JSON list of {"argv": [...], "env": {...}}; output on standard output,
a JSON list of {"returncode", "stdout", "stderr"} in the same order.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import traceback

import starter.aws_commands  # noqa: F401  the imports a command pays for, paid once here
import starter.cli
import starter.commands  # noqa: F401
import starter.incident  # noqa: F401

PARALLEL = int(os.environ.get("BADINPUT_PARALLEL", "4"))
TIMEOUT_S = 60.0


def _child(argv: list[str], env: dict[str, str], out_path: str, err_path: str) -> None:
    """Never returns: the exit code is the command's, as `python -m starter` would give."""
    code = 1
    try:
        os.environ.update(env)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_TRUNC), 1)
        os.dup2(os.open(err_path, os.O_WRONLY | os.O_TRUNC), 2)
        starter.cli.main(argv)
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _threads() -> int:
    """Every thread of the process, Python's or not, where the system tells."""
    tasks = "/proc/self/task"
    return len(os.listdir(tasks)) if os.path.isdir(tasks) else threading.active_count()


def run_all(requests: list[dict]) -> list[dict]:
    assert _threads() == 1, "forking needs a single-threaded driver"
    folder = tempfile.mkdtemp(prefix="runbook-forks-")
    files = [(os.path.join(folder, f"{n}.out"), os.path.join(folder, f"{n}.err")) for n in range(len(requests))]
    for paths in files:
        for path in paths:
            open(path, "w").close()
    codes: dict[int, int] = {}
    running: dict[int, tuple[int, float]] = {}  # pid -> (request number, deadline)
    waiting = list(range(len(requests)))
    while waiting or running:
        while waiting and len(running) < PARALLEL:
            number = waiting.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(requests[number]["argv"], requests[number].get("env", {}), *files[number])
            running[pid] = (number, time.monotonic() + TIMEOUT_S)
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            number, _ = running.pop(pid)
            codes[number] = os.waitstatus_to_exitcode(status)
            continue
        for pid, (_, deadline) in list(running.items()):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
        time.sleep(0.01)
    results = []
    for number, (out_path, err_path) in enumerate(files):
        with open(out_path) as out, open(err_path) as err:
            results.append({"returncode": codes[number], "stdout": out.read(), "stderr": err.read()})
        os.unlink(out_path)
        os.unlink(err_path)
    os.rmdir(folder)
    return results


if __name__ == "__main__":
    json.dump(run_all(json.load(sys.stdin)), sys.stdout)
