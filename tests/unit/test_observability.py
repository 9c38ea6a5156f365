"""The worker's metrics endpoint and its tracing switch, without a Temporal server."""

from __future__ import annotations

import socket
import sys

import httpx
import pytest

from runbook.config import ObservabilityConfig
from runbook.observability import TRACING_INSTALL_HINT, ObservabilityError, metrics_url, start_tracing, worker_runtime
from tests.support import free_port


def test_the_runtime_serves_prometheus_text_on_the_configured_address():
    address = f"127.0.0.1:{free_port()}"
    runtime = worker_runtime(ObservabilityConfig(metrics_address=address))
    runtime.metric_meter.create_counter("runbook_probe", "a metric only this test records").add(1)
    answer = httpx.get(metrics_url(ObservabilityConfig(metrics_address=address)), timeout=5)
    assert answer.status_code == 200
    assert "# TYPE runbook_probe counter" in answer.text


def test_a_taken_port_is_one_line_naming_the_address_and_the_way_out():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ObservabilityError) as refused:
            worker_runtime(ObservabilityConfig(metrics_address=address))
    message = str(refused.value)
    assert "\n" not in message
    assert address in message and "in use" in message and 'or "" to turn metrics off' in message


def test_an_address_that_is_not_ip_and_port_is_refused():
    with pytest.raises(ObservabilityError, match="localhost:9464"):
        worker_runtime(ObservabilityConfig(metrics_address="localhost:9464"))


def test_empty_address_turns_metrics_off():
    off = ObservabilityConfig(metrics_address="")
    assert metrics_url(off) is None
    assert worker_runtime(off) is not None  # still the runtime: core's own logs go through Python logging


def test_tracing_without_the_extra_says_how_to_install_it(monkeypatch):
    # As if the extra were absent, whether or not this machine has it.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(ObservabilityError) as refused:
        start_tracing()
    assert TRACING_INSTALL_HINT in str(refused.value) and "\n" not in str(refused.value)
