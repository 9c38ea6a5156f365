"""Statuspage's public status page: open an incident, keep it in step, resolve it, and mark the
affected services' components as the incident's severity says.

An incident's name carries the workflow's incident ID, so a retry whose first attempt's reply was
lost finds the incident that attempt opened instead of opening a second one.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.http import retry_after
from runbook.config import StatusPageConfig
from runbook.incident import StatusPageChange, StatusPageIncident, StatusPageOpen
from runbook.integrations import Endpoint
from runbook.severity import ComponentStatus

# developer.statuspage.io: "Error codes 420 or 429 indicate that you have exceeded the rate limit".
RATE_LIMITED = (420, 429)
# Statuspage's limit on an incident's name.
NAME_LIMIT = 255
# The largest page of a list Statuspage answers.
PAGE_SIZE = 100


class StatusPageActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint, config: StatusPageConfig) -> None:
        self._http = http
        self._page_url = f"{endpoint.url.rstrip('/')}/pages/{config.page_id}"
        self._headers = {"Authorization": f"OAuth {endpoint.secret.get_secret_value()}"}
        self._public_details = config.public_details
        self._components = config.components

    @activity.defn
    async def open_status_page(self, request: StatusPageOpen) -> StatusPageIncident:
        incident_id = _workflow_id()
        # Only a retry can follow an attempt whose reply was lost.
        earlier = await self._unresolved_named(incident_id) if activity.info().attempt > 1 else None
        if earlier is None:
            fields = {
                "name": _named_with(request.name, incident_id),
                "status": "investigating",
                "body": request.body,
                "impact_override": request.impact,
                **self._component_fields(request.services, request.component_status),
            }
            earlier = await self._send("POST", f"{self._page_url}/incidents", json={"incident": fields})
        return _incident(earlier)

    @activity.defn
    async def update_status_page(self, request: StatusPageChange) -> StatusPageIncident:
        body = request.internal_body if self._public_details and request.internal_body else request.body
        fields = {
            "status": request.status,
            "body": body,
            **self._component_fields(request.services, request.component_status),
        }
        incident = await self._send(
            "PATCH", f"{self._page_url}/incidents/{request.incident_id}", json={"incident": fields}
        )
        return _incident({"id": request.incident_id, **incident})

    def _component_fields(self, services: list[str], status: ComponentStatus | None) -> dict[str, Any]:
        """Statuspage's `components` (each one's new status) and `component_ids` (the affected ones);
        a service without a component on the page is left out."""
        ids = [self._components[service] for service in services if service in self._components]
        if status is None or not ids:
            return {}
        return {"components": dict.fromkeys(ids, status), "component_ids": ids}

    async def _unresolved_named(self, incident_id: str) -> dict[str, Any] | None:
        page = 1
        while True:
            incidents = await self._send(
                "GET", f"{self._page_url}/incidents/unresolved", params={"page": page, "per_page": PAGE_SIZE}
            )
            found = next((incident for incident in incidents if incident_id in incident.get("name", "")), None)
            if found is not None or len(incidents) < PAGE_SIZE:
                return found
            page += 1

    async def _send(self, method: str, url: str, **request: Any) -> Any:
        response = await self._http.request(method, url, headers=self._headers, **request)
        if response.status_code in RATE_LIMITED:
            wait = retry_after(response)
            raise ApplicationError(
                f"status page rate limited {method} (HTTP {response.status_code}); "
                + (f"trying again in {wait.total_seconds():.0f} s" if wait else "trying again with backoff"),
                type="StatusPageRateLimited",
                next_retry_delay=wait,
            )
        if response.is_client_error:
            raise ApplicationError(
                f"status page refused {method}: HTTP {response.status_code} {response.text[:200]}",
                type="StatusPageRefused",
                non_retryable=True,
            )
        response.raise_for_status()
        return response.json()


def _workflow_id() -> str:
    """The incident workflow's ID, which is the incident's ID."""
    workflow_id = activity.info().workflow_id
    if not workflow_id:
        raise ApplicationError("a status page incident is opened by an incident workflow only", non_retryable=True)
    return workflow_id


def _named_with(name: str, incident_id: str) -> str:
    """The name with the incident ID at its end, within Statuspage's limit: the ID is never cut."""
    if incident_id in name and len(name) <= NAME_LIMIT:
        return name
    suffix = f" ({incident_id})"
    room = NAME_LIMIT - len(suffix)
    return (name if len(name) <= room else name[: room - 1] + "…") + suffix


def _incident(answer: dict[str, Any]) -> StatusPageIncident:
    return StatusPageIncident(id=str(answer["id"]), shortlink=str(answer.get("shortlink") or ""))
