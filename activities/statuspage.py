"""A Statuspage-style public status page: open an incident, keep it in step, resolve it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from runbook.incident import StatusPageChange, StatusPageIncident, StatusPageOpen
from runbook.integrations import Endpoint


class StatusPageActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint, page_id: str, public_details: bool = False) -> None:
        self._http = http
        self._incidents_url = f"{endpoint.url.rstrip('/')}/pages/{page_id}/incidents"
        self._headers = {"Authorization": f"OAuth {endpoint.secret.get_secret_value()}"}
        self._public_details = public_details

    @activity.defn
    async def open_status_page(self, request: StatusPageOpen) -> StatusPageIncident:
        fields = {
            "name": request.name,
            "status": "investigating",
            "body": request.body,
            "impact_override": request.impact,
        }
        incident = await self._send("POST", self._incidents_url, fields)
        return StatusPageIncident(id=str(incident["id"]), shortlink=str(incident.get("shortlink", "")))

    @activity.defn
    async def update_status_page(self, request: StatusPageChange) -> StatusPageIncident:
        body = request.internal_body if self._public_details and request.internal_body else request.body
        incident = await self._send(
            "PATCH", f"{self._incidents_url}/{request.incident_id}", {"status": request.status, "body": body}
        )
        return StatusPageIncident(
            id=str(incident.get("id", request.incident_id)), shortlink=str(incident.get("shortlink", ""))
        )

    async def _send(self, method: str, url: str, fields: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.request(method, url, json={"incident": fields}, headers=self._headers)
        if response.status_code == 429:
            retry_after = float(response.headers.get("Retry-After", "5"))
            raise ApplicationError("status page rate limited", next_retry_delay=timedelta(seconds=retry_after))
        if response.is_client_error:
            raise ApplicationError(
                f"status page refused {method}: HTTP {response.status_code} {response.text[:200]}", non_retryable=True
            )
        response.raise_for_status()
        return response.json()
