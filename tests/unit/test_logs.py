"""The worker's JSON log lines: one object a line, the workflow's and activity's IDs lifted out of
the context the SDK's loggers attach to each record."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from temporalio import activity, workflow
from temporalio.testing import ActivityEnvironment

from runbook.logs import JsonFormatter, configure_logging

WORKFLOW_CONTEXT = {
    "attempt": 1, "namespace": "default", "run_id": "run-1", "task_queue": "runbook",
    "workflow_id": "deploy-production-v1.2.0", "workflow_type": "StandardDeployment",
}  # fmt: skip
ACTIVITY_CONTEXT = {
    "activity_id": "7", "activity_type": "update_service", "attempt": 3, "namespace": "default",
    "task_queue": "runbook", "workflow_id": "rollback-production-1", "workflow_run_id": "run-9",
    "workflow_type": "Rollback",
}  # fmt: skip


def record(message: str, *args: object, exc_info=None, **attributes: object) -> logging.LogRecord:
    made = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, message, args, exc_info)
    made.__dict__.update(attributes)
    return made


def formatted(made: logging.LogRecord) -> dict:
    line = JsonFormatter().format(made)
    assert len(line.splitlines()) == 1
    return json.loads(line)


def test_a_workflow_record_becomes_one_line_with_its_ids():
    entry = formatted(record("step %s started", "deploy staging", temporal_workflow=WORKFLOW_CONTEXT))
    assert entry["message"] == "step deploy staging started"
    assert (entry["level"], entry["logger"]) == ("INFO", "temporalio.workflow")
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    assert (entry["workflow_id"], entry["run_id"], entry["workflow_type"]) == (
        "deploy-production-v1.2.0",
        "run-1",
        "StandardDeployment",
    )
    assert (entry["task_queue"], entry["attempt"]) == ("runbook", 1)
    assert "activity_id" not in entry


def test_an_activity_record_carries_the_activity_and_its_workflow():
    entry = formatted(record("rollout done", temporal_activity=ACTIVITY_CONTEXT))
    assert (entry["activity_id"], entry["activity_type"], entry["attempt"]) == ("7", "update_service", 3)
    # run_id, as on the workflow's own lines, so one query finds both.
    assert (entry["workflow_id"], entry["run_id"], entry["workflow_type"]) == (
        "rollback-production-1",
        "run-9",
        "Rollback",
    )


def test_a_plain_record_has_the_four_fields_only():
    assert set(formatted(record("worker polling task queue runbook"))) == {"time", "level", "logger", "message"}


def test_an_exception_is_one_string_field_on_the_same_line():
    try:
        raise ValueError("no revision of skillancer-prod-api-gateway")
    except ValueError:
        entry = formatted(record("failed", exc_info=sys.exc_info()))
    assert entry["exc"].startswith("Traceback (most recent call last):")
    assert entry["exc"].endswith("ValueError: no revision of skillancer-prod-api-gateway")


def test_a_value_json_cannot_hold_is_written_as_text():
    class RunId:
        def __str__(self) -> str:
            return "run-7"

    assert formatted(record("x", temporal_workflow={"workflow_id": "w", "run_id": RunId()}))["run_id"] == "run-7"


@pytest.fixture
def worker_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = saved
    workflow.logger.workflow_info_on_message = activity.logger.activity_info_on_message = True
    logging.captureWarnings(False)


async def test_the_sdk_activity_logger_puts_the_ids_on_the_json_line(worker_logging):
    configure_logging("json")
    written = io.StringIO()
    logging.getLogger().handlers[0].setStream(written)

    @activity.defn
    async def watch_rollout() -> None:
        activity.logger.info("rollout of %s COMPLETED", "market-svc")

    environment = ActivityEnvironment()
    await environment.run(watch_rollout)
    entry = next(json.loads(line) for line in written.getvalue().splitlines() if "rollout of" in line)
    # The IDs are fields; the SDK's "({...})" suffix would only repeat them in the message.
    assert entry["message"] == "rollout of market-svc COMPLETED"
    info = environment.info
    assert (entry["activity_id"], entry["activity_type"], entry["workflow_id"], entry["attempt"]) == (
        info.activity_id, info.activity_type, info.workflow_id, info.attempt,
    )  # fmt: skip


def test_text_logs_keep_the_ids_in_the_message(worker_logging):
    configure_logging("text")
    assert activity.logger.activity_info_on_message and workflow.logger.workflow_info_on_message
    assert not isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)
