"""The worker's log lines: one JSON object per line for log collectors, or plain text to read by eye.

The SDK's `workflow.logger` and `activity.logger` put their context on each record as the
`temporal_workflow` and `temporal_activity` dicts; the JSON lines lift the IDs out of them into
top-level fields, so a collector can find every line of one deployment by its workflow_id.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from temporalio import activity, workflow

# Record dict key → JSON field. An activity's workflow_run_id is the same run_id a workflow's
# own lines carry, so both are found by one query.
_WORKFLOW_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "task_queue": "task_queue",
    "attempt": "attempt",
    "update_id": "update_id",
    "update_name": "update_name",
}
_ACTIVITY_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """time, level, logger, message; the workflow's and activity's IDs when the record has them;
    an exception as one `exc` string (its newlines escaped, so still one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attribute, fields in (("temporal_workflow", _WORKFLOW_FIELDS), ("temporal_activity", _ACTIVITY_FIELDS)):
            context = getattr(record, attribute, None)
            if isinstance(context, dict):
                entry.update({field: context[key] for key, field in fields.items() if context.get(key) is not None})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(log_format: Literal["json", "text"], level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings would otherwise be bare text lines among the JSON ones.
    logging.captureWarnings(True)
    # The JSON fields already carry the IDs; the SDK's "({...})" suffix would repeat them in every
    # message. Text keeps it: there it is the only place the IDs appear.
    workflow.logger.workflow_info_on_message = log_format == "text"
    activity.logger.activity_info_on_message = log_format == "text"
    # One line per HTTP request would drown the worker's own events.
    logging.getLogger("httpx").setLevel(logging.WARNING)
