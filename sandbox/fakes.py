"""Recording fakes of the outside services: Slack, GitHub, a Statuspage-style page, PagerDuty.

Every call is recorded so tests and demos can show what the workflows told the outside world.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import UnknownName
from sandbox.outages import Outages
from sandbox.web import ApiError, Handler, json_response, request_body, request_json

MERGED_PR = 42
REVIEWER = "bob"
CHECKS = ("build", "unit-tests", "integration-tests")
GITHUB_FAILURES = ["ci", "review", "release_notes"]
PAGER_ACTIONS = ("trigger", "acknowledge", "resolve")

log = logging.getLogger("sandbox")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Recorder:
    """Every call, in order; `outages` decides which calls are refused (and recorded as such)."""

    def __init__(self, outages: Outages | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, object]] = []
        self.outages = outages or Outages()

    def record(self, system: str, request: Request, **fields: object) -> None:
        call = {
            "system": system,
            "method": request.method,
            "path": request.path,
            "query": dict(request.args),
            "body": request_body(request),
            # So tests can tell which credential a worker really sent.
            "authorization": request.headers.get("Authorization", ""),
            "time": _now_iso(),
            **fields,
        }
        with self._lock:
            self._calls.append(call)

    def calls(self, system: str | None = None) -> list[dict[str, object]]:
        with self._lock:
            return [call for call in self._calls if system is None or call["system"] == system]

    def clear(self) -> int:
        with self._lock:
            count = len(self._calls)
            self._calls.clear()
            return count

    def recorded(self, system: str, handler: Handler) -> Handler:
        def handle(request: Request, **arguments: Any) -> Response:
            outage = self.outages.take(system)
            if outage is not None:
                # Refused calls stay on the record, marked, so delivered and refused can be told apart.
                self.record(system, request, injected=outage.status)
                return outage.response()
            self.record(system, request)
            return handler(request, **arguments)

        return handle


class SlackFake:
    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.create": self._create_channel,
            "conversations.invite": self._invite,
        }

    def rules(self, recorder: Recorder) -> list[Rule]:
        return [Rule("/slack/api/<method>", endpoint=recorder.recorded("slack", self.call), methods=["GET", "POST"])]

    def call(self, request: Request, method: str) -> Response:
        action = self._methods.get(method)
        if action is None:
            return json_response({"ok": False, "error": "unknown_method"})
        arguments = request_body(request)
        payload = arguments if isinstance(arguments, dict) else dict(request.args)
        return json_response({"ok": True, **action(payload)})

    def _timestamp(self) -> str:
        # Slack's ts doubles as the message id, so it must be unique.
        return f"{int(time.time())}.{next(self._counter):06d}"

    def _post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        ts = self._timestamp()
        message = {"text": payload.get("text", ""), "ts": ts}
        return {"channel": payload.get("channel"), "ts": ts, "message": message}

    def _update(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"channel": payload.get("channel"), "ts": payload.get("ts"), "text": payload.get("text", "")}

    def _create_channel(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel_id = f"C{next(self._counter):08d}"
        return {"channel": {"id": channel_id, "name": payload.get("name"), "created": int(time.time())}}

    def _invite(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": payload.get("channel")}}


class GitHubFake:
    """Answers as a well-run repository would, unless one prerequisite is set to fail."""

    def __init__(self) -> None:
        self.failing: str | None = None

    def rules(self, recorder: Recorder) -> list[Rule]:
        repo = "/github/repos/<owner>/<repo>"
        routes = [
            (f"{repo}/commits/<path:ref>/status", self.combined_status),
            (f"{repo}/commits/<path:ref>/check-runs", self.check_runs),
            (f"{repo}/commits/<path:ref>/pulls", self.pulls),
            (f"{repo}/commits/<path:ref>", self.commit),
            (f"{repo}/pulls", self.pulls),
            (f"{repo}/pulls/<int:number>", self.pull),
            (f"{repo}/pulls/<int:number>/reviews", self.reviews),
            (f"{repo}/releases/tags/<path:tag>", self.release),
            (f"{repo}/compare/<path:spec>", self.compare),
            ("/github/<path:rest>", self.not_found),
        ]
        return [Rule(path, endpoint=recorder.recorded("github", handler), methods=["GET"]) for path, handler in routes]

    def set_failing(self, failing: object) -> None:
        if failing is not None and failing not in GITHUB_FAILURES:
            raise UnknownName("failing prerequisite", str(failing), [*GITHUB_FAILURES, "null"])
        self.failing = failing if isinstance(failing, str) else None

    def commit(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        """Every version names a commit of this well-run repository."""
        return json_response({"sha": _sha(ref), "commit": {"message": f"Release {ref}"}})

    def combined_status(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        failed = self.failing == "ci"
        statuses = [
            {"context": f"ci/{name}", "state": "failure" if failed and name == CHECKS[-1] else "success"}
            for name in CHECKS
        ]
        state = "failure" if failed else "success"
        return json_response({"state": state, "sha": _sha(ref), "total_count": len(statuses), "statuses": statuses})

    def check_runs(self, request: Request, owner: str, repo: str, ref: str) -> Response:
        runs = [
            {
                "name": name,
                "head_sha": _sha(ref),
                "status": "completed",
                "conclusion": "failure" if self.failing == "ci" and name == CHECKS[-1] else "success",
            }
            for name in CHECKS
        ]
        return json_response({"total_count": len(runs), "check_runs": runs})

    def pulls(self, request: Request, owner: str, repo: str, ref: str = "") -> Response:
        head = ref or request.args.get("head", "release")
        return json_response([_merged_pull(owner, repo, head)])

    def pull(self, request: Request, owner: str, repo: str, number: int) -> Response:
        return json_response({**_merged_pull(owner, repo, "release"), "number": number})

    def reviews(self, request: Request, owner: str, repo: str, number: int) -> Response:
        state = "COMMENTED" if self.failing == "review" else "APPROVED"
        return json_response([{"id": number * 10 + 1, "state": state, "user": {"login": REVIEWER}}])

    def release(self, request: Request, owner: str, repo: str, tag: str) -> Response:
        if self.failing == "release_notes":
            return _github_not_found()
        body = f"release notes for {tag}: marketplace search fixes, faster payouts, dependency updates."
        return json_response(
            {
                "tag_name": tag,
                "name": tag,
                "body": body,
                "draft": False,
                "prerelease": False,
                "html_url": f"https://github.com/{owner}/{repo}/releases/tag/{tag}",
                "published_at": _now_iso(),
            }
        )

    def compare(self, request: Request, owner: str, repo: str, spec: str) -> Response:
        base, separator, head = spec.partition("...")
        if not separator:
            return _github_not_found()
        # "behind" (or "identical"): head is an ancestor of base, that is, the ref is on main.
        identical = base == head
        return json_response(
            {
                "status": "identical" if identical else "behind",
                "ahead_by": 0,
                "behind_by": 0 if identical else 3,
                "base_commit": {"sha": _sha(base)},
                "merge_base_commit": {"sha": _sha(head)},
            }
        )

    def not_found(self, request: Request, rest: str) -> Response:
        return _github_not_found()


def _sha(ref: str) -> str:
    return hashlib.sha1(ref.encode()).hexdigest()


def _merged_pull(owner: str, repo: str, head: str) -> dict[str, object]:
    return {
        "number": MERGED_PR,
        "state": "closed",
        "title": f"Release {head}",
        "merged": True,
        "merged_at": _now_iso(),
        "head": {"ref": head, "sha": _sha(head)},
        "base": {"ref": "main"},
        "html_url": f"https://github.com/{owner}/{repo}/pull/{MERGED_PR}",
    }


def _github_not_found() -> Response:
    return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)


class StatusPageFake:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incidents: dict[str, dict[str, Any]] = {}

    def rules(self, recorder: Recorder) -> list[Rule]:
        incidents = "/statuspage/v1/pages/<page_id>/incidents"
        create, update = recorder.recorded("statuspage", self.create), recorder.recorded("statuspage", self.update)
        return [
            Rule(incidents, endpoint=create, methods=["POST"]),
            Rule(f"{incidents}/<incident_id>", endpoint=update, methods=["PATCH"]),
        ]

    def create(self, request: Request, page_id: str) -> Response:
        fields = _incident_fields(request)
        now = _now_iso()
        incident_id = secrets.token_hex(6)
        incident = {
            "status": "investigating",
            "impact": "minor",
            **fields,
            "id": incident_id,
            "page_id": page_id,
            "created_at": now,
            "updated_at": now,
            "shortlink": f"https://stspg.io/{incident_id}",
        }
        with self._lock:
            self._incidents[incident_id] = incident
        return json_response(incident, 201)

    def update(self, request: Request, page_id: str, incident_id: str) -> Response:
        fields = _incident_fields(request)
        with self._lock:
            incident = self._incidents.get(incident_id)
            if incident is None or incident["page_id"] != page_id:
                return json_response({"error": "The requested resource could not be found."}, 404)
            incident.update(fields, updated_at=_now_iso())
            if fields.get("status") == "resolved":
                incident["resolved_at"] = incident["updated_at"]
            return json_response(dict(incident))


def _incident_fields(request: Request) -> dict[str, Any]:
    incident = request_json(request).get("incident")
    if not isinstance(incident, dict):
        raise ApiError(400, 'body must be {"incident": {...}}')
    return incident


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


class Fakes:
    """All fakes, their shared call recorder, and the control endpoints that inspect them."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.outages = self.recorder.outages
        self.github = GitHubFake()
        self._fakes = [SlackFake(), self.github, StatusPageFake(), PagerFake()]

    def rules(self) -> list[Rule]:
        control = [
            Rule("/_sandbox/calls", endpoint=self.list_calls, methods=["GET"]),
            Rule("/_sandbox/calls", endpoint=self.clear_calls, methods=["DELETE"]),
            Rule("/_sandbox/github", endpoint=self.github_state, methods=["GET"]),
            Rule("/_sandbox/github", endpoint=self.set_github, methods=["POST"]),
        ]
        return control + self.outages.rules() + [rule for fake in self._fakes for rule in fake.rules(self.recorder)]

    def list_calls(self, request: Request) -> Response:
        return json_response(self.recorder.calls(request.args.get("system")))

    def clear_calls(self, request: Request) -> Response:
        return json_response({"cleared": self.recorder.clear()})

    def github_state(self, request: Request) -> Response:
        return json_response({"failing": self.github.failing})

    def set_github(self, request: Request) -> Response:
        try:
            self.github.set_failing(request_json(request).get("failing"))
        except UnknownName as error:
            raise ApiError(400, str(error)) from None
        log.info("github: failing prerequisite %s", self.github.failing or "none")
        return json_response({"failing": self.github.failing})
