"""The runbook's Rollback Decision Matrix as a pure function of per-service metrics.

| Symptom                | Action                           |
| 5xx errors > 1%        | Immediate rollback               |
| Response time > 5s     | Investigate, consider rollback   |
| Single service failing | Rollback that service            |
| Database errors        | DO NOT rollback, investigate     |
| Memory/CPU spike       | Scale up first, then investigate |
| No data                | Alert and ask                    |

No I/O, clock or randomness: Temporal workflows call `decide` and must get the same answer on
replay. The figures in the table are defaults; the real limits come from ThresholdsConfig.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from runbook.base import Model
from runbook.config import ThresholdsConfig

# Rule texts are the matrix rows as the runbook prints them, so people can find the row that fired
# even when runbook.toml moves a limit; the evidence carries the limit actually applied.
FIVE_XX_RULE = "5xx errors > 1%"
SLOW_RULE = "Response time > 5s"
SINGLE_SERVICE_RULE = "Single service failing"
DATABASE_RULE = "Database errors"
SPIKE_RULE = "Memory/CPU spike"
UNHEALTHY_RULE = "Service unhealthy"
NO_DATA_RULE = "No data"
NO_SYMPTOM_RULE = "No symptom"


class _Model(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSnapshot(_Model):
    """One service's figures over the metrics window."""

    service: str
    requests: float = Field(ge=0)
    errors_5xx: float = Field(ge=0)
    avg_response_ms: float = Field(ge=0)
    database_errors: bool
    cpu_percent: float = Field(ge=0)
    memory_percent: float = Field(ge=0)
    healthy: bool = True
    # Figures that could not be observed, by field, with the reason: their zeros above are unknown.
    no_data: dict[str, str] = Field(default_factory=dict)

    # A plain property rather than a computed field: a dumped snapshot must validate again under
    # extra="forbid" when Temporal hands it between workflow and activity.
    @property
    def error_rate_percent(self) -> float:
        return 100 * self.errors_5xx / self.requests if self.requests else 0.0


class Action(StrEnum):
    ROLLBACK_NOW = "rollback_now"
    PROPOSE_ROLLBACK = "investigate_propose_rollback"
    ROLLBACK_SERVICE = "rollback_service"
    DO_NOT_ROLLBACK = "do_not_rollback_alert"
    SCALE_UP = "scale_up"
    NO_DATA = "no_data_alert_and_ask"
    NONE = "none"


# Least to most severe. DO_NOT_ROLLBACK ranks above any rollback because it overrides them: a
# caller acting on the worst action alone must never roll back while the database is failing.
_SEVERITY = (
    Action.NONE,
    Action.SCALE_UP,
    Action.NO_DATA,
    Action.PROPOSE_ROLLBACK,
    Action.ROLLBACK_SERVICE,
    Action.ROLLBACK_NOW,
    Action.DO_NOT_ROLLBACK,
)


class Decision(_Model):
    service: str
    action: Action
    rule: str
    evidence: str


class Assessment(_Model):
    decisions: list[Decision]

    @property
    def rollback_services(self) -> list[str]:
        return self._services(Action.ROLLBACK_NOW, Action.ROLLBACK_SERVICE)

    @property
    def scale_up_services(self) -> list[str]:
        return self._services(Action.SCALE_UP)

    @property
    def no_data_services(self) -> list[str]:
        return self._services(Action.NO_DATA)

    @property
    def vetoed(self) -> bool:
        """Database errors somewhere: only they produce DO_NOT_ROLLBACK."""
        return bool(self._services(Action.DO_NOT_ROLLBACK))

    @property
    def needs_human(self) -> bool:
        return bool(self._services(Action.PROPOSE_ROLLBACK, Action.NO_DATA))

    @property
    def worst(self) -> Action:
        return max((d.action for d in self.decisions), key=_SEVERITY.index, default=Action.NONE)

    def _services(self, *actions: Action) -> list[str]:
        return [d.service for d in self.decisions if d.action in actions]


def decide(snapshots: list[ServiceSnapshot], thresholds: ThresholdsConfig) -> Assessment:
    """Apply the matrix to every service, one decision each, in the order given.

    Limits are strict: a figure equal to its threshold (1.0% of 5xx, 5000 ms) is within it.
    A service is failing when its 5xx rate exceeds the limit or its health endpoint did not
    answer 200. For each service the first of these that applies wins:

    1. It reports database errors: DO_NOT_ROLLBACK.
    2. Any service reports database errors and this one would be rolled back, or proposed for
       rollback: DO_NOT_ROLLBACK, as the veto covers every rollback of the release.
    3. It is failing: ROLLBACK_SERVICE when it is the only failing one among several services
       (the others may still be slow or spiking, those are not failures), else ROLLBACK_NOW.
    4. A figure could not be observed: NO_DATA, for a human, naming each missing figure and what
       the observed ones show. Unknown is never NONE, and never a rollback or scale-up by itself.
    5. CPU or memory above its limit: SCALE_UP, also under the veto and also when slow, since the
       runbook says to scale up first.
    6. Average response time above its limit: PROPOSE_ROLLBACK, for a human to decide.
    7. Otherwise NONE, the evidence summarising the figures.
    """
    failing = [s.service for s in snapshots if _failure(s, thresholds)]
    database_failing = [s.service for s in snapshots if s.database_errors]
    only_one_failing = len(snapshots) > 1 and len(failing) == 1
    decisions = [_decide_one(s, thresholds, database_failing, only_one_failing) for s in snapshots]
    return Assessment(decisions=decisions)


def _decide_one(
    snapshot: ServiceSnapshot,
    thresholds: ThresholdsConfig,
    database_failing: list[str],
    only_one_failing: bool,
) -> Decision:
    failure = _failure(snapshot, thresholds)
    spike = _spike(snapshot, thresholds)
    slow = _slow(snapshot, thresholds)
    own_database = (
        _join(f"database errors reported by {snapshot.service}", failure) if snapshot.database_errors else None
    )
    # Slowness only leads to a rollback proposal when no spike sends the service to scale up first.
    vetoed = _veto(failure or (None if spike else slow), database_failing)
    rollback_action, rollback_rule = _rollback(snapshot, thresholds, only_one_failing)
    precedence = [
        (Action.DO_NOT_ROLLBACK, DATABASE_RULE, own_database),
        (Action.DO_NOT_ROLLBACK, DATABASE_RULE, vetoed),
        (rollback_action, rollback_rule, failure),
        (Action.NO_DATA, NO_DATA_RULE, _join(*snapshot.no_data.values(), spike, slow) if snapshot.no_data else None),
        (Action.SCALE_UP, SPIKE_RULE, _join(spike, slow) if spike else None),
        (Action.PROPOSE_ROLLBACK, SLOW_RULE, slow),
    ]
    for action, rule, evidence in precedence:
        if evidence:
            return Decision(service=snapshot.service, action=action, rule=rule, evidence=evidence)
    return Decision(service=snapshot.service, action=Action.NONE, rule=NO_SYMPTOM_RULE, evidence=_summary(snapshot))


def _veto(rollback_reason: str | None, database_failing: list[str]) -> str | None:
    if not (rollback_reason and database_failing):
        return None
    return f"{rollback_reason}; rollback vetoed by database errors on {', '.join(database_failing)}"


def _rollback(snapshot: ServiceSnapshot, thresholds: ThresholdsConfig, only_one_failing: bool) -> tuple[Action, str]:
    if only_one_failing:
        return Action.ROLLBACK_SERVICE, SINGLE_SERVICE_RULE
    rule = FIVE_XX_RULE if _over_error_rate(snapshot, thresholds) else UNHEALTHY_RULE
    return Action.ROLLBACK_NOW, rule


def _over_error_rate(snapshot: ServiceSnapshot, thresholds: ThresholdsConfig) -> bool:
    return snapshot.error_rate_percent > thresholds.error_rate_percent


def _failure(snapshot: ServiceSnapshot, thresholds: ThresholdsConfig) -> str | None:
    errors = None
    if _over_error_rate(snapshot, thresholds):
        rate, limit = _apart(snapshot.error_rate_percent, thresholds.error_rate_percent, 1)
        errors = f"5xx {rate}% of {snapshot.requests:g} requests > {limit}%"
    unhealthy = None if snapshot.healthy else "health endpoint not answering 200"
    return _join(errors, unhealthy)


def _spike(snapshot: ServiceSnapshot, thresholds: ThresholdsConfig) -> str | None:
    return _join(
        _over("CPU", snapshot.cpu_percent, thresholds.cpu_percent),
        _over("memory", snapshot.memory_percent, thresholds.memory_percent),
    )


def _over(name: str, percent: float, limit: float) -> str | None:
    if percent <= limit:
        return None
    shown, bar = _apart(percent, limit, 1)
    return f"{name} {shown}% > {bar}%"


def _slow(snapshot: ServiceSnapshot, thresholds: ThresholdsConfig) -> str | None:
    if snapshot.avg_response_ms <= thresholds.response_time_ms:
        return None
    shown, bar = _apart(snapshot.avg_response_ms, thresholds.response_time_ms, 0)
    return f"avg response {shown} ms > {bar} ms"


def _apart(value: float, limit: float, decimals: int) -> tuple[str, str]:
    # Rounding must not print "1.0% > 1.0%" for 1.04% against 1%: add decimals until they differ.
    for places in range(decimals, decimals + 3):
        shown, bar = f"{value:.{places}f}", f"{limit:.{places}f}"
        if shown != bar:
            return shown, bar
    return repr(value), repr(limit)


def _summary(snapshot: ServiceSnapshot) -> str:
    return (
        f"5xx {snapshot.error_rate_percent:.1f}% of {snapshot.requests:g} requests, "
        f"avg response {snapshot.avg_response_ms:.0f} ms, CPU {snapshot.cpu_percent:.1f}%, "
        f"memory {snapshot.memory_percent:.1f}%, health endpoint answering 200"
    )


def _join(*findings: str | None) -> str | None:
    return "; ".join(f for f in findings if f) or None
