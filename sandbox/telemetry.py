"""CloudWatch metrics and application log lines, written as the fleet's state dictates."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.aws import APP_STREAM, LogWriter, ServiceRef
from sandbox.fleet import FaultMode, Fleet, ServiceState, profile

REQUESTS_PER_INTERVAL = 1000
# moto scans every stored datapoint on each query, so unbounded history slows a long-running stack.
METRIC_RETENTION = timedelta(minutes=30)

FAULT_LINES = {
    FaultMode.SLOW: "ERROR upstream request timeout after {delay_ms}ms",
    FaultMode.ERRORS: "ERROR 500 Internal Server Error",
    FaultMode.DB: "ERROR database connection refused",
    FaultMode.CPU: "WARN CPU utilization 95% exceeds 85% for 2 consecutive periods",
    FaultMode.DOWN: "ERROR essential container exited: health check failed",
}
BAD_VERSION_LINE = "ERROR 500 Internal Server Error (version {version})"

log = logging.getLogger("sandbox")


def metric_data(ref: ServiceRef, state: ServiceState, timestamp: datetime) -> list[dict[str, Any]]:
    current = profile(state)
    dimensions = [
        {"Name": "Environment", "Value": ref.environment},
        {"Name": "Service", "Value": ref.service},
    ]
    values = [
        ("RequestCount", REQUESTS_PER_INTERVAL, "Count"),
        ("HTTPCode_5XX_Count", round(REQUESTS_PER_INTERVAL * current.error_rate), "Count"),
        ("ResponseTime", current.latency_ms, "Milliseconds"),
        ("CPUUtilization", current.cpu_percent, "Percent"),
        ("MemoryUtilization", current.memory_percent, "Percent"),
        ("DatabaseErrors", current.database_errors, "Count"),
    ]
    return [
        {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit, "Timestamp": timestamp}
        for name, value, unit in values
    ]


def log_lines(state: ServiceState) -> list[str]:
    lines = []
    if state.fault is not None and state.fault.mode in FAULT_LINES:
        lines.append(FAULT_LINES[state.fault.mode].format(delay_ms=round(state.fault.delay_s * 1000)))
    if state.bad_version:
        lines.append(BAD_VERSION_LINE.format(version=state.version))
    return lines


class Telemetry:
    def __init__(
        self,
        fleet: Fleet,
        refs: list[ServiceRef],
        cloudwatch: Any,
        cloudwatch_backend: Any,
        log_writer: LogWriter,
        namespace: str,
        interval_s: float,
    ) -> None:
        self._fleet = fleet
        self._refs = refs
        self._cloudwatch = cloudwatch
        self._cloudwatch_backend = cloudwatch_backend
        self._log_writer = log_writer
        self._namespace = namespace
        self._interval_s = interval_s

    def run(self, stop: threading.Event) -> None:
        # Write at once, so a consumer querying right after start already finds datapoints.
        while True:
            try:
                self.write_once()
            except Exception:
                # A failed write is one missing datapoint; the thread must keep the metrics flowing.
                log.exception("metrics write failed")
            if stop.wait(self._interval_s):
                return

    def write_once(self) -> None:
        now = datetime.now(UTC)
        fleet = self._fleet.snapshot()
        data = [
            datum
            for ref in self._refs
            if profile(fleet[ref.environment][ref.service]).reporting
            for datum in metric_data(ref, fleet[ref.environment][ref.service], now)
        ]
        if data:  # CloudWatch refuses an empty MetricData, as when every service is silent
            self._cloudwatch.put_metric_data(Namespace=self._namespace, MetricData=data)
        for ref in self._refs:
            lines = log_lines(fleet[ref.environment][ref.service])
            if lines:
                self._log_writer.write(ref.log_group, APP_STREAM, lines)
        self._prune(now - METRIC_RETENTION)

    def _prune(self, cutoff: datetime) -> None:
        stored = self._cloudwatch_backend.metric_data
        expired = next((index for index, datum in enumerate(stored) if _as_utc(datum.timestamp) >= cutoff), len(stored))
        # In-place deletion of the oldest prefix keeps datapoints appended concurrently by moto.
        del stored[:expired]


def _as_utc(timestamp: datetime) -> datetime:
    # moto stores naive UTC for datapoints put without a Timestamp, aware for the rest.
    return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
