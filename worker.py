"""The one worker: every workflow and activity of the runbook, on task queue "runbook".

Clients (httpx, boto3) are built once here and injected into the activity classes. Secrets come
from the environment and go only to the activities that need them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
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
from runbook.config import ConfigError, RunbookConfig, load_config
from runbook.integrations import resolve_integrations
from runbook.logs import configure_logging
from runbook.observability import ObservabilityError, metrics_url, start_tracing, worker_runtime
from runbook.temporal import TemporalUnreachable, connect
from workflows.action_items import ActionItemFollowUp
from workflows.deployment import HotfixDeployment, StandardDeployment
from workflows.incident import Incident
from workflows.lock import EnvironmentLock
from workflows.redeploy import Redeploy
from workflows.rollback import Rollback
from workflows.verification import Verification

logger = logging.getLogger("runbook.worker")

WORKFLOWS = [
    Verification,
    Rollback,
    StandardDeployment,
    HotfixDeployment,
    EnvironmentLock,
    Incident,
    Redeploy,
    ActionItemFollowUp,
]


def build_activities(config: RunbookConfig, client: Client, task_queue: str, http: httpx.AsyncClient) -> list:
    integrations = resolve_integrations(config)
    aws = build_aws_clients(config)
    records = RecordStore(aws.s3, config.aws.records_bucket)
    health = HealthActivities(http, config)
    cloudwatch = CloudWatchActivities(aws, config)
    ecs = EcsActivities(aws, config, records)
    lock = LockActivities(client, task_queue)
    slack = SlackActivities(http, integrations.slack)
    github = GithubActivities(http, integrations.github, config.github.repository)
    records_activities = RecordsActivities(records)
    pager = PagerActivities(http, config, integrations.pager, integrations.pager_api)
    statuspage = StatusPageActivities(http, integrations.statuspage, config.statuspage)
    mitigation = MitigationActivities(aws, http, config, integrations.ops_token)
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
        ecs.describe_ecs_service,
        ecs.force_new_deployment,
        lock.acquire_lock,
        lock.preempt_lock,
        lock.lock_holder,
        lock.release_lock,
        records_activities.write_record,
        records_activities.find_verified,
        slack.post_message,
        slack.settle_buttons,
        github.check_prerequisites,
        github.check_hotfix_ready,
        slack.create_channel,
        slack.invite,
        pager.trigger_page,
        pager.acknowledge_page,
        pager.resolve_page,
        pager.escalate_page,
        pager.await_acknowledgement,
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


async def serve() -> None:
    config = load_config()
    observability = config.observability
    configure_logging(observability.log_format)
    tracing = start_tracing() if observability.tracing else None
    interceptors = [tracing.interceptor] if tracing else []
    client = await connect(config, worker=True, runtime=worker_runtime(observability), interceptors=interceptors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, config):
        if url := metrics_url(observability):
            logger.info("worker metrics at %s", url)
        where = f"{client.service_client.config.target_host} ({client.namespace})"
        logger.info("worker polling task queue %s at %s", config.temporal.task_queue, where)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """`runbook-worker`: no options; runbook.toml (RUNBOOK_CONFIG) and the environment say everything."""
    argparse.ArgumentParser(
        prog="runbook-worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    try:
        asyncio.run(serve())
    except (ConfigError, TemporalUnreachable, ObservabilityError) as error:
        sys.exit(f"worker: error: {error}")


if __name__ == "__main__":
    main()
