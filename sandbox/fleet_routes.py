"""The fleet's HTTP endpoints, per environment and per service, and the fault-control API."""

from __future__ import annotations

import logging
import time

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import UnknownName
from sandbox.fleet import (
    AUTH,
    GATEWAY,
    FaultMode,
    Fleet,
    Health,
    Profile,
    ServiceState,
    parse_fault,
    profile,
)
from sandbox.web import ApiError, json_response, request_json

HEALTHY = profile(ServiceState(version=""))
MOAT_LATENCY_MS = {"database": 4.0, "redis": 1.0, "search": 12.0}

log = logging.getLogger("sandbox")

HOMEPAGE = """<!doctype html>
<html><head><title>Skillancer ({environment})</title></head>
<body><h1>Skillancer</h1><p>Find freelancers, win projects. Environment: {environment}.</p></body></html>
"""
UNAVAILABLE_PAGE = "<!doctype html><html><body><h1>503 Service Unavailable</h1></body></html>\n"


class FleetRoutes:
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def rules(self) -> list[Rule]:
        env_rules = [
            ("/", self.homepage),
            ("/health/live", self.live),
            ("/health/ready", self.ready),
            ("/health/dashboard", self.dashboard),
            ("/health/circuits", self.circuits),
            ("/api/v1/auth/status", self.auth_status),
            ("/api/v1/status", self.api_status),
            ("/svc/<service>/health/live", self.service_live),
            ("/svc/<service>/health/ready", self.service_ready),
            ("/svc/<service>/status", self.service_status),
        ]
        control = [
            Rule("/_sandbox/health", endpoint=self.sandbox_health, methods=["GET"]),
            Rule("/_sandbox/fleet", endpoint=self.fleet_state, methods=["GET"]),
            Rule("/_sandbox/faults", endpoint=self.list_faults, methods=["GET"]),
            Rule("/_sandbox/faults", endpoint=self.set_fault, methods=["POST"]),
            Rule("/_sandbox/faults", endpoint=self.clear_faults, methods=["DELETE"]),
        ]
        return control + [Rule(f"/<env>{path}", endpoint=handler, methods=["GET"]) for path, handler in env_rules]

    # Environment-level endpoints: every request passes the api-gateway first.

    def homepage(self, request: Request, env: str) -> Response:
        gateway = self._through_gateway(env)
        if not gateway.serving:
            return Response(UNAVAILABLE_PAGE, status=503, mimetype="text/html")
        return Response(HOMEPAGE.format(environment=env), mimetype="text/html")

    def live(self, request: Request, env: str) -> Response:
        if not self._through_gateway(env).live:
            return json_response({"status": "down"}, 503)
        return json_response({"status": "ok"})

    def ready(self, request: Request, env: str) -> Response:
        gateway = self._through_gateway(env)
        database_down = self._services_with(env, FaultMode.DB)
        database = {"status": "down", "services": database_down} if database_down else {"status": "up"}
        checks = {"database": database, "redis": {"status": "up"}, "externalApis": {"status": "up"}}
        if database_down or not gateway.live:
            return json_response({"status": "not_ready", "checks": checks}, 503)
        return json_response({"status": "ready", "checks": checks})

    def dashboard(self, request: Request, env: str) -> Response:
        self._through_gateway(env)
        states = self._fleet.environment(env)
        core = {name: _core_entry(state) for name, state in states.items()}
        database_down = bool(self._services_with(env, FaultMode.DB))
        moat = {
            name: {"status": _moat_health(name, database_down).value, "latencyMs": latency}
            for name, latency in MOAT_LATENCY_MS.items()
        }
        summary = {health.value: sum(entry["status"] == health for entry in core.values()) for health in Health}
        overall = _overall(summary, database_down)
        body = {
            "overall": overall.value,
            "summary": {**summary, "total": len(core)},
            "coreServices": core,
            "moatServices": moat,
        }
        return json_response(body, 503 if overall is Health.UNHEALTHY else 200)

    def circuits(self, request: Request, env: str) -> Response:
        self._through_gateway(env)
        circuits = {
            name: {"state": "open" if current.error_rate else "closed", "failures": round(current.error_rate * 100)}
            for name, current in self._profiles(env).items()
        }
        return json_response({"circuits": circuits})

    def auth_status(self, request: Request, env: str) -> Response:
        gateway = self._through_gateway(env)
        auth = self._profile(env, AUTH)
        time.sleep(auth.delay_s)
        if not (gateway.serving and auth.serving):
            return json_response({"status": "unavailable", "service": AUTH}, 503)
        return json_response({"status": "operational", "service": AUTH})

    def api_status(self, request: Request, env: str) -> Response:
        self._through_gateway(env)
        services = {name: _status_word(current) for name, current in self._profiles(env).items()}
        failing = any(word in ("down", "error") for word in services.values())
        degraded = any(word == "degraded" for word in services.values())
        status = "error" if failing else "degraded" if degraded else "ok"
        return json_response({"status": status, "services": services}, 503 if failing else 200)

    # Per-service endpoints: answered by the service itself, so only its own faults apply.

    def service_live(self, request: Request, env: str, service: str) -> Response:
        current = self._service(env, service)
        if not current.live:
            return json_response({"status": "down", "service": service}, 503)
        return json_response({"status": "ok", "service": service})

    def service_ready(self, request: Request, env: str, service: str) -> Response:
        current = self._service(env, service)
        if not current.live:
            return json_response({"status": "not_ready", "service": service, "reason": "service is down"}, 503)
        if not current.ready:
            reason = "database connection refused"
            return json_response({"status": "not_ready", "service": service, "reason": reason}, 503)
        return json_response({"status": "ready", "service": service})

    def service_status(self, request: Request, env: str, service: str) -> Response:
        current = self._service(env, service)
        body = {"service": service, "version": self._fleet.state(env, service).version}
        if not current.live:
            return json_response({**body, "status": "down"}, 503)
        if not current.serving:
            return json_response({**body, "status": "error", "errorRate": current.error_rate}, 503)
        return json_response({**body, "status": "ok"})

    # Control API.

    def sandbox_health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def fleet_state(self, request: Request) -> Response:
        fleet = {
            env: {name: {**_core_entry(state), "fault": _fault_json(state)} for name, state in states.items()}
            for env, states in self._fleet.snapshot().items()
        }
        return json_response(fleet)

    def list_faults(self, request: Request) -> Response:
        return json_response({"faults": self._active_faults()})

    def set_fault(self, request: Request) -> Response:
        body = request_json(request)
        env = _required(body, "environment", self._fleet.environments)
        service = _required(body, "service", self._fleet.services)
        try:
            self._fleet.check(env, service)
            fault = parse_fault(body.get("mode"), body.get("delay_s"))
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        state = self._fleet.set_fault(env, service, fault)
        log.info("fault %s/%s: %s", env, service, _describe(state))
        return json_response(
            {"environment": env, "service": service, "version": state.version, "fault": _fault_json(state)}
        )

    def clear_faults(self, request: Request) -> Response:
        self._fleet.clear_faults()
        log.info("all faults cleared")
        return json_response({"faults": []})

    def _active_faults(self) -> list[dict[str, object]]:
        return [
            {"environment": env, "service": name, **state.fault.as_json()}
            for env, states in self._fleet.snapshot().items()
            for name, state in states.items()
            if state.fault is not None
        ]

    # Helpers: look a name up (404 when unknown) and apply its slow fault to this request.

    def _through_gateway(self, env: str) -> Profile:
        gateway = self._profile(env, GATEWAY)
        time.sleep(gateway.delay_s)
        return gateway

    def _service(self, env: str, service: str) -> Profile:
        current = self._profile(env, service)
        time.sleep(current.delay_s)
        return current

    def _profile(self, env: str, service: str) -> Profile:
        states = self._states(env)
        if service in states:
            return profile(states[service])
        if service in (GATEWAY, AUTH):
            # A fleet configured without these services still answers the endpoints they front.
            return HEALTHY
        raise ApiError(404, str(UnknownName("service", service, list(states))))

    def _profiles(self, env: str) -> dict[str, Profile]:
        return {name: profile(state) for name, state in self._states(env).items()}

    def _states(self, env: str) -> dict[str, ServiceState]:
        try:
            return self._fleet.environment(env)
        except UnknownName as error:
            raise ApiError(404, str(error)) from None

    def _services_with(self, env: str, mode: FaultMode) -> list[str]:
        return [name for name, state in self._states(env).items() if state.mode is mode]


def _core_entry(state: ServiceState) -> dict[str, object]:
    current = profile(state)
    return {
        "status": current.health.value,
        "version": state.version,
        "latencyMs": current.latency_ms,
        "errorRate": current.error_rate,
    }


def _moat_health(name: str, database_down: bool) -> Health:
    return Health.UNHEALTHY if name == "database" and database_down else Health.HEALTHY


def _overall(summary: dict[str, int], database_down: bool) -> Health:
    if summary[Health.UNHEALTHY]:
        return Health.UNHEALTHY
    if summary[Health.DEGRADED] or database_down:
        return Health.DEGRADED
    return Health.HEALTHY


def _status_word(current: Profile) -> str:
    if not current.live:
        return "down"
    if current.error_rate:
        return "error"
    return "degraded" if current.health is Health.DEGRADED else "ok"


def _fault_json(state: ServiceState) -> dict[str, object] | None:
    return state.fault.as_json() if state.fault else None


def _describe(state: ServiceState) -> str:
    if state.fault is None:
        return "cleared"
    if state.fault.mode is FaultMode.SLOW:
        return f"slow ({state.fault.delay_s:g}s)"
    return state.fault.mode.value


def _required(body: dict[str, object], field: str, known: list[str]) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{field} is required; known: {', '.join(known)}")
    return value
