"""moto, run in this process, and the Skillancer resources seeded into it."""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import httpx
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request

from runbook.config import RunbookConfig

if TYPE_CHECKING:
    from sandbox.fakes import Recorder

HOST = "127.0.0.1"
SEEDED_VERSIONS = ("v1.0.0", "v1.1.0")
RUNNING_VERSION = SEEDED_VERSIONS[-1]
DESIRED_COUNT = 2
DESCRIBE_SERVICES_LIMIT = 10
DEPLOYMENT_STREAM = "ecs-deployments"
APP_STREAM = "app"


@dataclass(frozen=True)
class ServiceRef:
    """One ECS service of one environment, with the names it has in each AWS API."""

    environment: str
    cluster: str
    service: str
    log_group: str

    @property
    def family(self) -> str:
        return f"{self.cluster}-{self.service}"


def service_refs(config: RunbookConfig) -> list[ServiceRef]:
    return [
        ServiceRef(env_name, env.cluster, service, f"{env.log_group_prefix}{service}")
        for env_name, env in config.environments.items()
        for service in config.services.names
    ]


def image(service: str, version: str) -> str:
    return f"skillancer/{service}:{version}"


def image_tag(image_name: str) -> str:
    _, _, last_part = image_name.rpartition("/")
    _, colon, tag = last_part.partition(":")
    return tag if colon else "latest"


def use_sandbox_credentials(region: str) -> None:
    """boto3 refuses to sign without credentials, and moto accepts any."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)


def quiet_werkzeug() -> None:
    # moto's server logs every request through werkzeug's logger; one line per event is the rule.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
# ECS actions that change nothing; every other ECS action is recorded.
_READ_ACTIONS = ("Describe", "List")


class AwsRecorder:
    """moto's WSGI app behind the sandbox's recorder: ECS writes are recorded as system "ecs",
    and an ECS outage refuses calls before moto sees them. Nothing is recorded until `recorder`
    is set, so the sandbox's own seeding stays off the record."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self.recorder: Recorder | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        recorder = self.recorder
        if recorder is None or not target.startswith(ECS_TARGET_PREFIX):
            return self._app(environ, start_response)
        action = target.removeprefix(ECS_TARGET_PREFIX)
        request = Request(environ)
        # Reading the body here consumes the stream moto reads it from.
        environ["wsgi.input"] = io.BytesIO(request.get_data())
        outage = recorder.outages.take("ecs", action)
        if outage is not None:
            recorder.record("ecs", request, action=action, injected=outage.status)
            return outage.response()(environ, start_response)
        if not action.startswith(_READ_ACTIONS):
            recorder.record("ecs", request, action=action)
        return self._app(environ, start_response)


class MotoServer:
    """What moto's ThreadedMotoServer serves (its DomainDispatcherApplication), served here so
    that every request passes the AwsRecorder first."""

    def __init__(self, port: int) -> None:
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = AwsRecorder(DomainDispatcherApplication(create_backend_app))
        self.url = ""

    def start(self) -> str:
        # werkzeug answers a busy port with sys.exit(1), so fail first here.
        if self._requested_port:
            ensure_port_free(self._requested_port)
        self._server = make_server(
            HOST, self._requested_port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-moto", daemon=True)
        self._thread.start()
        self.url = f"http://{HOST}:{self._server.server_port}"
        return self.url

    def record_into(self, recorder: Recorder) -> None:
        self.app.recorder = recorder

    def reset(self) -> None:
        # moto's backends are process-global: a sandbox started earlier in this process left state.
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            if self._thread is not None:
                self._thread.join()
            self._server.server_close()
            self._server = None


def ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise OSError(f"cannot listen on {HOST}:{port}: {error.strerror}") from None


@dataclass(frozen=True)
class Clients:
    """boto3 clients for the sandbox's moto; created once, since each costs a model load."""

    ecs: Any
    logs: Any
    s3: Any
    cloudwatch: Any

    @classmethod
    def connect(cls, endpoint_url: str, region: str) -> Clients:
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        session = boto3.session.Session()

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=endpoint_url, region_name=region, config=config)

        return cls(ecs=client("ecs"), logs=client("logs"), s3=client("s3"), cloudwatch=client("cloudwatch"))


def seed(clients: Clients, config: RunbookConfig) -> str:
    """Create clusters, task definitions, services, log groups and the records bucket.

    Resources that already exist are left alone, so seeding twice changes nothing. Returns the
    account id moto assigned, which locates its in-process backends.
    """
    account_id = ""
    refs = service_refs(config)
    for cluster in dict.fromkeys(ref.cluster for ref in refs):
        arn = clients.ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
        account_id = arn.split(":")[4]
        cluster_refs = [ref for ref in refs if ref.cluster == cluster]
        existing = _existing_services(clients.ecs, cluster, [ref.service for ref in cluster_refs])
        for ref in cluster_refs:
            if ref.service not in existing:
                _seed_service(clients.ecs, ref)
    pages = clients.logs.get_paginator("describe_log_groups").paginate()
    groups = {group["logGroupName"] for page in pages for group in page["logGroups"]}
    for ref in refs:
        if ref.log_group not in groups:
            _seed_log_group(clients.logs, ref.log_group)
    _seed_bucket(clients.s3, config.aws.records_bucket, config.aws.region)
    return account_id


def _existing_services(ecs: Any, cluster: str, names: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(names), DESCRIBE_SERVICES_LIMIT):
        batch = names[start : start + DESCRIBE_SERVICES_LIMIT]
        described = ecs.describe_services(cluster=cluster, services=batch)["services"]
        found.update(service["serviceName"] for service in described)
    return found


def _seed_service(ecs: Any, ref: ServiceRef) -> None:
    arn = ""
    for version in SEEDED_VERSIONS:
        container = {"name": ref.service, "image": image(ref.service, version), "memory": 512}
        registered = ecs.register_task_definition(family=ref.family, containerDefinitions=[container])
        arn = registered["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=ref.cluster, serviceName=ref.service, taskDefinition=arn, desiredCount=DESIRED_COUNT)


def _seed_log_group(logs: Any, log_group: str) -> None:
    logs.create_log_group(logGroupName=log_group)
    for stream in (DEPLOYMENT_STREAM, APP_STREAM):
        logs.create_log_stream(logGroupName=log_group, logStreamName=stream)


def _seed_bucket(s3: Any, bucket: str, region: str) -> None:
    if any(existing["Name"] == bucket for existing in s3.list_buckets()["Buckets"]):
        return
    # us-east-1 is the one region that rejects an explicit location constraint.
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)


class LogWriter:
    """Appends lines to the sandbox's CloudWatch Logs streams."""

    def __init__(self, logs_client: Any) -> None:
        self._logs = logs_client

    def write(self, log_group: str, stream: str, messages: list[str]) -> None:
        now_ms = int(time.time() * 1000)
        events = [{"timestamp": now_ms, "message": message} for message in messages]
        self._logs.put_log_events(logGroupName=log_group, logStreamName=stream, logEvents=events)
