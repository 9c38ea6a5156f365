"""The Temporal server stopped and started again on its SQLite file during an open P1: the incident
goes on, its updates resume, and the CLI still reaches it. The stack here is this test's own (a dev
server, the sandbox and a worker on free ports): the session's server must not be restarted under
the other tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from runbook.config import load_config
from runbook.search import server_flags
from runbook.status import ProcedureStatus
from runbook.temporal import TemporalUnreachable, connect
from tests.conftest import Stack, stack_config_text, stack_environment, temporal_binary
from tests.support import (
    PROJECT,
    answers,
    free_port,
    procedure_status,
    spawn,
    stop,
    wait_for,
    worker_polling,
)

UPDATE_EVERY_S = 2
DOWN_FOR_S = 3
# Longer than the SDK's poll backoff can grow while the server is down for DOWN_FOR_S.
RECOVERY_S = 30


class DevServer:
    """`temporal server start-dev` as `make up` runs it, on a SQLite file that outlives the process."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db = folder / "temporal.db"
        self.folder = folder
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, env: dict[str, str]) -> None:
        self.starts += 1
        command = [
            temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
            "--db-filename", str(self.db), "--log-level", "warn", *server_flags(),
        ]  # fmt: skip
        self.process = spawn(command, env, self.folder / f"temporal-{self.starts}.log")
        wait_for(lambda: self.serving(env), "the Temporal dev server serving", 30, process=self.process)

    def serving(self, env: dict[str, str]) -> bool:
        config = load_config(Path(env["RUNBOOK_CONFIG"]))

        async def check() -> bool:
            try:
                return await (await connect(config)).service_client.check_health()
            except (TemporalUnreachable, RuntimeError):
                return False

        return asyncio.run(check())

    def stop(self) -> int | None:
        """SIGTERM, as `make down` sends it; the exit code, or None if it had to be killed."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def updates_posted(stack: Stack) -> list[str]:
    """The Update template as Slack received it, in order."""
    posts = [call["body"] for call in stack.calls("slack") if call["path"].endswith("chat.postMessage")]
    return [post["text"] for post in posts if post["text"].startswith("📍 UPDATE:")]


def history_event_types(stack: Stack, incident_id: str) -> list[int]:
    async def fetch() -> list[int]:
        client = await connect(stack.config)
        return [event.event_type for event in (await client.get_workflow_handle(incident_id).fetch_history()).events]

    return asyncio.run(fetch())


def tail(path: Path, lines: int = 25) -> str:
    return (
        f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        if path.exists()
        else f"({path.name} missing)"
    )


def test_an_open_p1_survives_a_server_restart_and_its_updates_resume(tmp_path):
    server = DevServer(tmp_path)
    fleet_port, aws_port = free_port(), free_port()
    config_text = stack_config_text(server.address, f"faults-{uuid.uuid4()}", fleet_port, aws_port)
    assert 'update_every = "15m"' in config_text, "runbook.toml no longer has [incidents] update_every"
    config_path = tmp_path / "runbook.toml"
    config_path.write_text(config_text.replace('update_every = "15m"', f'update_every = "{UPDATE_EVERY_S}s"'))
    env = stack_environment(config_path)
    stack = Stack(config=load_config(config_path), config_path=config_path, env=env)
    worker_log = tmp_path / "worker.log"
    started: list[subprocess.Popen] = []

    def evidence() -> str:
        return "\n".join([tail(worker_log), *(tail(log) for log in sorted(tmp_path.glob("temporal-*.log")))])

    try:
        # Side by side: the sandbox's imports (moto) take seconds that the server and worker need not wait for.
        sandbox = spawn([sys.executable, "-m", "sandbox"], env, tmp_path / "sandbox.log")
        started.append(sandbox)
        server.start(env)
        worker = spawn([sys.executable, str(PROJECT / "worker.py")], env, worker_log)
        started.append(worker)
        wait_for(lambda: answers(f"{stack.fleet_url}/_sandbox/health"), "the sandbox", 30, process=sandbox)
        wait_for(worker_polling(worker_log), "the worker polling", 30, process=worker)

        declared = stack.cli(
            "incident",
            "declare",
            "--severity",
            "P1",
            "--summary",
            "checkout failing",
            "--services",
            "market-svc",
            "--json",
        )
        assert declared.returncode == 0, declared.stdout + declared.stderr
        incident_id = json.loads(declared.stdout)["id"]

        def incident() -> ProcedureStatus | None:  # None while the server or worker cannot answer
            return procedure_status(stack, incident_id, none_if_unanswered=True)

        # Stopped between two updates (the last one sent to Slack and the status page, and counted),
        # so that "nothing done twice" below is about the restart, not an update cut in half.
        wait_for(
            incident,
            "a regular update before the restart",
            30,
            accept=lambda s: s is not None and s.details["incident"]["posted_updates"] >= 1,
            evidence=evidence,
        )
        exit_code = server.stop()
        assert exit_code is not None, "the dev server ignored SIGTERM for 15 s and was killed"
        before_restart = len(updates_posted(stack))
        time.sleep(DOWN_FOR_S)
        assert worker.poll() is None, f"the worker exited while the server was down\n{evidence()}"
        server.start(env)

        # Asked only once the first workflow task after the restart is done. A query that reaches
        # the server while that task waits for the reconnecting worker rides in it (a legacy
        # query); with this SDK and dev server the worker then answered the task with the timer it
        # had computed before the restart, on that clock: a history no replay reproduces, so every
        # later query from a worker without the run in its cache fails. Noted; not this drill's subject.
        wait_for(
            lambda: len(updates_posted(stack)) > before_restart,
            "an update posted after the restart",
            RECOVERY_S,
            evidence=evidence,
        )
        status = wait_for(
            incident,
            "the worker answering a query after the restart",
            RECOVERY_S,
            evidence=evidence,
        )
        assert status.state.value == "RUNNING"

        acked = stack.cli("incident", "ack", incident_id, "--note", "on it after the restart")
        assert acked.returncode == 0 and f"{incident_id} acknowledged by tester" in acked.stdout, (
            acked.stdout + acked.stderr
        )
        updated = stack.cli(
            "incident",
            "update",
            incident_id,
            "--status",
            "Monitoring",
            "--action",
            "watching checkout",
            "--eta",
            "15 minutes",
        )
        assert updated.returncode == 0, updated.stdout + updated.stderr
        # The commander's words reach Slack on the regular cadence: the update loop is alive.
        wait_for(
            lambda: any("- Status: Monitoring\n- Action: watching checkout" in text for text in updates_posted(stack)),
            "the commander's update in a regular update",
            RECOVERY_S,
            evidence=evidence,
        )
        resolved = stack.cli(
            "incident", "resolve", incident_id, "--resolution", "restarted checkout", "--root-cause", "a stuck pool"
        )
        assert resolved.returncode == 0, resolved.stdout + resolved.stderr
        final = wait_for(
            incident,
            "the incident resolved",
            RECOVERY_S,
            accept=lambda s: s is not None and s.state.value == "RESOLVED",
            evidence=evidence,
        )

        # Nothing lost or done twice: every update the workflow counted reached Slack once.
        assert final.details["incident"]["posted_updates"] == len(updates_posted(stack)), updates_posted(stack)
        events = history_event_types(stack, incident_id)
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events, evidence()
        assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    finally:
        for process in reversed(started):
            stop(process)
        server.stop()
