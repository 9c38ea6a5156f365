"""What every fault test shares: a healthy fleet to start from, and a Temporal server of the test's
own with a config pointing the session's sandbox at it (a worker killed here must not leave the
session's server with workflows nobody serves)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from runbook.config import load_config
from runbook.search import ALL_KEYS
from tests.conftest import Stack, stack_config_text, temporal_binary


@pytest.fixture(autouse=True)
def every_fault_test_starts_healthy(healthy_fleet):
    yield


@pytest.fixture
async def own_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter, search_attributes=ALL_KEYS
    )
    async with env:
        yield env


@pytest.fixture
def own_stack(own_server: WorkflowEnvironment, sandbox_stack: Stack, tmp_path: Path) -> Stack:
    """The session's sandbox, with this test's server and task queue."""
    sandbox = sandbox_stack.config.sandbox
    target = own_server.client.service_client.config.target_host
    path = tmp_path / "runbook.toml"
    path.write_text(stack_config_text(target, f"crash-{uuid.uuid4()}", sandbox.fleet_port, sandbox.aws_port))
    return Stack(config=load_config(path), config_path=path, env={**sandbox_stack.env, "RUNBOOK_CONFIG": str(path)})
