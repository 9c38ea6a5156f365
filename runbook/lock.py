"""The environment lock's names, shared by the workflow that holds it and the activities and CLI
that ask it: the lock is called by name, so nothing outside workflows/ imports the workflow."""

from __future__ import annotations

# Registered names: recorded histories replay against them, so they never change.
LOCK_WORKFLOW = "EnvironmentLock"
ACQUIRE_UPDATE = "acquire"
RELEASE_SIGNAL = "release"
HOLDER_QUERY = "holder"


def lock_workflow_id(environment: str) -> str:
    return f"lock-{environment}"
