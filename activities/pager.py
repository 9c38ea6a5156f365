"""PagerDuty Events API v2: page the on-call, then acknowledge and resolve the same alert.

The incident ID is the dedup key, so every event lands on the one alert and a retried trigger
opens nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from runbook.incident import PageAccepted, PageAction, PageRequest
from runbook.integrations import Endpoint
from runbook.messages.escape import pager_summary

# PagerDuty asks clients that are rate limited to back off; it sends no Retry-After.
RATE_LIMITED_BACKOFF = timedelta(seconds=30)


class PagerActivities:
    def __init__(self, http: httpx.AsyncClient, endpoint: Endpoint) -> None:
        self._http = http
        self._events_url = endpoint.url
        self._routing_key = endpoint.secret

    @activity.defn
    async def trigger_page(self, request: PageRequest) -> PageAccepted:
        payload = {
            "summary": pager_summary(request.summary),
            "source": "runbook",
            "severity": request.severity,
            "component": request.component,
            "custom_details": request.custom_details,
        }
        return await self._send({"event_action": "trigger", "dedup_key": request.dedup_key, "payload": payload})

    @activity.defn
    async def acknowledge_page(self, request: PageAction) -> PageAccepted:
        return await self._send({"event_action": "acknowledge", "dedup_key": request.dedup_key})

    @activity.defn
    async def resolve_page(self, request: PageAction) -> PageAccepted:
        return await self._send({"event_action": "resolve", "dedup_key": request.dedup_key})

    async def _send(self, event: dict[str, Any]) -> PageAccepted:
        response = await self._http.post(
            self._events_url, json={"routing_key": self._routing_key.get_secret_value(), **event}
        )
        if response.status_code == 429:
            raise ApplicationError("PagerDuty rate limited", next_retry_delay=RATE_LIMITED_BACKOFF)
        if response.is_client_error:
            raise ApplicationError(
                f"PagerDuty refused the event: HTTP {response.status_code} {_errors(response)}", non_retryable=True
            )
        response.raise_for_status()
        return PageAccepted(dedup_key=str(response.json().get("dedup_key", event["dedup_key"])))


def _errors(response: httpx.Response) -> str:
    try:
        return "; ".join(response.json().get("errors", []))
    except ValueError:
        return response.text[:200]
