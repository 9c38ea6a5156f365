"""runbook.toml loaded into pydantic models.

A wrong value fails with the file, the key and what is allowed. The file is RUNBOOK_CONFIG, else
runbook.toml in the current directory. Secrets are never read from here: integrations take them
from the environment.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from runbook import validate
from runbook.action_items import DEFAULT_DUE, DEFAULT_REMINDER_EVERY, LONGEST_DUE
from runbook.base import Model
from runbook.durations import parse_duration
from runbook.people import People
from runbook.proof import ApprovalPolicy, check_public_key
from runbook.settings import (
    ConfigError,
    TemporalConfig,
    config_path,
    modified_at,
    parse_toml,
    read_toml_as_of,
)
from runbook.severity import Severity, Weekday
from runbook.validate import InvalidInput


def _duration(value: object) -> object:
    """30s, 5m, 1h, 2d as people write them; ISO 8601 (PT5M) as JSON carries them between
    the CLI, Temporal and the worker."""
    if isinstance(value, str) and not value.startswith("P"):
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Section(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsConfig(_Section):
    # "sandbox": the sandbox's moto server; "aws": boto3's standard credential chain and region.
    provider: Literal["sandbox", "aws"] = "sandbox"
    region: str = "us-east-1"
    metrics_namespace: str = "Skillancer"
    records_bucket: str = "skillancer-runbook-records"


class SandboxConfig(_Section):
    fleet_port: int = Field(8080, ge=1, le=65535)
    aws_port: int = Field(4566, ge=1, le=65535)
    metrics_interval: float = Field(2.0, gt=0)
    rollout_seconds: float = Field(1.5, ge=0)


class EnvironmentConfig(_Section):
    cluster: str
    base_url: str
    log_group_prefix: str
    # The runbook's Integrations checklist, named as readiness reports them in its `checks`: one it
    # leaves out is "not reported", never healthy.
    integrations: list[Annotated[str, Field(min_length=1)]] = ["database", "redis", "externalApis"]


# Below the environment's base_url; a service's own paths name it where {service} stands.
_PATH = re.compile(r"/[^\s{}]*")
_SERVICE_PATH = re.compile(r"/[^\s{}]*\{service\}[^\s{}]*")


class HealthConfig(_Section):
    """Where each health check GETs: the runbook's verification script (dashboard, liveness, readiness,
    circuit breakers, auth status), the API status and the homepage, and each service's own."""

    liveness: str = "/health/live"
    readiness: str = "/health/ready"
    api_status: str = "/api/v1/status"
    dashboard: str = "/health/dashboard"
    circuits: str = "/health/circuits"
    auth_status: str = "/api/v1/auth/status"
    homepage: str = "/"
    service_liveness: str = "/svc/{service}/health/live"
    service_readiness: str = "/svc/{service}/health/ready"
    service_api: str = "/svc/{service}/status"

    @field_validator("liveness", "readiness", "api_status", "dashboard", "circuits", "auth_status", "homepage")
    @classmethod
    def _environment_path(cls, path: str) -> str:
        if not _PATH.fullmatch(path):
            raise ValueError("a path below base_url: '/' then no spaces or braces (e.g. /health/live)")
        return path

    @field_validator("service_liveness", "service_readiness", "service_api")
    @classmethod
    def _service_path(cls, path: str) -> str:
        if not _SERVICE_PATH.fullmatch(path):
            raise ValueError("a path below base_url with {service} once, no spaces (e.g. /svc/{service}/health/live)")
        return path


class ServicesConfig(_Section):
    names: list[str] = Field(min_length=1)

    @field_validator("names")
    @classmethod
    def _strict_names(cls, names: list[str]) -> list[str]:
        return [validate.name("service", name) for name in names]


class ChannelsConfig(_Section):
    deployments: str = "#deployments"
    incidents: str = "#incidents"


class ApproversConfig(_Section):
    users: list[str] = Field(default_factory=list)


class ApprovalsConfig(_Section):
    """Who a decision is believed to come from (README, "Who approved this?")."""

    # "verified": a decision without a proof that holds is refused; "any": taken, marked unverified.
    require: Literal["verified", "any"] = "any"
    # How long a signed decision stays good: a proof cannot be sent again after it.
    proof_validity: Duration = Field(timedelta(minutes=5), gt=timedelta(0), le=timedelta(hours=1))
    # The ed25519 public keys (base64) of the gateway (Slack, PagerDuty) and of the codec server
    # (the Temporal UI's logins); "" believes no attestation of that kind.
    gateway_key: str = ""
    codec_key: str = ""
    # The Temporal UI's login provider, whose access tokens the codec server checks.
    ui_issuer: str = ""
    ui_audience: str = ""

    @field_validator("gateway_key", "codec_key")
    @classmethod
    def _public_key(cls, key: str) -> str:
        return check_public_key(key) if key else key

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(
            require=self.require,
            proof_validity=self.proof_validity,
            gateway_key=self.gateway_key,
            codec_key=self.codec_key,
        )


class GatewayConfig(_Section):
    """`python -m starter.gateway`: signed requests from Slack and PagerDuty become decisions."""

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)


class ThresholdsConfig(_Section):
    api_latency_ms: float = Field(500, gt=0)
    homepage_latency_ms: float = Field(3000, gt=0)
    request_timeout_s: float = Field(5.0, gt=0)
    error_rate_percent: float = Field(1.0, ge=0, le=100)
    # Fewer requests than this in a window leave the 5xx rate unjudged: "no data", never 0%.
    min_requests: int = Field(1, ge=1)
    response_time_ms: float = Field(5000, gt=0)
    cpu_percent: float = Field(85.0, gt=0, le=100)
    memory_percent: float = Field(85.0, gt=0, le=100)
    verification_window: Duration = timedelta(minutes=5)
    decision_window: Duration = timedelta(minutes=1)
    # CloudWatch's period: a window that starts when a change went live is not judged before it
    # spans one, or it would be "no data" only because it is young.
    metrics_period: Duration = timedelta(minutes=1)


class ScalingConfig(_Section):
    """The matrix's "scale up first": add `step` tasks, never beyond `max_tasks`."""

    step: int = Field(2, ge=1)
    max_tasks: int = Field(10, ge=1)

    def scale_up_target(self, current: int) -> int:
        return max(current, min(current + self.step, self.max_tasks))


class DeploymentsConfig(_Section):
    approval_timeout: Duration = timedelta(hours=24)
    approval_reminder_every: Duration = timedelta(hours=1)
    # Watching production after the rollout: figures through the decision matrix every interval.
    monitor_window: Duration = timedelta(minutes=5)
    monitor_interval: Duration = timedelta(seconds=30)
    # How long monitoring waits for a human `decide` when the matrix says "investigate".
    decision_timeout: Duration = timedelta(minutes=30)
    rollout_timeout: Duration = timedelta(minutes=10)
    # describe_services calls while a rollout runs: ECS's API limits want seconds, not less.
    rollout_poll_seconds: float = Field(5.0, gt=0)


class VerificationConfig(_Section):
    checklist: list[str] = Field(min_length=1)
    reminder_every: Duration = timedelta(minutes=15)
    deadline: Duration = timedelta(hours=2)


class SlackConfig(_Section):
    # "sandbox": the recording fake of `make up`; "slack": the Web API with SLACK_BOT_TOKEN.
    provider: Literal["sandbox", "slack"] = "sandbox"
    api_url: str = "https://slack.com/api"


class GithubConfig(_Section):
    # "github": REST v3 with GITHUB_TOKEN; api_url may name a GitHub Enterprise server instead.
    provider: Literal["sandbox", "github"] = "sandbox"
    api_url: str = "https://api.github.com"
    repository: str = Field("skillancer/skillancer", pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class StatusPageConfig(_Section):
    # "statuspage": the Statuspage REST API with STATUSPAGE_API_KEY.
    provider: Literal["sandbox", "statuspage"] = "sandbox"
    api_url: str = "https://api.statuspage.io/v1"
    # Statuspage's IDs are opaque: the page's and each component's, as its API and dashboard show them.
    page_id: str = Field("skillancer", pattern=r"^[a-z0-9]+$")
    # The page is public: an incident's root cause and follow-ups reach it only when this says so.
    public_details: bool = False
    # Service name to the component that shows it: an incident marks its services' components
    # degraded or down by severity, and operational again on resolve.
    components: dict[str, Annotated[str, Field(pattern=r"^[a-z0-9]+$")]] = {}


class PagerConfig(_Section):
    # "pagerduty": Events API v2 with PAGERDUTY_ROUTING_KEY to trigger, acknowledge and resolve;
    # the REST API with PAGERDUTY_API_TOKEN to escalate and to read acknowledgements.
    provider: Literal["sandbox", "pagerduty"] = "sandbox"
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    api_url: str = "https://api.pagerduty.com"
    # PagerDuty's REST API wants a user's email in `From` on every change it makes.
    requester_email: str = "runbook@skillancer.com"
    # How often an unacknowledged incident's status is read back from PagerDuty.
    acknowledgement_poll: Duration = Field(timedelta(seconds=30), ge=timedelta(seconds=1))


class ObservabilityConfig(_Section):
    # The worker's Prometheus endpoint (the SDK runtime's metrics); "" turns it off.
    metrics_address: str = "127.0.0.1:9464"
    log_format: Literal["json", "text"] = "json"
    # OpenTelemetry spans for workflows and activities (pip install '.[tracing]'), exported by
    # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT.
    tracing: bool = False


class IncidentsConfig(_Section):
    """Incident Response: the severity policy, who is called, and what each level obliges."""

    environment: str = "production"
    timezone: str = "Europe/London"
    business_days: list[Weekday] = Field(["Mon", "Tue", "Wed", "Thu", "Fri"], min_length=1)
    business_hours: tuple[time, time] = (time(9), time(18))
    # Time to acknowledgement; a level missing here is due by the close of the next business day.
    respond_within: dict[Severity, Duration] = {
        Severity.P1: timedelta(minutes=5),
        Severity.P2: timedelta(minutes=15),
        Severity.P3: timedelta(hours=1),
    }
    # People ([people]): who is called, in order, and who joins the war room.
    escalation: list[str] = []
    responders: list[str] = []
    war_room_severities: list[Severity] = [Severity.P1]
    update_every: Duration = timedelta(minutes=15)
    # The P1 clock, from the declaration (war-room severities): acknowledged within respond_within,
    # assessed within assess_within (RUNBOOK.md's Assess, 5-10 min), mitigation under way within
    # mitigate_within (Mitigate, 10-30 min). A phase missed reminds the commander, once.
    assess_within: Duration = timedelta(minutes=10)
    mitigate_within: Duration = timedelta(minutes=30)
    deployment_window: Duration = timedelta(hours=2)
    # RUNBOOK.md's P1 step is `rollback.sh -y production all`; "affected" rolls back only the
    # deployed services that the incident names.
    rollback_scope: Literal["affected", "all"] = "all"
    # A post-mortem's action item without a due date is due this long after the resolve; its owner
    # is reminded in the incidents channel on the due date, then this often until it is done.
    action_item_due: Duration = Field(DEFAULT_DUE, gt=timedelta(0), le=LONGEST_DUE)
    action_item_reminder_every: Duration = Field(DEFAULT_REMINDER_EVERY, gt=timedelta(0))
    rate_limit_rps: int = Field(50, ge=1)
    # Continue-as-new bound: far below Temporal's 10,240-event hard limit per run.
    events_per_run: int = Field(2000, ge=100, le=8000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/London)") from None
        return name

    @model_validator(mode="after")
    def _hours_in_order(self) -> IncidentsConfig:
        if self.business_hours[0] >= self.business_hours[1]:
            raise ValueError('business_hours: opening must come before closing, e.g. ["09:00", "18:00"]')
        if any(window <= timedelta(0) for window in self.respond_within.values()):
            raise ValueError("respond_within: every window must be positive")
        if self.assess_within <= timedelta(0) or self.mitigate_within <= timedelta(0):
            raise ValueError("assess_within and mitigate_within must be positive")
        return self


class RunbookConfig(_Section):
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    environments: dict[str, EnvironmentConfig] = Field(min_length=1)
    services: ServicesConfig
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    approvers: ApproversConfig = Field(default_factory=ApproversConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    deployments: DeploymentsConfig = Field(default_factory=DeploymentsConfig)
    verification: VerificationConfig
    slack: SlackConfig = Field(default_factory=SlackConfig)
    github: GithubConfig = Field(default_factory=GithubConfig)
    statuspage: StatusPageConfig = Field(default_factory=StatusPageConfig)
    pager: PagerConfig = Field(default_factory=PagerConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    people: People = Field(default_factory=lambda: People({}))

    @field_validator("people")
    @classmethod
    def _strict_person_names(cls, people: People) -> People:
        for name in people.root:
            validate.name("person", name)
        return people

    @model_validator(mode="after")
    def _people_named_are_configured(self) -> RunbookConfig:
        named = {
            "approvers.users": self.approvers.users,
            "incidents.responders": self.incidents.responders,
            "incidents.escalation": self.incidents.escalation,
        }
        known = list(self.people.root) or ["(none: [people] is empty)"]
        for key, names in named.items():
            for name in names:
                if name not in self.people.root:
                    raise ValueError(f"{key}: unknown person {name!r}; [people] has {', '.join(known)}")
        for service in self.statuspage.components:
            if service not in self.services.names:
                raise ValueError(
                    f"statuspage.components: unknown service {service!r}; known: {', '.join(self.services.names)}"
                )
        return self

    @field_validator("environments")
    @classmethod
    def _strict_environment_names(cls, environments: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
        for name in environments:
            validate.name("environment", name)
        return environments

    def environment(self, name: str) -> EnvironmentConfig:
        if name not in self.environments:
            raise UnknownName("environment", name, list(self.environments))
        return self.environments[name]

    def check_services(self, names: list[str]) -> list[str]:
        for name in names:
            if name not in self.services.names:
                raise UnknownName("service", name, self.services.names)
        return names


class UnknownName(InvalidInput):
    def __init__(self, kind: str, value: str, allowed: list[str]) -> None:
        super().__init__(f"unknown {kind} {value!r}; known: {', '.join(allowed)}")
        self.kind, self.value, self.allowed = kind, value, allowed


def parse_config(text: str, source: str) -> RunbookConfig:
    return validated(parse_toml(text, source), source)


def validated(tables: dict[str, Any], source: str) -> RunbookConfig:
    try:
        return RunbookConfig.model_validate(tables)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"{source}: {key}: {first['msg']} (got {first.get('input')!r})") from None


def load_config(path: Path | None = None) -> RunbookConfig:
    path = path or config_path()
    return _validated_as_of(str(path), modified_at(path))


@lru_cache(maxsize=4)
def _validated_as_of(path: str, mtime: float) -> RunbookConfig:
    return validated(read_toml_as_of(path, mtime), path)
