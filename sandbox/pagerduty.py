"""PagerDuty's Events API v2."""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.recorder import Recorder
from sandbox.web import json_response, request_json

PAGER_ACTIONS = ("trigger", "acknowledge", "resolve")


class PagerFake:
    def rules(self, recorder: Recorder) -> list[Rule]:
        return [Rule("/pagerduty/v2/enqueue", endpoint=recorder.recorded("pagerduty", self.enqueue), methods=["POST"])]

    def enqueue(self, request: Request) -> Response:
        event = request_json(request)
        errors = _pager_errors(event)
        if errors:
            invalid = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            return json_response(invalid, 400)
        dedup_key = event.get("dedup_key") or secrets.token_hex(16)
        return json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202)


def _pager_errors(event: dict[str, Any]) -> list[str]:
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in PAGER_ACTIONS:
        errors.append(f"'event_action' must be one of: {', '.join(PAGER_ACTIONS)}")
    elif action != "trigger" and not event.get("dedup_key"):
        errors.append("'dedup_key' is required to acknowledge or resolve")
    return errors
