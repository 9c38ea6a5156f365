"""Statuspage's REST API for one page's incidents."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sandbox.recorder import Recorder, now_iso
from sandbox.web import ApiError, json_response, request_json


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
        now = now_iso()
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
            incident.update(fields, updated_at=now_iso())
            if fields.get("status") == "resolved":
                incident["resolved_at"] = incident["updated_at"]
            return json_response(dict(incident))


def _incident_fields(request: Request) -> dict[str, Any]:
    incident = request_json(request).get("incident")
    if not isinstance(incident, dict):
        raise ApiError(400, 'body must be {"incident": {...}}')
    return incident
