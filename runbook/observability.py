"""The worker's metrics and traces, as [observability] in runbook.toml asks.

Metrics are the SDK runtime's own (task latencies, polls, slots, workflow and activity outcomes)
served in Prometheus text format. Tracing needs the optional extra (pip install '.[tracing]'), so
nothing here imports OpenTelemetry unless tracing is on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from runbook.config import ObservabilityConfig

TRACING_INSTALL_HINT = "pip install '.[tracing]'"


class ObservabilityError(Exception):
    """The worker cannot provide what [observability] asks; the message says what to change."""


def metrics_url(config: ObservabilityConfig) -> str | None:
    return f"http://{config.metrics_address}/metrics" if config.metrics_address else None


def worker_runtime(config: ObservabilityConfig) -> Runtime:
    """The SDK runtime for the worker's client: the Prometheus endpoint unless metrics_address is
    "", and the SDK core's own warnings forwarded into Python logging, so that they come out in
    the worker's log format (JSON lines) rather than as core's plain text on stderr."""
    address = config.metrics_address
    telemetry = TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"), append_target_to_name=False),
        ),
        metrics=PrometheusConfig(bind_address=address) if address else None,
    )
    try:
        return Runtime(telemetry=telemetry)
    except ValueError as error:
        reason = str(error).split(": ", 1)[-1]
        raise ObservabilityError(
            f"cannot serve metrics on {address!r} ({reason}): "
            'set [observability] metrics_address to a free IP:port, or "" to turn metrics off'
        ) from None


@dataclass
class Tracing:
    """The client's (and so the worker's) interceptor, and its provider: that flushes the last
    spans when the process exits."""

    interceptor: Any
    provider: Any


def start_tracing(exporter: Any = None, environ: Mapping[str, str] = os.environ) -> Tracing:
    """Spans for every workflow, activity, signal, query and update the worker handles, sent by
    OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the exporter reads the standard OTEL_*
    variables itself); `exporter` replaces it, for tests."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
    except ImportError as error:
        missing = error.name or str(error)
        raise ObservabilityError(
            f"[observability] tracing = true needs the tracing extra ({missing} is missing): {TRACING_INSTALL_HINT}"
        ) from None
    provider = TracerProvider(
        resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "runbook-worker"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # The CLI starts workflows without a span of its own; without this the worker would trace
    # activities only, never the workflows around them.
    return Tracing(
        TracingInterceptor(provider.get_tracer("runbook.worker"), always_create_workflow_spans=True), provider
    )
