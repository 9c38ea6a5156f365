"""boto3 clients, built once per worker (or CLI command) and injected into the activities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from runbook.config import RunbookConfig
from runbook.integrations import SANDBOX_HOST

# The sandbox's moto server accepts any credentials; real AWS uses boto3's standard chain.
_SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class AwsClients:
    ecs: Any
    cloudwatch: Any
    logs: Any
    s3: Any


def build_aws_clients(config: RunbookConfig) -> AwsClients:
    options: dict[str, Any] = {
        "region_name": config.aws.region,
        "config": BotoConfig(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20),
    }
    if config.aws.provider == "sandbox":
        options["endpoint_url"] = f"http://{SANDBOX_HOST}:{config.sandbox.aws_port}"
        options.update(_SANDBOX_CREDENTIALS)
    session = boto3.session.Session()
    return AwsClients(*(session.client(name, **options) for name in ("ecs", "cloudwatch", "logs", "s3")))
