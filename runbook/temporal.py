"""One way to reach Temporal, for the worker and the CLI alike: the pydantic converter, always."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from runbook.config import RunbookConfig


class TemporalUnreachable(Exception):
    pass


async def connect(config: RunbookConfig) -> Client:
    try:
        return await Client.connect(config.temporal.address, namespace=config.temporal.namespace, data_converter=pydantic_data_converter)
    except RuntimeError as error:
        raise TemporalUnreachable(f"cannot reach Temporal at {config.temporal.address}: {error} (is the stack up? make up)") from None
