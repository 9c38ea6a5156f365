"""Determinism: every recorded history in tests/histories replays on today's workflow code, and
every workflow the worker registers has one.

A change that breaks replay needs `workflow.patched`. To re-record every history (after a change
that is meant to alter them, or for a new workflow), one environment variable and the tests that
keep them, via tests.conftest.keep_history:

    RUNBOOK_RECORD_HISTORIES=1 .venv/bin/python -m pytest -n 0 tests/workflows/test_deployment.py \
        tests/workflows/test_incident.py tests/workflows/test_lock.py

(a new workflow: a test that runs it calls `await keep_history(handle, "its_name")`).

tests/histories/earlier/ keeps histories recorded by earlier code, a folder per generation
(before_g, before_i), and is never re-recorded: they replay through the old side of each
`workflow.patched` branch, the fresh recordings through the new. Before re-recording, copy the
current recordings into a new folder there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import _Definition

from runbook.codec import data_converter
from worker import WORKFLOWS

HISTORY_FOLDER = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(HISTORY_FOLDER.rglob("*.json"))


def test_every_workflow_kind_has_a_recorded_history():
    kinds = {
        json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for path in HISTORIES
    }
    registered = {_Definition.must_from_class(workflow).name for workflow in WORKFLOWS}
    assert registered >= {"Verification", "Rollback", "StandardDeployment", "HotfixDeployment", "Incident"}
    assert "EnvironmentLock" in registered
    assert kinds >= registered, f"no recorded history of {sorted(registered - kinds)}"


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[str(path.relative_to(HISTORY_FOLDER).with_suffix("")) for path in HISTORIES]
)
async def test_a_recorded_history_replays(path: Path):
    recorded = json.loads(path.read_text())
    workflow_id = recorded["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId", path.stem)
    # The worker's converter, as a worker replays: a handler's unreadable payload is a refusal there.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter({}, worker=True))
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(workflow_id, recorded), raise_on_replay_failure=False
    )
    assert result.replay_failure is None
