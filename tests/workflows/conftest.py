"""Fixtures of the workflow tests that run against the test stack's worker."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from runbook.temporal import connect


@pytest.fixture
async def client(e2e_stack, healthy_fleet) -> Client:
    return await connect(e2e_stack.config)


@pytest.fixture
def aws(e2e_stack):
    return e2e_stack.aws
