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
from activities.ecs import EcsActivities
from activities.github import GithubActivities
from activities.health import HealthActivities
from activities.incident import IncidentActivities
from activities.lock import LockActivities
from activities.mitigation import MitigationActivities
from activities.pager import PagerActivities
from activities.records import RecordsActivities, RecordStore
from activities.slack import SlackActivities
from activities.statuspage import StatusPageActivities
from runbook.config import RunbookConfig, load_config
from runbook.temporal import connect
from workflows.deployment import HotfixDeployment, StandardDeployment
from workflows.incident import Incident
from workflows.lock import EnvironmentLock
from workflows.rollback import Rollback
from workflows.verification import Verification

WORKFLOWS = [Verification, Rollback, StandardDeployment, HotfixDeployment, EnvironmentLock, Incident]


def build_activities(config: RunbookConfig, client: Client, task_queue: str, http: httpx.AsyncClient) -> list:
    aws = build_aws_clients(config)
    records = RecordStore(aws.s3, config.aws.records_bucket)
    health = HealthActivities(http, config)
    cloudwatch = CloudWatchActivities(aws, config)
    ecs = EcsActivities(aws, config, records)
    lock = LockActivities(client, task_queue)
    slack = SlackActivities(http, config.slack.api_url, os.environ.get("SLACK_BOT_TOKEN", "sandbox-token"))
    github = GithubActivities(http, config.github.api_url, config.github.repository, os.environ.get("GITHUB_TOKEN", "sandbox-token"))
    records_activities = RecordsActivities(records)
    pager = PagerActivities(http, config.pager.events_url, os.environ.get("PAGERDUTY_ROUTING_KEY", "sandbox-routing-key"))
    statuspage = StatusPageActivities(http, config.statuspage.api_url, config.statuspage.page_id, os.environ.get("STATUSPAGE_API_KEY", "sandbox-key"))
    mitigation = MitigationActivities(aws, http, config, os.environ.get("OPS_API_TOKEN", "sandbox-token"))
    incident = IncidentActivities(client, aws, config)
    return [
        health.check_health,
        health.check_service_health,
        cloudwatch.collect_metrics,
        cloudwatch.search_logs,
        ecs.plan_rollback,
        ecs.prepare_revision,
        ecs.update_service,
        ecs.wait_for_rollout,
        ecs.set_desired_count,
        lock.acquire_lock,
        lock.preempt_lock,
        lock.release_lock,
        records_activities.write_record,
        records_activities.find_verified,
        slack.post_message,
        github.check_prerequisites,
        github.check_hotfix_ready,
        slack.create_channel,
        slack.invite,
        pager.trigger_page,
        pager.acknowledge_page,
        pager.resolve_page,
        statuspage.open_status_page,
        statuspage.update_status_page,
        mitigation.scale_up,
        mitigation.rate_limit,
        mitigation.maintenance_page,
        incident.service_states,
        incident.related_deployments,
        incident.store_postmortem,
    ]


@asynccontextmanager
async def running_worker(client: Client, config: RunbookConfig, task_queue: str | None = None) -> AsyncIterator[Worker]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=config.thresholds.request_timeout_s) as http:
        with ThreadPoolExecutor(max_workers=32) as executor:
            queue = task_queue or config.temporal.task_queue
            worker = Worker(
                client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=build_activities(config, client, queue, http),
                activity_executor=executor,
            )
            async with worker:
                yield worker


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One line per HTTP request would drown the worker's own events.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
