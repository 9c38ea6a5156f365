"""Determinism: every recorded history in tests/histories replays on today's workflow code.

A change that breaks replay needs `workflow.patched`. Re-record with RUNBOOK_RECORD_HISTORIES=1
and the tests that keep them (tests/workflows/test_deployment.py, test_incident.py, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_every_workflow_kind_has_a_recorded_history():
    kinds = {
        json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for path in HISTORIES
    }
    assert kinds >= {"Verification", "Rollback", "StandardDeployment", "HotfixDeployment", "Incident"}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_a_recorded_history_replays(path: Path):
    recorded = json.loads(path.read_text())
    workflow_id = recorded["events"][0]["workflowExecutionStartedEventAttributes"].get("workflowId", path.stem)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(workflow_id, recorded), raise_on_replay_failure=False
    )
    assert result.replay_failure is None
