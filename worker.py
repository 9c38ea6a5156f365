"""The one worker: every workflow and activity of the runbook, on task queue "runbook".

Clients (httpx, boto3) are built once here and injected into the activity classes. Secrets come
from the environment and go only to the activities that need them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.aws import build_aws_clients
from activities.cloudwatch import CloudWatchActivities
from activities.health import HealthActivities
from activities.slack import SlackActivities
from runbook.config import RunbookConfig, load_config
from runbook.temporal import connect
from workflows.verification import Verification

WORKFLOWS = [Verification]


def build_activities(config: RunbookConfig, http: httpx.AsyncClient) -> list:
    aws = build_aws_clients(config)
    health = HealthActivities(http, config)
    cloudwatch = CloudWatchActivities(aws, config)
    slack = SlackActivities(http, config.slack.api_url, os.environ.get("SLACK_BOT_TOKEN", "sandbox-token"))
    return [health.check_health, cloudwatch.collect_metrics, cloudwatch.search_logs, slack.post_message]


@asynccontextmanager
async def running_worker(client: Client, config: RunbookConfig, task_queue: str | None = None) -> AsyncIterator[Worker]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=config.thresholds.request_timeout_s) as http:
        with ThreadPoolExecutor(max_workers=32) as executor:
            worker = Worker(
                client,
                task_queue=task_queue or config.temporal.task_queue,
                workflows=WORKFLOWS,
                activities=build_activities(config, http),
                activity_executor=executor,
            )
            async with worker:
                yield worker


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config()
    client = await connect(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, config):
        logging.info("worker polling task queue %s at %s", config.temporal.task_queue, config.temporal.address)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
