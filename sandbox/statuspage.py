"""Statuspage's REST API (developer.statuspage.io) for one page: its incidents and components.

As strict as the service: `Authorization: OAuth <key>`, the configured page only, the documented
enums and limits, and components that only the configured IDs name. Errors are Statuspage's
ErrorEntity, `{"message": ...}`, with the status its API reference gives. An incident's
`components` map changes those components' status, as on the real page.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import StatusPageConfig
from sandbox.recorder import Recorder, now_iso
from sandbox.web import ApiError, Handler, json_response, request_json

INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
SCHEDULED_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
IMPACTS = ("none", "maintenance", "minor", "major", "critical")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
NAME_LIMIT = 255
BODY_LIMIT = 25000
# The most rows a list answers, and its default.
PAGE_SIZE = 100
# Every field of the documented incident object a create or update takes.
INCIDENT_FIELDS = frozenset(
    {
        "name",
        "status",
        "impact_override",
        "scheduled_for",
        "scheduled_until",
        "scheduled_remind_prior",
        "auto_transition_to_maintenance_state",
        "auto_transition_to_operational_state",
        "scheduled_auto_in_progress",
        "scheduled_auto_completed",
        "auto_transition_deliver_notifications_at_start",
        "auto_transition_deliver_notifications_at_end",
        "metadata",
        "deliver_notifications",
        "auto_tweet_at_beginning",
        "auto_tweet_on_completion",
        "auto_tweet_on_creation",
        "auto_tweet_one_hour_before",
        "backfill_date",
        "backfilled",
        "body",
        "components",
        "component_ids",
        "scheduled_auto_transition",
    }
)
# The descriptions developer.statuspage.io gives each error status.
NOT_AUTHENTICATED = "Could not authenticate"
NOT_FOUND = "The requested resource could not be found."


class StatusPageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StatusPageFake:
    def __init__(self, config: StatusPageConfig) -> None:
        self.page_id = config.page_id
        self._lock = threading.Lock()
        self._incidents: dict[str, dict[str, Any]] = {}
        created = now_iso()
        self._components = {
            component_id: {
                "id": component_id,
                "page_id": config.page_id,
                "group_id": None,
                "group": False,
                "name": service,
                "description": None,
                "position": position,
                "status": "operational",
                "showcase": True,
                "only_show_if_degraded": False,
                "created_at": created,
                "updated_at": created,
            }
            for position, (service, component_id) in enumerate(config.components.items(), start=1)
        }

    def rules(self, recorder: Recorder) -> list[Rule]:
        page = "/statuspage/v1/pages/<page_id>"
        routes: list[tuple[str, Callable[..., Response], list[str]]] = [
            (f"{page}/incidents", self.list_incidents, ["GET"]),
            (f"{page}/incidents", self.create, ["POST"]),
            (f"{page}/incidents/unresolved", self.unresolved, ["GET"]),
            (f"{page}/incidents/<incident_id>", self.incident, ["GET"]),
            (f"{page}/incidents/<incident_id>", self.update, ["PATCH"]),
            (f"{page}/components", self.components, ["GET"]),
        ]
        return [
            Rule(path, endpoint=recorder.recorded("statuspage", self._guarded(handler)), methods=methods)
            for path, handler, methods in routes
        ]

    def _guarded(self, handler: Callable[..., Response]) -> Handler:
        """Statuspage's checks before any answer: the API key, then the page; refusals as its ErrorEntity."""

        def handle(request: Request, page_id: str, **arguments: Any) -> Response:
            try:
                if not _authenticated(request):
                    raise StatusPageError(401, NOT_AUTHENTICATED)
                if page_id != self.page_id:
                    raise StatusPageError(404, NOT_FOUND)
                return handler(request, **arguments)
            except ApiError as error:  # the body is not JSON, or not an object
                return json_response({"message": error.message}, 400)
            except StatusPageError as error:
                return json_response({"message": error.message}, error.status)

        return handle

    def create(self, request: Request) -> Response:
        fields = self._incident_fields(request, creating=True)
        now = now_iso()
        incident_id = secrets.token_hex(6)
        incident: dict[str, Any] = {
            "id": incident_id,
            "page_id": self.page_id,
            "name": fields["name"],
            "status": fields.get("status", "investigating"),
            "impact": fields.get("impact_override", "none"),
            "impact_override": fields.get("impact_override"),
            "created_at": now,
            "updated_at": now,
            "monitoring_at": None,
            "resolved_at": None,
            "shortlink": f"https://stspg.io/{incident_id}",
            "metadata": fields.get("metadata", {}),
            "components": [],
            "incident_updates": [],
        }
        with self._lock:
            self._apply(incident, fields, now)
            self._incidents[incident_id] = incident
            return json_response(_copy(incident), 201)

    def update(self, request: Request, incident_id: str) -> Response:
        fields = self._incident_fields(request, creating=False)
        with self._lock:
            incident = self._incidents.get(incident_id)
            if incident is None:
                raise StatusPageError(404, NOT_FOUND)
            now = now_iso()
            incident.update({key: fields[key] for key in ("name", "status", "metadata") if key in fields})
            if "impact_override" in fields:
                incident["impact"] = incident["impact_override"] = fields["impact_override"]
            incident["updated_at"] = now
            self._apply(incident, fields, now)
            return json_response(_copy(incident))

    def incident(self, request: Request, incident_id: str) -> Response:
        with self._lock:
            incident = self._incidents.get(incident_id)
            if incident is None:
                raise StatusPageError(404, NOT_FOUND)
            return json_response(_copy(incident))

    def list_incidents(self, request: Request) -> Response:
        """Newest first; `q` searches the name, status, postmortem and updates, as documented."""
        query = request.args.get("q", "").lower()
        size, number = _page_size(request, "limit"), _page_number(request)
        with self._lock:
            found = [incident for incident in self._newest_first() if query in _searchable(incident)]
            return json_response(_one_page(found, size, number))

    def unresolved(self, request: Request) -> Response:
        size, number = _page_size(request, "per_page"), _page_number(request)
        with self._lock:
            found = [incident for incident in self._newest_first() if incident["status"] != "resolved"]
            return json_response(_one_page(found, size, number))

    def components(self, request: Request) -> Response:
        size, number = _page_size(request, "per_page"), _page_number(request)
        with self._lock:
            return json_response(_one_page([dict(c) for c in self._components.values()], size, number))

    def _newest_first(self) -> list[dict[str, Any]]:
        return [_copy(incident) for incident in reversed(self._incidents.values())]

    def _incident_fields(self, request: Request, creating: bool) -> dict[str, Any]:
        incident = request_json(request).get("incident")
        if not isinstance(incident, dict):
            raise StatusPageError(400, 'the body must be {"incident": {...}}')
        unknown = sorted(set(incident) - INCIDENT_FIELDS)
        if unknown:
            raise StatusPageError(422, f"unknown incident field(s): {', '.join(unknown)}")
        name = incident.get("name")
        if (creating or "name" in incident) and (not isinstance(name, str) or not name.strip()):
            raise StatusPageError(422, "name can't be blank")
        if isinstance(name, str) and len(name) > NAME_LIMIT:
            raise StatusPageError(422, f"name is too long (maximum is {NAME_LIMIT} characters)")
        body = incident.get("body")
        if body is not None and (not isinstance(body, str) or len(body) > BODY_LIMIT):
            raise StatusPageError(422, f"body must be text of at most {BODY_LIMIT} characters")
        _one_of(incident, "status", (*INCIDENT_STATUSES, *SCHEDULED_STATUSES))
        _one_of(incident, "impact_override", IMPACTS)
        self._check_components(incident)
        return incident

    def _check_components(self, incident: dict[str, Any]) -> None:
        changes, affected = incident.get("components", {}), incident.get("component_ids", [])
        if not isinstance(changes, dict):
            raise StatusPageError(422, "components must map component IDs to a status")
        if not isinstance(affected, list) or not all(isinstance(i, str) for i in affected):
            raise StatusPageError(422, "component_ids must be a list of component IDs")
        unknown = sorted({*changes, *affected} - set(self._components))
        if unknown:
            raise StatusPageError(422, f"unknown component(s) {', '.join(unknown)} on page {self.page_id}")
        for component_id, status in changes.items():
            if status not in COMPONENT_STATUSES:
                raise StatusPageError(
                    422, f"components.{component_id}: {status!r} is not one of {', '.join(COMPONENT_STATUSES)}"
                )

    def _apply(self, incident: dict[str, Any], fields: dict[str, Any], now: str) -> None:
        """The components' new status, the incident's affected components, and its update, if any."""
        changes: dict[str, str] = fields.get("components", {})
        for component_id, status in changes.items():
            self._components[component_id].update(status=status, updated_at=now)
        affected = [*dict.fromkeys([*fields.get("component_ids", []), *changes])]
        if affected:
            incident["components"] = [dict(self._components[component_id]) for component_id in affected]
        if fields.get("status") == "monitoring":
            incident["monitoring_at"] = now
        if fields.get("status") == "resolved":
            incident["resolved_at"] = now
        # Opening an incident is its first update; later ones are those that say something.
        if not incident["incident_updates"] or "body" in fields or "status" in fields:
            update = {
                "id": secrets.token_hex(6),
                "incident_id": incident["id"],
                "status": incident["status"],
                "body": fields.get("body", ""),
                "created_at": now,
                "affected_components": [
                    {"code": component_id, "name": self._components[component_id]["name"], "new_status": status}
                    for component_id, status in changes.items()
                ],
            }
            incident["incident_updates"].insert(0, update)


def _authenticated(request: Request) -> bool:
    """`Authorization: OAuth <key>`, or the documented `api_key` query parameter."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return (scheme == "OAuth" and bool(key.strip())) or bool(request.args.get("api_key"))


def _one_of(incident: dict[str, Any], field: str, allowed: tuple[str, ...]) -> None:
    if field in incident and incident[field] not in allowed:
        raise StatusPageError(422, f"{field}: {incident[field]!r} is not one of {', '.join(allowed)}")


def _page_size(request: Request, name: str) -> int:
    return min(_whole_number(request, name, PAGE_SIZE), PAGE_SIZE)


def _page_number(request: Request) -> int:
    return _whole_number(request, "page", 1)


def _whole_number(request: Request, name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise StatusPageError(400, f"{name} must be a whole number, 1 or more; got {text!r}")
    return int(text)


def _one_page(rows: list[dict[str, Any]], size: int, number: int) -> list[dict[str, Any]]:
    return rows[(number - 1) * size : number * size]


def _searchable(incident: dict[str, Any]) -> str:
    updates = " ".join(update["body"] for update in incident["incident_updates"])
    return f"{incident['name']} {incident['status']} {incident.get('postmortem_body') or ''} {updates}".lower()


def _copy(incident: dict[str, Any]) -> dict[str, Any]:
    return {
        **incident,
        "components": [dict(c) for c in incident["components"]],
        "incident_updates": list(incident["incident_updates"]),
    }
