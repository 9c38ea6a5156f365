"""PagerDuty: the Events API v2 pages the on-call, then acknowledges and resolves the same alert;
the REST API escalates to a person and reads back who acknowledged.

The incident ID is the dedup key, so every event lands on the one alert and a retried trigger opens
nothing new. The routing key selects a service, not a person: a second trigger only adds a log
entry to the open alert, so escalation adds the person as a responder (or moves the incident up its
escalation policy) through the REST API, and the workflow learns of an acknowledgement made in
PagerDuty by reading the incident's status.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from runbook.config import RunbookConfig
from runbook.incident import PageAccepted, PageAction, PageRequest
from runbook.integrations import Endpoint
from runbook.messages.escape import pager_summary
from runbook.pager import API_VERSION, AcknowledgementWatch, PageAcknowledged, PageEscalated, PageEscalation

# PagerDuty asks clients that are rate limited to back off; it sends no Retry-After.
RATE_LIMITED_BACKOFF = timedelta(seconds=30)
# Cancellation reaches an activity only through a heartbeat: the watch heartbeats this often
# between its polls, so a workflow that cancels it (acknowledged from the CLI) ends it promptly.
HEARTBEAT_EVERY = timedelta(seconds=5)
# A refused credential or permission: no retry or further poll can fix it. A refused request (400,
# or 402 for an account without the ability) no retry can fix either.
_PERMANENT = ("HTTP 401", "HTTP 403")
_REFUSED = (*_PERMANENT, "HTTP 400", "HTTP 402")

logger = logging.getLogger(__name__)


class PagerActivities:
    def __init__(self, http: httpx.AsyncClient, config: RunbookConfig, events: Endpoint, api: Endpoint) -> None:
        self._http = http
        self._config = config
        self._events_url = events.url
        self._routing_key = events.secret
        self._api_url = api.url.rstrip("/")
        self._api_token = api.secret
        # The runbook's own PagerDuty user ([pager] requester_email), looked up once.
        self._requester_id: str | None = None

    # Events API v2 ------------------------------------------------------------------------------

    @activity.defn
    async def trigger_page(self, request: PageRequest) -> PageAccepted:
        workflow_id = activity.info().workflow_id or ""
        payload = {
            "summary": pager_summary(request.summary),
            "source": self._source(request.environment),
            "severity": request.severity,
            "component": request.component,
            "custom_details": {
                **request.custom_details,
                "workflow_id": workflow_id,
                "runbook_ui": self._config.temporal.workflow_link(workflow_id),
            },
        }
        return await self._send({"event_action": "trigger", "dedup_key": request.dedup_key, "payload": payload})

    @activity.defn
    async def acknowledge_page(self, request: PageAction) -> PageAccepted:
        return await self._send({"event_action": "acknowledge", "dedup_key": request.dedup_key})

    @activity.defn
    async def resolve_page(self, request: PageAction) -> PageAccepted:
        return await self._send({"event_action": "resolve", "dedup_key": request.dedup_key})

    def _source(self, environment: str) -> str:
        """The affected system's host, as the Events API asks of `source`."""
        name = environment or self._config.incidents.environment
        base_url = self._config.environments[name].base_url
        return urlsplit(base_url).hostname or base_url

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

    # REST API: escalation -----------------------------------------------------------------------

    @activity.defn
    async def escalate_page(self, escalation: PageEscalation) -> PageEscalated:
        """Add the person as a responder when PagerDuty knows them, else move the incident to the
        escalation policy's next level. A retry finds what its earlier attempt did."""
        incident = await self._incident_by_key(escalation.dedup_key, "triggered", "acknowledged")
        if incident is None:
            # The Events API is asynchronous: the trigger's incident may not be there yet.
            raise ApplicationError(f"no open PagerDuty incident has incident_key {escalation.dedup_key} yet")
        person = self._config.people.get(escalation.to)
        if person is not None and person.pagerduty_id:
            return await self._add_responder(incident, escalation.to, person.pagerduty_id)
        return await self._escalate_to_level(incident, escalation.policy_level)

    async def _add_responder(self, incident: dict[str, Any], name: str, user_id: str) -> PageEscalated:
        who = f"{name} ({user_id})"
        responders = {responder["user"]["id"] for responder in incident.get("incidents_responders", [])}
        if user_id in responders:
            return PageEscalated(action="unchanged", detail=f"{who} is a responder already", incident_id=incident["id"])
        body = {
            "requester_id": await self._requester(),
            "message": f"Escalated by the runbook: {incident.get('title', incident['id'])}",
            "responder_request_targets": [{"responder_request_target": {"id": user_id, "type": "user_reference"}}],
        }
        await self._rest("POST", f"/incidents/{incident['id']}/responder_requests", json=body)
        return PageEscalated(action="responder_added", detail=f"added {who} as responder", incident_id=incident["id"])

    async def _escalate_to_level(self, incident: dict[str, Any], level: int) -> PageEscalated:
        policy = incident["escalation_policy"]["id"]
        oncalls = (await self._rest("GET", "/oncalls", params={"escalation_policy_ids[]": policy}))["oncalls"]
        levels = {oncall["user"]["id"]: oncall["escalation_level"] for oncall in oncalls}
        assigned = [levels.get(a["assignee"]["id"], 0) for a in incident.get("assignments", [])]
        if assigned and min(assigned) >= level:
            detail = f"at level {min(assigned)} of the escalation policy already"
            return PageEscalated(action="unchanged", detail=detail, incident_id=incident["id"])
        if level not in levels.values():
            detail = f"the escalation policy has nobody on call at level {level}"
            return PageEscalated(action="unchanged", detail=detail, incident_id=incident["id"])
        body = {"incident": {"type": "incident_reference", "escalation_level": level}}
        await self._rest("PUT", f"/incidents/{incident['id']}", json=body, as_requester=True)
        detail = f"escalated to level {level} of the escalation policy"
        return PageEscalated(action="escalated", detail=detail, incident_id=incident["id"])

    async def _requester(self) -> str:
        if self._requester_id is None:
            email = self._config.pager.requester_email
            users = (await self._rest("GET", "/users", params={"query": email}))["users"]
            match = next((user for user in users if user.get("email", "").lower() == email.lower()), None)
            if match is None:
                raise ApplicationError(
                    f"[pager] requester_email {email} is no PagerDuty user: add that user in PagerDuty",
                    non_retryable=True,
                )
            self._requester_id = str(match["id"])
        return self._requester_id

    # REST API: acknowledgement ------------------------------------------------------------------

    @activity.defn
    async def await_acknowledgement(self, watch: AcknowledgementWatch) -> PageAcknowledged:
        """Read the incident's status every [pager] acknowledgement_poll until a person acknowledges
        it in PagerDuty, or it is resolved. Runs until then, or until the workflow cancels it."""
        poll = self._config.pager.acknowledgement_poll
        polls = 0
        while True:
            polls += 1
            try:
                acknowledged = _acknowledgement(await self._incident_by_key(watch.dedup_key), self._config)
            except ApplicationError as error:
                if error.type in _PERMANENT:
                    raise
                acknowledged = None
                logger.warning("PagerDuty incident %s not read: %s; polling on", watch.dedup_key, error)
            except httpx.HTTPError as error:
                acknowledged = None
                logger.warning("PagerDuty incident %s not read: %r; polling on", watch.dedup_key, error)
            if acknowledged is not None:
                return acknowledged
            activity.heartbeat(polls)
            await _wait_heartbeating(poll, polls)

    async def _incident_by_key(self, dedup_key: str, *statuses: str) -> dict[str, Any] | None:
        """The newest incident with this incident_key (a resolved key triggers a new incident),
        among those in `statuses`, or in any status."""
        params = {"incident_key": dedup_key, "statuses[]": list(statuses)}
        incidents = (await self._rest("GET", "/incidents", params=params))["incidents"]
        return max(incidents, key=lambda incident: incident.get("created_at", ""), default=None)

    async def _rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: object = None,
        as_requester: bool = False,
    ) -> dict[str, Any]:
        headers = {
            "Authorization": f"Token token={self._api_token.get_secret_value()}",
            "Accept": API_VERSION,
            "Content-Type": "application/json",
        }
        if as_requester:
            # Changes are made as a user: PagerDuty wants that user's email in From.
            headers["From"] = self._config.pager.requester_email
        response = await self._http.request(method, f"{self._api_url}{path}", params=params, json=json, headers=headers)
        if response.status_code == 429:
            raise ApplicationError("PagerDuty rate limited", next_retry_delay=RATE_LIMITED_BACKOFF)
        if response.is_client_error:
            status = f"HTTP {response.status_code}"
            raise ApplicationError(
                f"PagerDuty refused {method} {path}: {status} {_rest_error(response)}",
                type=status,
                non_retryable=status in _REFUSED,
            )
        response.raise_for_status()
        return dict(response.json())


def _acknowledgement(incident: dict[str, Any] | None, config: RunbookConfig) -> PageAcknowledged | None:
    """Who acknowledged the incident, mapped to a person; None while nobody has. An acknowledgement
    by the service itself (the runbook's own Events API acknowledge) is nobody's."""
    if incident is None:
        return None
    by_people = [
        ack for ack in incident.get("acknowledgements", []) if ack["acknowledger"].get("type") == "user_reference"
    ]
    if by_people:
        first = min(by_people, key=lambda ack: ack["at"])
        return _answer(incident, "acknowledged", first["acknowledger"], first["at"], config)
    if incident["status"] == "resolved":
        at = incident.get("resolved_at") or incident.get("last_status_change_at", "")
        return _answer(incident, "resolved", incident.get("last_status_change_by") or {}, at, config)
    return None


def _answer(
    incident: dict[str, Any],
    status: Literal["acknowledged", "resolved"],
    user: dict[str, Any],
    at: str,
    config: RunbookConfig,
) -> PageAcknowledged:
    user_id = str(user.get("id", ""))
    name = config.people.by_pagerduty_id(user_id) or str(user.get("summary", user_id))
    return PageAcknowledged(
        status=status, by=name, pagerduty_user=user_id, at=datetime.fromisoformat(at), incident_id=incident["id"]
    )


async def _wait_heartbeating(wait: timedelta, polls: int) -> None:
    remaining = wait.total_seconds()
    while remaining > 0:
        step = min(remaining, HEARTBEAT_EVERY.total_seconds())
        await asyncio.sleep(step)
        remaining -= step
        activity.heartbeat(polls)


def _errors(response: httpx.Response) -> str:
    try:
        return "; ".join(response.json().get("errors", []))
    except ValueError:
        return response.text[:200]


def _rest_error(response: httpx.Response) -> str:
    """PagerDuty's REST error: {"error": {"message", "code", "errors"}}."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text[:200]
    details = "; ".join(error.get("errors", []))
    return f"{error.get('message', '')} (code {error.get('code')})" + (f": {details}" if details else "")
