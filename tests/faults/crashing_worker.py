"""worker.py, which SIGKILLs itself at one chosen point of one activity: a crash that lands
exactly there, every time, where a kill from outside lands wherever the clock says.

RUNBOOK_CRASH_AT="ACTIVITY:before|after:ENVIRONMENT": on the first attempt of ACTIVITY for a
request in ENVIRONMENT, the process dies before the activity runs, or after it ran (its side
effect made) but before its result reaches the server. Other activities, and every later
attempt, run as usual.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from temporalio import activity, client
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import worker  # noqa: E402  (the project's worker.py)


class _CrashAt(client.Interceptor, Interceptor):
    def __init__(self, name: str, when: str, environment: str) -> None:
        self.name, self.when, self.environment = name, when, environment

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, crash: _CrashAt) -> None:
        super().__init__(next)
        self._crash = crash

    def _here(self, input: ExecuteActivityInput) -> bool:
        info = activity.info()
        request = input.args[0] if input.args else None
        return (
            info.activity_type == self._crash.name
            and info.attempt == 1
            and getattr(request, "environment", None) == self._crash.environment
        )

    def _die(self, when: str) -> None:
        print(f"crashing_worker: SIGKILL {when} {self._crash.name}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        here = self._here(input)
        if here and self._crash.when == "before":
            self._die("before")
        result = await self.next.execute_activity(input)
        if here and self._crash.when == "after":
            self._die("after")
        return result


def main() -> None:
    name, when, environment = os.environ["RUNBOOK_CRASH_AT"].split(":")
    connect = worker.connect

    async def connect_with_crash(config: Any, **extra: Any) -> Any:
        extra["interceptors"] = [*extra.get("interceptors", []), _CrashAt(name, when, environment)]
        return await connect(config, **extra)

    worker.connect = connect_with_crash
    worker.main([])


if __name__ == "__main__":
    main()
