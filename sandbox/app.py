"""The whole sandbox in one object: moto, the seeded resources, rollouts, metrics and the fleet."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from moto.cloudwatch.models import cloudwatch_backends
from moto.ecs.models import ecs_backends
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig, load_config
from sandbox import aws
from sandbox.fakes import Fakes
from sandbox.fleet import Fleet
from sandbox.fleet_routes import FleetRoutes
from sandbox.ops import OpsFake
from sandbox.rollouts import RolloutDriver
from sandbox.telemetry import Telemetry
from sandbox.web import ApiError, WebApp, WebServer, json_response, request_json

log = logging.getLogger("sandbox")

# Longer would outlast the workflows' rollout timeout (runbook.toml's rollout_timeout, 10 minutes).
MAX_ROLLOUT_SECONDS = 600

# moto keeps its backends in module globals, so two sandboxes in one process would share one AWS.
_running_lock = threading.Lock()


class Sandbox:
    """Start with `start()` (or `with Sandbox(...) as sandbox:`), stop with `stop()`.

    Ports default to runbook.toml's [sandbox] section; 0 picks a free port. One sandbox may run
    per process at a time, and each start begins from an empty moto.
    """

    def __init__(
        self,
        config: RunbookConfig | None = None,
        *,
        fleet_port: int | None = None,
        aws_port: int | None = None,
        metrics_interval: float | None = None,
        rollout_seconds: float | None = None,
    ) -> None:
        self.config = config or load_config()
        settings = self.config.sandbox
        self._fleet_port = settings.fleet_port if fleet_port is None else fleet_port
        self._aws_port = settings.aws_port if aws_port is None else aws_port
        self._metrics_interval = settings.metrics_interval if metrics_interval is None else metrics_interval
        self._rollout_seconds = settings.rollout_seconds if rollout_seconds is None else rollout_seconds
        self.fleet = Fleet(list(self.config.environments), self.config.services.names, aws.RUNNING_VERSION)
        self.fakes = Fakes(self.config)
        self._moto = aws.MotoServer(self._aws_port)
        self._driver: RolloutDriver | None = None
        self._web: WebServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._owns_process_slot = False

    @property
    def fleet_url(self) -> str:
        if self._web is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{aws.HOST}:{self._web.port}"

    @property
    def aws_url(self) -> str:
        if not self._moto.url:
            raise RuntimeError("the sandbox is not started")
        return self._moto.url

    def start(self) -> Sandbox:
        if self._stop.is_set():
            raise RuntimeError("a stopped sandbox cannot be started again; create a new one")
        if not _running_lock.acquire(blocking=False):
            raise RuntimeError("a sandbox is already running in this process (moto's state is process-wide)")
        self._owns_process_slot = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self._web is not None:
            self._web.stop()
        self._moto.stop()
        if self._owns_process_slot:
            self._owns_process_slot = False
            _running_lock.release()
        log.info("sandbox stopped")

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start(self) -> None:
        region = self.config.aws.region
        aws.use_sandbox_credentials(region)
        aws.quiet_werkzeug()
        # Bind the fleet port first: a port conflict should fail before moto is seeded.
        ops = OpsFake(list(self.config.environments)).rules(self.fakes.recorder)
        rollouts = [Rule("/_sandbox/rollouts", endpoint=self._rollouts, methods=["GET", "POST"])]
        self._web = WebServer(
            WebApp(FleetRoutes(self.fleet).rules() + self.fakes.rules() + ops + rollouts), self._fleet_port
        )
        url = self._moto.start()
        self._moto.reset()
        clients = aws.Clients.connect(url, region)
        account_id = aws.seed(clients, self.config)
        self._moto.record_into(self.fakes.recorder)
        clusters = ", ".join(env.cluster for env in self.config.environments.values())
        log.info("moto on %s seeded: clusters %s", url, clusters)
        self._start_background(clients, region, account_id)
        self._web.start()
        log.info("fleet on %s", self.fleet_url)

    def _start_background(self, clients: aws.Clients, region: str, account_id: str) -> None:
        refs = aws.service_refs(self.config)
        log_writer = aws.LogWriter(clients.logs)
        driver = RolloutDriver(ecs_backends[account_id][region], refs, self.fleet, log_writer, self._rollout_seconds)
        driver.install()
        self._driver = driver
        telemetry = Telemetry(
            self.fleet,
            refs,
            clients.cloudwatch,
            cloudwatch_backends[account_id][region],
            log_writer,
            self.config.aws.metrics_namespace,
            self._metrics_interval,
        )
        self._spawn("sandbox-rollouts", driver.run)
        self._spawn("sandbox-metrics", telemetry.run)

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _rollouts(self, request: Request) -> Response:
        """How long a rollout takes; POST {"seconds": 20} slows rollouts down, from now on and for
        those under way, so that something (a demo, a killed worker) can happen in the middle of one."""
        driver = self._driver
        if driver is None:
            raise ApiError(503, "the sandbox is starting")
        if request.method == "POST":
            seconds = request_json(request).get("seconds")
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not 0 <= seconds <= MAX_ROLLOUT_SECONDS
            ):
                raise ApiError(400, f"seconds must be a number from 0 to {MAX_ROLLOUT_SECONDS}, got {seconds!r}")
            driver.rollout_seconds = float(seconds)
            log.info("rollouts now take %.1f s", driver.rollout_seconds)
        return json_response({"seconds": driver.rollout_seconds})
