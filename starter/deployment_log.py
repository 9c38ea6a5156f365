"""What the deployment log (S3) says before a hotfix starts: kept apart, since reading it costs
the boto3 import that the other deployment commands do without."""

from __future__ import annotations

import asyncio

from activities.aws import build_aws_clients
from activities.records import RecordStore
from runbook.config import RunbookConfig
from runbook.records import verified_record
from starter.console import UsageError


async def refuse_unverified_skip(config: RunbookConfig, version: str) -> None:
    aws = build_aws_clients(config)
    index = await asyncio.to_thread(RecordStore(aws.s3, config.aws.records_bucket).index, "staging")
    if not verified_record(index, version):
        raise UsageError(
            f"--skip-staging refused: {version} has not passed verification on staging; deploy it there first"
        )
