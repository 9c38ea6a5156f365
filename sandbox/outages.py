"""Outside services that fail on purpose: the next N calls to one system answer as its outage would.

`POST /_sandbox/outages {"system": "slack", "status": 429, "times": 1, "retry_after": 1}` and the
next call to the Slack fake is refused as Slack refuses a rate-limited client; `DELETE` ends every
outage. So a user (or a test) can watch the worker wait, retry, and still deliver each message once.
ECS answers with the throttling error boto3 retries; `"action": "UpdateService"` narrows an ECS
outage to one API action, so reads made by onlookers do not use it up; `"action": "events"` or
`"rest"` narrows a PagerDuty outage to one of its APIs, so an open incident's reading of
acknowledgements does not use up an outage meant for a page. `{"system": "slack", "error":
"invalid_auth"}` answers as Slack refuses a call: HTTP 200 with `ok: false` and that error.
`"mode": "drop"` applies the call and then drops the connection before answering: the reply is
lost, as on a network failure, so a retry must find what the first attempt did instead of doing it
again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Literal

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.web import ApiError, json_response, request_json

# What each system answers when it is down or limiting, unless the outage names a status.
DEFAULT_STATUS = {"slack": 429, "github": 502, "statuspage": 503, "pagerduty": 503, "ops": 503, "ecs": 400}
SYSTEMS = list(DEFAULT_STATUS)
# PagerDuty's two APIs, each its own outage: Events v2 (trigger, acknowledge, resolve) and REST.
PAGER_APIS = ("events", "rest")
OutageMode = Literal["refuse", "drop"]
MODES = ("refuse", "drop")
# ECS's throttling error: boto3 classifies it by the __type, whatever the HTTP status.
ECS_THROTTLING = {"__type": "ThrottlingException", "message": "Rate exceeded"}

log = logging.getLogger("sandbox")


@dataclass
class Outage:
    system: str
    status: int
    times: int
    retry_after: float | None = None
    action: str | None = None
    error: str | None = None  # Slack's error code, answered with HTTP 200 as Slack does
    mode: OutageMode = "refuse"

    def response(self) -> Response:
        if self.system == "ecs":
            response = json_response(ECS_THROTTLING, self.status)
            response.mimetype = "application/x-amz-json-1.1"
        elif self.system == "slack":
            # Slack's Web API says what went wrong in the body, even beside an HTTP error.
            error = self.error or ("ratelimited" if self.status == 429 else "fatal_error")
            response = json_response({"ok": False, "error": error}, self.status)
        elif self.system == "github":
            response = json_response(
                {"message": "API rate limit exceeded" if self.status in (403, 429) else "Server Error"}, self.status
            )
        else:
            response = json_response({"error": f"sandbox outage of {self.system}: HTTP {self.status}"}, self.status)
        if self.retry_after is not None:
            # Whole seconds, as Slack and GitHub send it; a fraction only when one was asked for.
            seconds = self.retry_after
            response.headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        return response


class Outages:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Outage] = []

    def add(
        self,
        system: str,
        status: int | None = None,
        times: int = 1,
        retry_after: float | None = None,
        action: str | None = None,
        error: str | None = None,
        mode: OutageMode = "refuse",
    ) -> Outage:
        default = 200 if error or mode == "drop" else DEFAULT_STATUS[system]
        outage = Outage(system, default if status is None else status, times, retry_after, action, error, mode)
        with self._lock:
            self._pending.append(outage)
        return outage

    def take(self, system: str, action: str | None = None) -> Outage | None:
        """The outage this call meets, if any; each call uses up one of its `times`."""
        with self._lock:
            for outage in self._pending:
                if outage.system == system and outage.action in (None, action):
                    outage.times -= 1
                    if outage.times == 0:
                        self._pending.remove(outage)
                    return outage
        return None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [asdict(outage) for outage in self._pending]

    def clear(self) -> int:
        with self._lock:
            count = len(self._pending)
            self._pending.clear()
            return count

    def rules(self) -> list[Rule]:
        return [
            Rule("/_sandbox/outages", endpoint=self.list_outages, methods=["GET"]),
            Rule("/_sandbox/outages", endpoint=self.start_outage, methods=["POST"]),
            Rule("/_sandbox/outages", endpoint=self.end_outages, methods=["DELETE"]),
        ]

    def list_outages(self, request: Request) -> Response:
        return json_response(self.pending())

    def start_outage(self, request: Request) -> Response:
        outage = self.add(**_outage_fields(request_json(request)))
        log.info(
            "outage: the next %d call(s) to %s%s %s",
            outage.times,
            outage.system,
            f" {outage.action}" if outage.action else "",
            "are applied, then their connection dropped" if outage.mode == "drop" else f"answer HTTP {outage.status}",
        )
        return json_response(asdict(outage), 201)

    def end_outages(self, request: Request) -> Response:
        cleared = self.clear()
        if cleared:
            log.info("outages ended: %d", cleared)
        return json_response({"cleared": cleared})


def _outage_fields(body: dict[str, object]) -> dict[str, object]:
    allowed = ("system", "status", "times", "retry_after", "action", "error", "mode")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    system = body.get("system")
    if system not in DEFAULT_STATUS:
        raise ApiError(400, f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    status, times, retry_after, action = (
        body.get("status"),
        body.get("times", 1),
        body.get("retry_after"),
        body.get("action"),
    )
    if status is not None and (not _is_int(status) or not 400 <= status <= 599):
        raise ApiError(400, f"status must be an HTTP error status (400-599), got {status!r}")
    if not _is_int(times) or times < 1:
        raise ApiError(400, f"times must be a whole number of calls, 1 or more, got {times!r}")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int | float) or retry_after < 0
    ):
        raise ApiError(400, f"retry_after must be seconds, 0 or more, got {retry_after!r}")
    if action is not None and not (
        (system == "ecs" and isinstance(action, str) and action) or (system == "pagerduty" and action in PAGER_APIS)
    ):
        raise ApiError(
            400,
            "action names an ECS API action (such as UpdateService) for system ecs, or one of PagerDuty's APIs"
            f" ({', '.join(PAGER_APIS)}) for pagerduty; got {action!r}",
        )
    error = body.get("error")
    if error is not None and (system != "slack" or not isinstance(error, str) or not error or status is not None):
        raise ApiError(
            400,
            f"error names a Slack error code (such as invalid_auth), for slack only, without status; got {error!r}",
        )
    mode = body.get("mode", "refuse")
    if mode not in MODES:
        raise ApiError(400, f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if mode == "drop" and (system == "ecs" or any(body.get(field) is not None for field in ("status", "error"))):
        raise ApiError(400, "mode drop applies the call and loses its answer: not for ecs, and without status or error")
    return {
        "mode": mode,
        "system": system,
        "status": status,
        "times": times,
        "retry_after": retry_after,
        "action": action,
        "error": error,
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
