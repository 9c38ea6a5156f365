"""The simulated Skillancer fleet: which version each service runs and which fault it suffers.

Everything a consumer can observe about a service (HTTP answers, CloudWatch metrics, log lines)
is derived from one `Profile`, so the endpoints and the metrics never disagree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from enum import StrEnum

from runbook.config import UnknownName

GATEWAY = "api-gateway"
AUTH = "auth-svc"
DEFAULT_SLOW_DELAY_S = 6.0
CLEAR = "clear"


class FaultMode(StrEnum):
    ERRORS = "5xx"
    SLOW = "slow"
    DB = "db"
    CPU = "cpu"
    DOWN = "down"
    # Serves as usual, but writes no CloudWatch datapoints: a broken exporter, a wrong namespace.
    SILENT = "silent"


FAULT_CHOICES = [mode.value for mode in FaultMode] + [CLEAR]


@dataclass(frozen=True)
class Fault:
    mode: FaultMode
    delay_s: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"mode": self.mode.value, "delay_s": self.delay_s}


def parse_fault(mode: object, delay_s: object = None) -> Fault | None:
    """A fault from control-API input; None means "clear". ValueError names the allowed values."""
    if mode == CLEAR:
        return None
    if mode not in FAULT_CHOICES:
        raise UnknownName("mode", str(mode), FAULT_CHOICES)
    fault_mode = FaultMode(mode)
    if fault_mode is not FaultMode.SLOW:
        return Fault(fault_mode)
    delay = DEFAULT_SLOW_DELAY_S if delay_s is None else delay_s
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600:
        raise ValueError(f"delay_s must be a number of seconds between 0 and 600 (got {delay!r})")
    return Fault(fault_mode, float(delay))


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ServiceState:
    version: str
    fault: Fault | None = None

    @property
    def mode(self) -> FaultMode | None:
        return self.fault.mode if self.fault else None

    @property
    def bad_version(self) -> bool:
        return "bad" in self.version


@dataclass(frozen=True)
class Profile:
    health: Health
    error_rate: float
    latency_ms: float
    cpu_percent: float
    memory_percent: float
    database_errors: int
    delay_s: float
    live: bool
    ready: bool
    serving: bool
    # Writes its CloudWatch datapoints (not when silent).
    reporting: bool = True


HEALTHY_LATENCY_MS = 80.0
HEALTHY_CPU, HEALTHY_MEMORY = 30.0, 40.0
HOT_CPU, HOT_MEMORY = 95.0, 92.0
DB_ERRORS_PER_INTERVAL = 40
ERROR_RATES = {FaultMode.ERRORS: 0.25, FaultMode.DOWN: 1.0}
BAD_VERSION_ERROR_RATE = 0.5
DEGRADING = {FaultMode.SLOW, FaultMode.DB, FaultMode.CPU}


def profile(state: ServiceState) -> Profile:
    mode = state.mode
    error_rate = ERROR_RATES.get(mode, 0.0) if mode else 0.0
    if state.bad_version:
        error_rate = max(error_rate, BAD_VERSION_ERROR_RATE)
    delay_s = state.fault.delay_s if mode is FaultMode.SLOW else 0.0
    hot = mode is FaultMode.CPU
    return Profile(
        health=_health(mode, error_rate),
        error_rate=error_rate,
        latency_ms=delay_s * 1000 if delay_s else HEALTHY_LATENCY_MS,
        cpu_percent=HOT_CPU if hot else HEALTHY_CPU,
        memory_percent=HOT_MEMORY if hot else HEALTHY_MEMORY,
        database_errors=DB_ERRORS_PER_INTERVAL if mode is FaultMode.DB else 0,
        delay_s=delay_s,
        live=mode is not FaultMode.DOWN,
        ready=mode not in (FaultMode.DOWN, FaultMode.DB),
        serving=error_rate == 0.0,
        reporting=mode is not FaultMode.SILENT,
    )


def _health(mode: FaultMode | None, error_rate: float) -> Health:
    if error_rate > 0:
        return Health.UNHEALTHY
    return Health.DEGRADED if mode in DEGRADING else Health.HEALTHY


class Fleet:
    """Thread-safe state of every service in every environment."""

    def __init__(self, environments: list[str], services: list[str], version: str) -> None:
        self.environments = list(environments)
        self.services = list(services)
        self._lock = threading.Lock()
        self._states = {env: {service: ServiceState(version) for service in services} for env in environments}

    def check(self, environment: str, service: str | None = None) -> None:
        """Raise UnknownName (a ValueError naming the known values) for a name not in the fleet."""
        if environment not in self._states:
            raise UnknownName("environment", environment, self.environments)
        if service is not None and service not in self.services:
            raise UnknownName("service", service, self.services)

    def state(self, environment: str, service: str) -> ServiceState:
        self.check(environment, service)
        with self._lock:
            return self._states[environment][service]

    def environment(self, environment: str) -> dict[str, ServiceState]:
        self.check(environment)
        with self._lock:
            return dict(self._states[environment])

    def snapshot(self) -> dict[str, dict[str, ServiceState]]:
        with self._lock:
            return {env: dict(states) for env, states in self._states.items()}

    def set_fault(self, environment: str, service: str, fault: Fault | None) -> ServiceState:
        return self._update(environment, service, fault=fault)

    def set_version(self, environment: str, service: str, version: str) -> ServiceState:
        return self._update(environment, service, version=version)

    def clear_faults(self) -> None:
        with self._lock:
            for states in self._states.values():
                for service, state in states.items():
                    states[service] = replace(state, fault=None)

    def _update(self, environment: str, service: str, **changes: object) -> ServiceState:
        self.check(environment, service)
        with self._lock:
            state = replace(self._states[environment][service], **changes)
            self._states[environment][service] = state
            return state
