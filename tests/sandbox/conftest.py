"""One in-process sandbox per test module, on free ports, so tests run beside a running stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest

from runbook.config import RunbookConfig, load_config
from sandbox import Sandbox

METRICS_INTERVAL = 0.2
ROLLOUT_SECONDS = 0.5


@pytest.fixture(scope="module")
def config() -> RunbookConfig:
    return load_config()


@pytest.fixture(scope="module")
def sandbox(config: RunbookConfig) -> Iterator[Sandbox]:
    with Sandbox(
        config, fleet_port=0, aws_port=0, metrics_interval=METRICS_INTERVAL, rollout_seconds=ROLLOUT_SECONDS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def fleet(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.fleet_url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def _healthy_fleet(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "fleet" in request.fixturenames:
        request.getfixturevalue("fleet").delete("/_sandbox/faults").raise_for_status()


@pytest.fixture(scope="module")
def aws(sandbox: Sandbox, config: RunbookConfig) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=sandbox.aws_url, region_name=config.aws.region)

    return client
