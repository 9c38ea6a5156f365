"""PagerDuty, as strict as the service: the Events API v2 that triggers, acknowledges and resolves,
and the REST API that escalates, adds responders and shows who acknowledged, and the v3 webhook
`incident.acknowledged` it sends the gateway when a person acknowledges.

The sandbox's account has one service, whose escalation policy is the configuration's: level 1 the
on-call (the first of [incidents] responders), then [incidents] escalation in order; its users are
the [people] with a PagerDuty ID, and the runbook's own user ([pager] requester_email), which the
REST API's changes are made as. Every incident keeps whom it notified and why, so a test can see
that a second trigger pages nobody new. `GET /_sandbox/pagerduty` shows the account and incidents,
and each webhook delivery with its answer. A person's acknowledgement through the REST API is also
sent to the gateway ([gateway] host and port, /pagerduty/webhook), signed with
PAGERDUTY_WEBHOOK_SECRET as PagerDuty signs, from a thread of its own; the sandbox's own header
`X-Sandbox-Webhook: off` on the request acknowledges without it, so that the worker's polling of
the REST API can be tried alone.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import string
import threading
import uuid
from typing import Any

import httpx
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig
from runbook.pager import API_VERSION
from runbook.signatures import pagerduty_signature
from sandbox.recorder import Recorder, now_iso
from sandbox.web import ApiError, json_response, request_json
from starter.sandbox_pagerduty import NO_WEBHOOK_HEADER

PAGER_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGER_SEVERITIES = ("critical", "error", "warning", "info")
INCIDENT_STATUSES = ("triggered", "acknowledged", "resolved")
OPEN = ("triggered", "acknowledged")
STATUS_LOG_ENTRIES = {
    "triggered": "trigger_log_entry",
    "acknowledged": "acknowledge_log_entry",
    "resolved": "resolve_log_entry",
}
ROUTING_KEY_LENGTH = 32
DEDUP_KEY_LIMIT = 255
SUMMARY_LIMIT = 1024
API = "/pagerduty/api"
SERVICE = {"id": "PSKLSVC", "type": "service_reference", "summary": "Skillancer"}
POLICY = {"id": "PSKLPOL", "type": "escalation_policy_reference", "summary": "Skillancer on-call"}
RUNBOOK_USER_ID = "PRUNBK1"
WEBHOOK_SUBSCRIPTION_ID = "PSKLWHK"
# PagerDuty waits 5 s for a webhook's answer; the sandbox's gateway is local.
WEBHOOK_TIMEOUT_S = 5.0
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9]*$")


class RestError(Exception):
    """An error as PagerDuty's REST API answers it: {"error": {"message", "code", "errors"}}."""

    def __init__(self, status: int, code: int, message: str, *errors: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, list(errors)

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = self.errors
        return json_response({"error": error}, self.status)


def _invalid(*errors: str) -> RestError:
    return RestError(400, 2001, "Invalid Input Provided", *errors)


class PagerFake:
    def __init__(
        self,
        config: RunbookConfig,
        routing_key: str,
        api_token: str,
        *,
        webhook_url: str = "",
        webhook_secret: str = "",
    ) -> None:
        self._routing_key = routing_key
        self._api_token = api_token
        # "" sends no webhooks: the account has no webhook subscription.
        self._webhook_url, self._webhook_secret = webhook_url, webhook_secret
        self._deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._incidents: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        people = config.people.root
        for name, person in people.items():
            if person.pagerduty_id:
                self._users[person.pagerduty_id] = _user(person.pagerduty_id, name, person.email or "")
        self._users[RUNBOOK_USER_ID] = _user(RUNBOOK_USER_ID, "Runbook", config.pager.requester_email)
        # The escalation policy's levels, 1-based: who is on call at each.
        on_call = [*config.incidents.responders[:1], *config.incidents.escalation]
        self._levels = [[people[name].pagerduty_id] for name in on_call if people[name].pagerduty_id]

    def rules(self, recorder: Recorder) -> list[Rule]:
        def rest(handler: Any) -> Any:
            return recorder.recorded("pagerduty", self._rest(handler), action="rest")

        return [
            Rule(
                "/pagerduty/v2/enqueue",
                endpoint=recorder.recorded("pagerduty", self.enqueue, action="events"),
                methods=["POST"],
            ),
            Rule(f"{API}/incidents", endpoint=rest(self.list_incidents), methods=["GET"]),
            Rule(f"{API}/incidents/<incident_id>", endpoint=rest(self.get_incident), methods=["GET"]),
            Rule(f"{API}/incidents/<incident_id>", endpoint=rest(self.update_incident), methods=["PUT"]),
            Rule(
                f"{API}/incidents/<incident_id>/responder_requests",
                endpoint=rest(self.request_responders),
                methods=["POST"],
            ),
            Rule(f"{API}/users", endpoint=rest(self.list_users), methods=["GET"]),
            Rule(f"{API}/oncalls", endpoint=rest(self.list_oncalls), methods=["GET"]),
            Rule(f"{API}/<path:rest>", endpoint=rest(self.not_found), methods=["GET", "POST", "PUT", "DELETE"]),
            Rule("/_sandbox/pagerduty", endpoint=self.state, methods=["GET"]),
        ]

    # Events API v2 ------------------------------------------------------------------------------

    def enqueue(self, request: Request) -> Response:
        try:
            event = request_json(request)
        except ApiError:
            unrecognized = {"status": "Unrecognized object", "message": "Event object format is unrecognized"}
            return json_response({**unrecognized, "errors": ["JSON parse error"]}, 400)
        errors = _event_errors(event)
        if not errors and event["routing_key"] != self._routing_key:
            errors = ["Invalid routing key"]
        if errors:
            invalid = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            return json_response(invalid, 400)
        dedup_key = event.get("dedup_key") or secrets.token_hex(16)
        with self._lock:
            incident = self._open_incident(dedup_key)
            action = event["event_action"]
            if action == "trigger":
                self._trigger(incident, dedup_key, event["payload"])
            elif incident is not None:
                # Acknowledge and resolve are made by the integration, not a person.
                self._set_status(incident, "acknowledged" if action == "acknowledge" else "resolved", SERVICE)
            # An acknowledge or resolve for no open alert is dropped, with the same answer.
        return json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202)

    def _open_incident(self, incident_key: str) -> dict[str, Any] | None:
        return next(
            (i for i in self._incidents.values() if i["incident_key"] == incident_key and i["status"] in OPEN), None
        )

    def _trigger(self, incident: dict[str, Any] | None, dedup_key: str, payload: dict[str, Any]) -> None:
        if incident is not None:
            # The open alert gets a log entry; nobody new is notified.
            _log(incident, "trigger_log_entry", f"Triggered again: {payload['summary']}", SERVICE)
            return
        number = next(self._numbers)
        incident = {
            "id": "Q" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(13)),
            "type": "incident",
            "incident_number": number,
            "title": payload["summary"],
            "summary": f"[#{number}] {payload['summary']}",
            "status": "triggered",
            "incident_key": dedup_key,
            "created_at": now_iso(),
            "service": SERVICE,
            "escalation_policy": POLICY,
            "urgency": "high",
            "assignments": [],
            "acknowledgements": [],
            "incidents_responders": [],
            "last_status_change_by": SERVICE,
            # The sandbox's own record, beside what PagerDuty shows of an incident.
            "escalation_level": 0,
            "log_entries": [],
            "notifications": [],
            "source": payload["source"],
        }
        self._incidents[incident["id"]] = incident
        _log(incident, "trigger_log_entry", f"Triggered through the API: {payload['summary']}", SERVICE)
        self._escalate(incident, 1, "triggered: assigned by the escalation policy")

    def _escalate(self, incident: dict[str, Any], level: int, reason: str) -> None:
        users = self._levels[level - 1] if level <= len(self._levels) else []
        incident["escalation_level"] = level
        incident["assignments"] = [{"at": now_iso(), "assignee": self._reference(user)} for user in users]
        _log(incident, "escalate_log_entry", f"Escalated to level {level}", SERVICE)
        for user in users:
            self._notify(incident, user, f"{reason} (level {level})")

    def _notify(self, incident: dict[str, Any], user_id: str, reason: str) -> None:
        user = self._users[user_id]
        incident["notifications"].append({"user": user_id, "name": user["name"], "reason": reason, "at": now_iso()})

    def _set_status(self, incident: dict[str, Any], status: str, agent: dict[str, Any]) -> None:
        incident["status"] = status
        incident["last_status_change_by"] = agent
        incident["last_status_change_at"] = now_iso()
        if status == "acknowledged":
            incident["acknowledgements"].append({"at": now_iso(), "acknowledger": agent})
        if status == "resolved":
            incident["resolved_at"] = now_iso()
        _log(incident, STATUS_LOG_ENTRIES[status], status.capitalize(), agent)

    # REST API -----------------------------------------------------------------------------------

    def _rest(self, handler: Any) -> Any:
        def handle(request: Request, **arguments: Any) -> Response:
            try:
                if request.headers.get("Authorization", "") != f"Token token={self._api_token}":
                    raise RestError(401, 2006, "Authentication failed")
                if request.headers.get("Accept", "") != API_VERSION:
                    raise _invalid(f"the Accept header must be {API_VERSION}")
                with self._lock:
                    return handler(request, **arguments)
            except ApiError as error:
                return _invalid(error.message).response()
            except RestError as error:
                return error.response()

        return handle

    def list_incidents(self, request: Request) -> Response:
        statuses = request.args.getlist("statuses[]")
        unknown = [status for status in statuses if status not in INCIDENT_STATUSES]
        if unknown:
            raise _invalid(f"statuses[] must be among {', '.join(INCIDENT_STATUSES)}; got {', '.join(unknown)}")
        key = request.args.get("incident_key")
        incidents = [
            self._shown(incident)
            for incident in self._incidents.values()
            if (key is None or incident["incident_key"] == key) and (not statuses or incident["status"] in statuses)
        ]
        return json_response({"incidents": incidents, "limit": 25, "offset": 0, "more": False, "total": None})

    def get_incident(self, request: Request, incident_id: str) -> Response:
        return json_response({"incident": self._shown(self._incident(incident_id))})

    def update_incident(self, request: Request, incident_id: str) -> Response:
        requester = self._requester(request)
        incident = self._incident(incident_id)
        body = request_json(request).get("incident")
        if not isinstance(body, dict):
            raise _invalid("incident is required")
        if body.get("type") not in ("incident", "incident_reference"):
            raise _invalid("incident type must be incident or incident_reference")
        status, level = body.get("status"), body.get("escalation_level")
        if status is not None and status not in INCIDENT_STATUSES:
            raise RestError(400, 1003, "Invalid Status Provided")
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= len(self._levels):
                raise RestError(400, 1006, "Cannot Escalate", f"escalation_level must be 1 to {len(self._levels)}")
            if incident["status"] == "resolved":
                raise RestError(400, 1001, "Incident Already Resolved")
            self._escalate(incident, level, f"escalated by {requester['summary']}")
        if status is not None and status != incident["status"]:
            # Setting a resolved incident acknowledged reopens it (the API reference says so).
            self._set_status(incident, status, requester)
            if status == "acknowledged" and request.headers.get(NO_WEBHOOK_HEADER, "").lower() != "off":
                self._send_webhook("incident.acknowledged", incident, requester, request.host_url.rstrip("/"))
        return json_response({"incident": self._shown(incident)})

    def request_responders(self, request: Request, incident_id: str) -> Response:
        incident = self._incident(incident_id)
        body = request_json(request)
        missing = [name for name in ("requester_id", "message", "responder_request_targets") if name not in body]
        if missing:
            raise _invalid(*(f"{name} is required" for name in missing))
        requester = self._users.get(body["requester_id"]) if isinstance(body["requester_id"], str) else None
        if requester is None:
            raise RestError(400, 1008, "Requester User Not Found")
        if not isinstance(body["message"], str) or not body["message"]:
            raise _invalid("message must be a non-empty string")
        targets = body["responder_request_targets"]
        if not isinstance(targets, list) or not targets:
            raise _invalid("responder_request_targets must be a non-empty array")
        users = [self._target_user(target) for target in targets]
        requested = []
        for user_id in users:
            responder = {
                "state": "pending",
                "user": self._reference(user_id),
                "incident": {"id": incident["id"], "type": "incident_reference"},
                "message": body["message"],
                "requester": self._reference(requester["id"]),
                "requested_at": now_iso(),
            }
            incident["incidents_responders"].append(responder)
            self._notify(incident, user_id, f"responder request from {requester['summary']}: {body['message']}")
            requested.append(
                {"responder_request_target": {"type": "user", "id": user_id, "incidents_responders": [responder]}}
            )
        _log(incident, "responder_request_log_entry", f"Responders requested by {requester['summary']}", requester)
        answer = {
            "incident": {"id": incident["id"], "type": "incident_reference"},
            "requester": self._reference(requester["id"]),
            "requested_at": now_iso(),
            "message": body["message"],
            "responder_request_targets": requested,
        }
        return json_response({"responder_request": answer})

    def list_users(self, request: Request) -> Response:
        query = request.args.get("query", "").lower()
        users = [
            user for user in self._users.values() if query in user["name"].lower() or query in user["email"].lower()
        ]
        return json_response({"users": users, "limit": 25, "offset": 0, "more": False, "total": None})

    def list_oncalls(self, request: Request) -> Response:
        policies = request.args.getlist("escalation_policy_ids[]")
        oncalls = [
            {"user": self._reference(user), "escalation_policy": POLICY, "escalation_level": level, "schedule": None}
            for level, users in enumerate(self._levels, start=1)
            for user in users
            if not policies or POLICY["id"] in policies
        ]
        return json_response({"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None})

    def not_found(self, request: Request, rest: str) -> Response:
        raise RestError(404, 2100, "Not Found")

    def _incident(self, incident_id: str) -> dict[str, Any]:
        incident = self._incidents.get(incident_id)
        if incident is None:
            raise RestError(404, 2100, "Not Found")
        return incident

    def _requester(self, request: Request) -> dict[str, Any]:
        email = request.headers.get("From", "")
        if not email:
            raise RestError(
                400, 2011, "You must specify a requester_id to perform this action", "From header is missing"
            )
        user = next((user for user in self._users.values() if user["email"].lower() == email.lower()), None)
        if user is None:
            raise RestError(400, 1008, "Requester User Not Found", f"no user has the email {email}")
        return self._reference(user["id"])

    def _target_user(self, target: object) -> str:
        inner = target.get("responder_request_target") if isinstance(target, dict) else None
        if not isinstance(inner, dict) or inner.get("type") != "user_reference":
            raise _invalid("each target is {responder_request_target: {id, type: user_reference}}")
        if inner.get("id") not in self._users:
            raise RestError(404, 2100, "Not Found", f"user {inner.get('id')} not found")
        return str(inner["id"])

    def _reference(self, user_id: str) -> dict[str, Any]:
        user = self._users[user_id]
        return {"id": user_id, "type": "user_reference", "summary": user["name"]}

    def _shown(self, incident: dict[str, Any]) -> dict[str, Any]:
        """The incident as the REST API shows it: without the sandbox's own record."""
        hidden = ("escalation_level", "log_entries", "notifications", "source")
        return {key: value for key, value in incident.items() if key not in hidden}

    # v3 webhooks ------------------------------------------------------------------------------

    def _send_webhook(self, event_type: str, incident: dict[str, Any], agent: dict[str, Any], host: str) -> None:
        """Sends the event to the gateway from a thread of its own, as PagerDuty does after the change;
        the delivery (its answer, or why there was none) is recorded for `GET /_sandbox/pagerduty`."""
        if not self._webhook_url:
            return
        api = f"{host}{API}"
        event = {
            "event": {
                "id": str(uuid.uuid4()),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": now_iso(),
                "agent": {**agent, "self": f"{api}/users/{agent['id']}", "html_url": f"{host}/_sandbox/pagerduty"},
                "client": {"name": "PagerDuty"},
                "data": self._webhook_incident(incident, api, host),
            }
        }
        body = json.dumps(event).encode()
        delivery = {
            "webhook_id": str(uuid.uuid4()),
            "event_type": event_type,
            "incident": incident["id"],
            "url": self._webhook_url,
            "at": now_iso(),
            "status": None,
            "error": "",
        }
        headers = {
            "Content-Type": "application/json",
            "X-PagerDuty-Signature": pagerduty_signature(self._webhook_secret, body),
            "X-Webhook-Id": delivery["webhook_id"],
            "X-Webhook-Subscription": WEBHOOK_SUBSCRIPTION_ID,
        }
        self._deliveries.append(delivery)
        threading.Thread(target=self._deliver, args=(delivery, body, headers), daemon=True).start()

    def _deliver(self, delivery: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        try:
            answer = httpx.post(self._webhook_url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S)
            outcome: dict[str, Any] = {"status": answer.status_code}
        except httpx.HTTPError as error:
            outcome = {"error": f"{type(error).__name__}: {error}"}
        with self._lock:
            delivery.update(outcome, delivered_at=now_iso())

    def _webhook_incident(self, incident: dict[str, Any], api: str, host: str) -> dict[str, Any]:
        """The incident as v3 webhooks carry it (`event.data` of type incident)."""
        return {
            "id": incident["id"],
            "type": "incident",
            "self": f"{api}/incidents/{incident['id']}",
            "html_url": f"{host}/_sandbox/pagerduty",
            "number": incident["incident_number"],
            "status": incident["status"],
            "incident_key": incident["incident_key"],
            "created_at": incident["created_at"],
            "title": incident["title"],
            "service": {**SERVICE, "self": f"{api}/services/{SERVICE['id']}"},
            "assignees": [assignment["assignee"] for assignment in incident["assignments"]],
            "escalation_policy": {**POLICY, "self": f"{api}/escalation_policies/{POLICY['id']}"},
            "teams": [],
            "priority": None,
            "urgency": incident["urgency"],
            "conference_bridge": None,
            "resolve_reason": None,
        }

    # The sandbox's view -------------------------------------------------------------------------

    def state(self, request: Request) -> Response:
        with self._lock:
            return json_response(
                {
                    "service": SERVICE,
                    "escalation_policy": {**POLICY, "levels": self._levels},
                    "users": list(self._users.values()),
                    "incidents": list(self._incidents.values()),
                    "webhooks": [dict(delivery) for delivery in self._deliveries],
                }
            )


def _user(user_id: str, name: str, email: str) -> dict[str, Any]:
    return {"id": user_id, "type": "user", "summary": name, "name": name, "email": email}


def _log(incident: dict[str, Any], kind: str, summary: str, agent: dict[str, Any]) -> None:
    incident["log_entries"].append({"type": kind, "summary": summary, "agent": agent, "created_at": now_iso()})


def _event_errors(event: dict[str, Any]) -> list[str]:
    """What the Events API v2 says is wrong with an event, in its words where its documentation gives them."""
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    else:
        if len(key) != ROUTING_KEY_LENGTH:
            errors.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
        if not _ALPHANUMERIC.match(key):
            errors.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = event.get("event_action")
    if action not in PAGER_ACTIONS:
        errors.append(f"'event_action' is invalid (must be one of: {', '.join(PAGER_ACTIONS)})")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > DEDUP_KEY_LIMIT):
        errors.append(f"'dedup_key' must be a string of at most {DEDUP_KEY_LIMIT} characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        errors += _payload_errors(event.get("payload"))
    return errors


def _payload_errors(payload: object) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > SUMMARY_LIMIT:
        errors.append(f"'payload.summary' is longer than {SUMMARY_LIMIT} characters")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in PAGER_SEVERITIES:
        errors.append(f"'payload.severity' is invalid (must be one of: {', '.join(PAGER_SEVERITIES)})")
    custom_details = payload.get("custom_details")
    if custom_details is not None and not isinstance(custom_details, dict):
        errors.append("'payload.custom_details' must be an object")
    return errors
