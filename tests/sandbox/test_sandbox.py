"""The sandbox as its users meet it: through HTTP (httpx) and AWS APIs (boto3).

Tests share one sandbox; each uses its own service or environment where state could leak, and
faults are cleared after every test.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from runbook.config import RunbookConfig
from runbook.integrations import sandbox_secret
from sandbox import Sandbox
from sandbox import aws as sandbox_aws
from tests.support import wait_for

PROD = "skillancer-prod"
SETTLES_S = 10.0  # what the sandbox does in the background: a rollout, a metrics write


def next_second() -> datetime:
    """A metrics StartTime after which every datapoint was written with the current fleet state.

    moto truncates StartTime to whole seconds, so the next whole second is the first safe one.
    """
    now = datetime.now(UTC)
    return datetime.fromtimestamp(math.ceil(now.timestamp()), UTC)


def statistic(cloudwatch: Any, env: str, service: str, metric: str, stat: str, since: datetime) -> float | None:
    """One statistic over everything since `since`; one 300 s period covers the whole test."""
    answer = cloudwatch.get_metric_statistics(
        Namespace="Skillancer",
        MetricName=metric,
        Dimensions=[{"Name": "Environment", "Value": env}, {"Name": "Service", "Value": service}],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=300,
        Statistics=[stat],
    )
    points = answer["Datapoints"]
    return points[0][stat] if points else None


def describe(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def primary(service: dict[str, Any]) -> dict[str, Any]:
    return next(deployment for deployment in service["deployments"] if deployment["status"] == "PRIMARY")


def settled(service: dict[str, Any]) -> bool:
    return primary(service)["rolloutState"] != "IN_PROGRESS"


def register(ecs: Any, cluster: str, service: str, version: str) -> str:
    container = {"name": service, "image": f"skillancer/{service}:{version}", "memory": 512}
    answer = ecs.register_task_definition(family=f"{cluster}-{service}", containerDefinitions=[container])
    return answer["taskDefinition"]["taskDefinitionArn"]


def running_version(fleet: httpx.Client, env: str, service: str) -> str:
    return fleet.get(f"/{env}/svc/{service}/status").json()["version"]


# ECS, CloudWatch and CloudWatch Logs.


def test_seeds_clusters_services_revisions_log_groups_and_bucket(
    aws: Callable[[str], Any], config: RunbookConfig
) -> None:
    ecs = aws("ecs")
    clusters = ecs.describe_clusters(clusters=["skillancer-staging", PROD])["clusters"]
    assert {cluster["status"] for cluster in clusters} == {"ACTIVE"}
    arns = ecs.list_services(cluster=PROD)["serviceArns"]
    assert sorted(arn.rsplit("/", 1)[-1] for arn in arns) == sorted(config.services.names)

    gateway = describe(ecs, PROD, "api-gateway")
    assert gateway["desiredCount"] == 2
    assert gateway["taskDefinition"].endswith("task-definition/skillancer-prod-api-gateway:2")
    assert [(d["status"], d["rolloutState"]) for d in gateway["deployments"]] == [("PRIMARY", "COMPLETED")]
    revisions = ecs.list_task_definitions(familyPrefix="skillancer-prod-api-gateway")["taskDefinitionArns"]
    images = [
        ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]["image"]
        for arn in revisions
    ]
    assert images == ["skillancer/api-gateway:v1.0.0", "skillancer/api-gateway:v1.1.0"]

    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/ecs/skillancer-")["logGroups"]
    assert "/ecs/skillancer-prod-api-gateway" in {group["logGroupName"] for group in groups}
    assert config.aws.records_bucket in {bucket["Name"] for bucket in aws("s3").list_buckets()["Buckets"]}


def test_seeding_again_changes_nothing(sandbox: Sandbox, aws: Callable[[str], Any], config: RunbookConfig) -> None:
    sandbox_aws.seed(sandbox_aws.Clients.connect(sandbox.aws_url, config.aws.region), config)

    revisions = aws("ecs").list_task_definitions(familyPrefix="skillancer-staging-auth-svc")["taskDefinitionArns"]
    assert [arn.rsplit(":", 1)[-1] for arn in revisions] == ["1", "2"]


def test_update_service_rolls_out_and_the_fleet_follows(aws: Callable[[str], Any], fleet: httpx.Client) -> None:
    ecs = aws("ecs")
    target = register(ecs, PROD, "payment-svc", "v1.2.0")

    ecs.update_service(cluster=PROD, service="payment-svc", taskDefinition="skillancer-prod-payment-svc:3")

    during = describe(ecs, PROD, "payment-svc")
    assert during["taskDefinition"] == target
    assert [(d["status"], d["rolloutState"]) for d in during["deployments"]] == [
        ("PRIMARY", "IN_PROGRESS"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert primary(during)["taskDefinition"] == target
    assert running_version(fleet, "production", "payment-svc") == "v1.1.0"

    after = wait_for(
        lambda: describe(ecs, PROD, "payment-svc"), "payment-svc's rollout settled", SETTLES_S, accept=settled
    )
    assert primary(after)["rolloutState"] == "COMPLETED"
    assert [d["taskDefinition"] for d in after["deployments"]] == [target]
    assert primary(after)["runningCount"] == 2
    assert running_version(fleet, "production", "payment-svc") == "v1.2.0"
    assert "completed" in after["events"][0]["message"]


def test_bad_image_fails_the_rollout_and_the_service_serves_errors(
    aws: Callable[[str], Any], fleet: httpx.Client
) -> None:
    ecs, cloudwatch = aws("ecs"), aws("cloudwatch")
    bad = register(ecs, PROD, "market-svc", "v1.3.0-bad")
    since = next_second()

    ecs.update_service(cluster=PROD, service="market-svc", taskDefinition=bad)

    failed = wait_for(
        lambda: describe(ecs, PROD, "market-svc"), "market-svc's rollout settled", SETTLES_S, accept=settled
    )
    assert primary(failed)["rolloutState"] == "FAILED"
    assert primary(failed)["failedTasks"] > 0
    assert "circuit breaker" in primary(failed)["rolloutStateReason"]
    assert [d["status"] for d in failed["deployments"]] == ["PRIMARY", "ACTIVE"]
    status = fleet.get("/production/svc/market-svc/status")
    assert (status.status_code, status.json()["version"]) == (503, "v1.3.0-bad")
    assert fleet.get("/production/api/v1/status").status_code == 503
    errors = wait_for(
        lambda: statistic(cloudwatch, "production", "market-svc", "HTTPCode_5XX_Count", "Sum", since),
        "production market-svc's 5xx in CloudWatch",
        SETTLES_S,
        accept=lambda value: (value or 0) > 0,
    )
    assert errors > 0

    ecs.update_service(cluster=PROD, service="market-svc", taskDefinition="skillancer-prod-market-svc:2")

    wait_for(
        lambda: describe(ecs, PROD, "market-svc"),
        "market-svc down to one deployment",
        SETTLES_S,
        accept=lambda s: len(s["deployments"]) == 1,
    )
    assert fleet.get("/production/svc/market-svc/status").json() == {
        "service": "market-svc",
        "version": "v1.1.0",
        "status": "ok",
    }


def test_bad_rollout_writes_task_failures_to_the_service_log(aws: Callable[[str], Any]) -> None:
    ecs, logs = aws("ecs"), aws("logs")
    staging, group = "skillancer-staging", "/ecs/skillancer-staging-notification-svc"
    bad = register(ecs, staging, "notification-svc", "v9-bad")

    ecs.update_service(cluster=staging, service="notification-svc", taskDefinition=bad)

    found = wait_for(
        lambda: logs.filter_log_events(logGroupName=group, filterPattern="health")["events"],
        "a health log line",
        SETTLES_S,
        accept=lambda events: bool(events),
    )
    assert "task failed health checks" in found[0]["message"]
    ecs.update_service(cluster=staging, service="notification-svc", taskDefinition=f"{staging}-notification-svc:2")
    wait_for(
        lambda: describe(ecs, staging, "notification-svc"),
        "notification-svc down to one deployment",
        SETTLES_S,
        accept=lambda s: len(s["deployments"]) == 1,
    )


def test_force_new_deployment_rolls_out_the_same_revision(aws: Callable[[str], Any]) -> None:
    ecs = aws("ecs")
    before = primary(describe(ecs, "skillancer-staging", "api-gateway"))

    ecs.update_service(cluster="skillancer-staging", service="api-gateway", forceNewDeployment=True)

    during = primary(describe(ecs, "skillancer-staging", "api-gateway"))
    assert during["id"] != before["id"]
    assert (during["rolloutState"], during["taskDefinition"]) == ("IN_PROGRESS", before["taskDefinition"])
    wait_for(
        lambda: describe(ecs, "skillancer-staging", "api-gateway")["deployments"],
        "api-gateway's rollout COMPLETED alone",
        SETTLES_S,
        accept=lambda deployments: [d["rolloutState"] for d in deployments] == ["COMPLETED"],
    )


def test_scaling_resizes_the_primary_deployment_without_a_rollout(aws: Callable[[str], Any]) -> None:
    ecs = aws("ecs")
    before = primary(describe(ecs, "skillancer-staging", "market-svc"))

    ecs.update_service(cluster="skillancer-staging", service="market-svc", desiredCount=4)

    after = describe(ecs, "skillancer-staging", "market-svc")
    assert [d["id"] for d in after["deployments"]] == [before["id"]]
    assert (primary(after)["desiredCount"], primary(after)["runningCount"], after["runningCount"]) == (4, 4, 4)


def test_healthy_metrics_are_written_per_environment_and_service(aws: Callable[[str], Any]) -> None:
    cloudwatch = aws("cloudwatch")
    since = next_second() - timedelta(minutes=1)

    def stat(metric: str, name: str) -> float | None:
        return statistic(cloudwatch, "staging", "auth-svc", metric, name, since)

    wait_for(
        lambda: stat("RequestCount", "Sum"),
        "1,000 requests counted",
        SETTLES_S,
        accept=lambda value: (value or 0) >= 1000,
    )
    assert stat("HTTPCode_5XX_Count", "Sum") == 0
    assert stat("ResponseTime", "Average") == 80
    assert stat("CPUUtilization", "Maximum") == 30
    assert stat("MemoryUtilization", "Maximum") == 40
    assert stat("DatabaseErrors", "Sum") == 0
    names = {metric["MetricName"] for metric in cloudwatch.list_metrics(Namespace="Skillancer")["Metrics"]}
    assert names == {
        "RequestCount",
        "HTTPCode_5XX_Count",
        "ResponseTime",
        "CPUUtilization",
        "MemoryUtilization",
        "DatabaseErrors",
    }


# The fleet over HTTP, and faults.


def set_fault(fleet: httpx.Client, env: str, service: str, mode: str, **extra: object) -> dict[str, Any]:
    answer = fleet.post("/_sandbox/faults", json={"environment": env, "service": service, "mode": mode, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_healthy_environment_answers_every_endpoint(fleet: httpx.Client, config: RunbookConfig) -> None:
    assert fleet.get("/staging/").status_code == 200
    assert "text/html" in fleet.get("/staging").headers["content-type"]
    assert fleet.get("/staging/health/live").json() == {"status": "ok"}
    assert fleet.get("/staging/health/ready").json() == {
        "status": "ready",
        "checks": {"database": {"status": "up"}, "redis": {"status": "up"}, "externalApis": {"status": "up"}},
    }
    dashboard = fleet.get("/staging/health/dashboard").json()
    assert dashboard["overall"] == "healthy"
    assert dashboard["summary"] == {"healthy": 5, "degraded": 0, "unhealthy": 0, "total": 5}
    assert dashboard["coreServices"]["auth-svc"]["version"] == "v1.1.0"
    assert set(dashboard["moatServices"]) == {"database", "redis", "search"}
    circuits = fleet.get("/staging/health/circuits").json()["circuits"]
    assert {circuit["state"] for circuit in circuits.values()} == {"closed"}
    assert fleet.get("/staging/api/v1/auth/status").json() == {"status": "operational", "service": "auth-svc"}
    assert fleet.get("/staging/api/v1/status").json() == {
        "status": "ok",
        "services": {name: "ok" for name in config.services.names},
    }
    for path in ("health/live", "health/ready", "status"):
        assert fleet.get(f"/staging/svc/payment-svc/{path}").status_code == 200


def test_unknown_environment_or_service_is_404_naming_the_known_ones(fleet: httpx.Client) -> None:
    unknown_env = fleet.get("/qa/health/live")
    assert unknown_env.status_code == 404
    assert "known: staging, production" in unknown_env.json()["error"]
    unknown_service = fleet.get("/staging/svc/billing/status")
    assert unknown_service.status_code == 404
    assert "api-gateway" in unknown_service.json()["error"]


def test_5xx_fault_opens_circuits_fails_status_and_counts_errors(
    fleet: httpx.Client, aws: Callable[[str], Any]
) -> None:
    since = next_second()
    state = set_fault(fleet, "production", "auth-svc", "5xx")

    assert state["fault"] == {"mode": "5xx", "delay_s": 0.0}
    assert fleet.get("/production/svc/auth-svc/status").status_code == 503
    assert fleet.get("/production/api/v1/auth/status").status_code == 503
    assert fleet.get("/production/api/v1/status").json()["services"]["auth-svc"] == "error"
    assert fleet.get("/production/health/circuits").json()["circuits"]["auth-svc"]["state"] == "open"
    dashboard = fleet.get("/production/health/dashboard")
    assert (dashboard.status_code, dashboard.json()["overall"]) == (503, "unhealthy")
    assert fleet.get("/staging/svc/auth-svc/status").status_code == 200

    errors = wait_for(
        lambda: statistic(aws("cloudwatch"), "production", "auth-svc", "HTTPCode_5XX_Count", "Sum", since),
        "250 auth-svc 5xx counted",
        SETTLES_S,
        accept=lambda value: (value or 0) >= 250,
    )
    requests = statistic(aws("cloudwatch"), "production", "auth-svc", "RequestCount", "Sum", since)
    assert errors / requests == 0.25
    logged = aws("logs").filter_log_events(logGroupName="/ecs/skillancer-prod-auth-svc", filterPattern="Internal")
    assert logged["events"]


def test_slow_fault_delays_only_its_own_requests(fleet: httpx.Client, aws: Callable[[str], Any]) -> None:
    since = next_second()
    set_fault(fleet, "production", "market-svc", "slow", delay_s=0.6)

    with ThreadPoolExecutor(max_workers=8) as pool:
        started = time.monotonic()
        slow = [pool.submit(fleet.get, "/production/svc/market-svc/status") for _ in range(6)]
        fast = pool.submit(fleet.get, "/production/svc/payment-svc/status")
        fast_elapsed = fast.result().elapsed.total_seconds()
        answers = [future.result() for future in slow]
        total = time.monotonic() - started
    assert fast_elapsed < 0.3
    assert all(answer.status_code == 200 and answer.elapsed.total_seconds() >= 0.6 for answer in answers)
    assert total < 1.5
    assert fleet.get("/production/health/dashboard").json()["coreServices"]["market-svc"]["latencyMs"] == 600

    average = wait_for(
        lambda: statistic(aws("cloudwatch"), "production", "market-svc", "ResponseTime", "Average", since),
        "market-svc's response time",
        SETTLES_S,
        accept=lambda value: value is not None,
    )
    assert average == 600
    timeouts = aws("logs").filter_log_events(
        logGroupName="/ecs/skillancer-prod-market-svc",
        filterPattern="timeout",
        startTime=int(since.timestamp() * 1000),
    )["events"]
    assert "ERROR upstream request timeout after 600ms" in {event["message"] for event in timeouts}


def test_slow_gateway_delays_environment_endpoints(fleet: httpx.Client) -> None:
    set_fault(fleet, "staging", "api-gateway", "slow", delay_s=0.4)

    assert fleet.get("/staging/health/live").elapsed.total_seconds() >= 0.4
    assert fleet.get("/staging/").elapsed.total_seconds() >= 0.4
    assert fleet.get("/production/health/live").elapsed.total_seconds() < 0.3


def test_slow_auth_delays_the_auth_status_endpoint(fleet: httpx.Client) -> None:
    set_fault(fleet, "staging", "auth-svc", "slow", delay_s=0.4)

    assert fleet.get("/staging/api/v1/auth/status").elapsed.total_seconds() >= 0.4
    assert fleet.get("/staging/health/live").elapsed.total_seconds() < 0.3


def test_db_fault_fails_readiness_and_counts_database_errors(fleet: httpx.Client, aws: Callable[[str], Any]) -> None:
    since = next_second()
    set_fault(fleet, "staging", "payment-svc", "db")

    ready = fleet.get("/staging/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["database"] == {"status": "down", "services": ["payment-svc"]}
    assert fleet.get("/staging/svc/payment-svc/health/ready").status_code == 503
    assert fleet.get("/staging/svc/payment-svc/health/live").status_code == 200
    dashboard = fleet.get("/staging/health/dashboard").json()
    assert (dashboard["overall"], dashboard["moatServices"]["database"]["status"]) == ("degraded", "unhealthy")
    wait_for(
        lambda: statistic(aws("cloudwatch"), "staging", "payment-svc", "DatabaseErrors", "Sum", since),
        "payment-svc's database errors",
        SETTLES_S,
        accept=lambda value: (value or 0) > 0,
    )
    refused = aws("logs").filter_log_events(logGroupName="/ecs/skillancer-staging-payment-svc", filterPattern="refused")
    assert refused["events"]


def test_cpu_fault_degrades_and_shows_in_cpu_and_memory(fleet: httpx.Client, aws: Callable[[str], Any]) -> None:
    since = next_second()
    set_fault(fleet, "staging", "market-svc", "cpu")

    assert fleet.get("/staging/health/dashboard").json()["coreServices"]["market-svc"]["status"] == "degraded"
    assert fleet.get("/staging/api/v1/status").json()["status"] == "degraded"
    cpu = wait_for(
        lambda: statistic(aws("cloudwatch"), "staging", "market-svc", "CPUUtilization", "Maximum", since),
        "market-svc's CPU",
        SETTLES_S,
        accept=lambda value: value is not None,
    )
    assert cpu == 95
    assert statistic(aws("cloudwatch"), "staging", "market-svc", "MemoryUtilization", "Maximum", since) == 92


def test_silent_fault_stops_the_services_datapoints_but_not_its_answers(
    fleet: httpx.Client, aws: Callable[[str], Any]
) -> None:
    set_fault(fleet, "production", "payment-svc", "silent")
    since = next_second()
    # A few writes later: the other services' datapoints arrive, the silent one's do not.
    wait_for(
        lambda: statistic(aws("cloudwatch"), "production", "market-svc", "RequestCount", "Sum", since),
        "market-svc's requests after the fault",
        SETTLES_S,
        accept=lambda value: value is not None and value >= 3000,
    )

    assert statistic(aws("cloudwatch"), "production", "payment-svc", "RequestCount", "Sum", since) is None
    assert fleet.get("/production/svc/payment-svc/status").json()["status"] == "ok"
    assert fleet.get("/production/health/dashboard").json()["coreServices"]["payment-svc"]["status"] == "healthy"


def test_down_gateway_fails_liveness_and_clear_restores(fleet: httpx.Client) -> None:
    set_fault(fleet, "production", "api-gateway", "down")

    assert fleet.get("/production/health/live").json() == {"status": "down"}
    assert fleet.get("/production/health/live").status_code == 503
    assert fleet.get("/production/").status_code == 503
    assert fleet.get("/production/svc/api-gateway/status").json()["status"] == "down"
    assert fleet.get("/_sandbox/faults").json() == {
        "faults": [{"environment": "production", "service": "api-gateway", "mode": "down", "delay_s": 0.0}]
    }

    cleared = set_fault(fleet, "production", "api-gateway", "clear")

    assert cleared["fault"] is None
    assert fleet.get("/production/health/live").status_code == 200
    assert fleet.get("/_sandbox/faults").json() == {"faults": []}
    assert fleet.get("/_sandbox/fleet").json()["production"]["api-gateway"]["fault"] is None


def test_bad_fault_input_is_400_naming_the_allowed_values(fleet: httpx.Client) -> None:
    def post(body: dict[str, object]) -> httpx.Response:
        return fleet.post("/_sandbox/faults", json=body)

    bad_mode = post({"environment": "staging", "service": "auth-svc", "mode": "melt"})
    assert bad_mode.status_code == 400
    assert "known: 5xx, slow, db, cpu, down, silent, clear" in bad_mode.json()["error"]
    bad_env = post({"environment": "qa", "service": "auth-svc", "mode": "5xx"})
    assert (bad_env.status_code, "known: staging, production" in bad_env.json()["error"]) == (400, True)
    bad_service = post({"environment": "staging", "service": "billing", "mode": "5xx"})
    assert bad_service.status_code == 400 and "notification-svc" in bad_service.json()["error"]
    assert post({"service": "auth-svc", "mode": "5xx"}).status_code == 400
    assert post({"environment": "staging", "service": "auth-svc", "mode": "slow", "delay_s": "long"}).status_code == 400
    assert fleet.post("/_sandbox/faults", content=b"not json").status_code == 400
    assert fleet.get("/_sandbox/faults").json() == {"faults": []}


def test_sandbox_health_and_fleet_views(fleet: httpx.Client) -> None:
    assert fleet.get("/_sandbox/health").json() == {"status": "ok"}
    view = fleet.get("/_sandbox/fleet").json()
    assert set(view) == {"staging", "production"}
    assert view["staging"]["auth-svc"]["version"] == "v1.1.0"


# The recording fakes.


def test_slack_fake_answers_and_records(fleet: httpx.Client, config: RunbookConfig) -> None:
    fleet.delete("/_sandbox/calls")
    bot = {"Authorization": "Bearer xoxb-sandbox"}
    posted = [
        fleet.post(
            "/slack/api/chat.postMessage", json={"channel": "#deployments", "text": f"hi {n}"}, headers=bot
        ).json()
        for n in range(2)
    ]
    created = fleet.post("/slack/api/conversations.create", data={"name": "inc-42"}, headers=bot).json()
    unknown = fleet.post("/slack/api/users.list", json={}, headers=bot).json()

    assert posted[0]["ok"] and posted[0]["channel"].startswith("C")
    assert posted[0]["ts"] != posted[1]["ts"]
    assert created["ok"] and created["channel"]["name"] == "inc-42" and created["channel"]["id"].startswith("C")
    assert unknown == {"ok": False, "error": "unknown_method"}
    alice = config.people.root["alice"].slack_id
    invite = {"channel": created["channel"]["id"], "users": alice}
    assert fleet.post("/slack/api/conversations.invite", json=invite, headers=bot).json()["ok"]
    update = {"channel": posted[0]["channel"], "ts": posted[0]["ts"], "text": "x"}
    assert fleet.post("/slack/api/chat.update", json=update, headers=bot).json()["ok"]

    calls = fleet.get("/_sandbox/calls", params={"system": "slack"}).json()
    assert [call["path"] for call in calls[:3]] == [
        "/slack/api/chat.postMessage",
        "/slack/api/chat.postMessage",
        "/slack/api/conversations.create",
    ]
    assert calls[0]["body"] == {"channel": "#deployments", "text": "hi 0"}
    assert calls[2]["body"] == {"name": "inc-42"}
    assert calls[0]["method"] == "POST" and calls[0]["time"].endswith("Z")


def test_calls_filter_by_system_and_clear(fleet: httpx.Client) -> None:
    fleet.post("/pagerduty/v2/enqueue", json={"routing_key": "k", "event_action": "trigger"})
    fleet.post("/slack/api/chat.postMessage", json={"channel": "#incidents", "text": "x"})

    assert {call["system"] for call in fleet.get("/_sandbox/calls").json()} >= {"pagerduty", "slack"}
    assert {call["system"] for call in fleet.get("/_sandbox/calls?system=pagerduty").json()} == {"pagerduty"}
    assert fleet.delete("/_sandbox/calls").json()["cleared"] >= 2
    assert fleet.get("/_sandbox/calls").json() == []


def test_github_fake_answers_like_a_well_run_repository(fleet: httpx.Client) -> None:
    repo = "/github/repos/skillancer/platform"
    assert fleet.get(f"{repo}/commits/v1.2.0/status").json()["state"] == "success"
    runs = fleet.get(f"{repo}/commits/v1.2.0/check-runs").json()
    assert runs["total_count"] == len(runs["check_runs"]) > 0
    assert {run["conclusion"] for run in runs["check_runs"]} == {"success"}
    pulls = fleet.get(f"{repo}/pulls", params={"state": "closed", "head": "skillancer:release/v1.2.0"}).json()
    assert len(pulls) == 1 and pulls[0]["merged_at"]
    assert fleet.get(f"{repo}/commits/v1.2.0/pulls").json()[0]["number"] == pulls[0]["number"]
    assert fleet.get(f"{repo}/pulls/{pulls[0]['number']}").json()["merged"] is True
    reviews = fleet.get(f"{repo}/pulls/{pulls[0]['number']}/reviews").json()
    assert reviews == [{"id": reviews[0]["id"], "state": "APPROVED", "user": {"login": "bob"}}]
    assert "release notes" in fleet.get(f"{repo}/releases/tags/v1.2.0").json()["body"]
    assert fleet.get(f"{repo}/compare/main...v1.2.0").json()["status"] in ("behind", "identical")
    assert fleet.get(f"{repo}/compare/main...main").json()["status"] == "identical"
    assert fleet.get(f"{repo}/issues").status_code == 404
    assert fleet.get("/_sandbox/calls", params={"system": "github"}).json()[-1]["path"] == f"{repo}/issues"


def test_github_fake_fails_the_chosen_prerequisite(fleet: httpx.Client) -> None:
    repo = "/github/repos/skillancer/platform"
    try:
        assert fleet.post("/_sandbox/github", json={"failing": "ci"}).json() == {"failing": "ci"}
        assert fleet.get(f"{repo}/commits/v1.2.0/status").json()["state"] == "failure"
        runs = fleet.get(f"{repo}/commits/v1.2.0/check-runs").json()["check_runs"]
        assert "failure" in {run["conclusion"] for run in runs}

        fleet.post("/_sandbox/github", json={"failing": "review"})
        assert fleet.get(f"{repo}/commits/v1.2.0/status").json()["state"] == "success"
        assert {review["state"] for review in fleet.get(f"{repo}/pulls/42/reviews").json()} == {"COMMENTED"}

        fleet.post("/_sandbox/github", json={"failing": "release_notes"})
        assert fleet.get(f"{repo}/releases/tags/v1.2.0").status_code == 404

        wrong = fleet.post("/_sandbox/github", json={"failing": "tests"})
        assert wrong.status_code == 400 and "known: ci, review, release_notes, null" in wrong.json()["error"]
    finally:
        fleet.post("/_sandbox/github", json={"failing": None})
    assert fleet.get("/_sandbox/github").json() == {"failing": None}
    assert fleet.get(f"{repo}/releases/tags/v1.2.0").status_code == 200


def test_statuspage_fake_creates_and_updates_incidents(fleet: httpx.Client, config: RunbookConfig) -> None:
    incidents, auth = f"/statuspage/v1/pages/{config.statuspage.page_id}/incidents", {"Authorization": "OAuth k"}
    created = fleet.post(
        incidents, json={"incident": {"name": "Payments degraded", "status": "investigating"}}, headers=auth
    )
    assert created.status_code == 201
    incident = created.json()
    assert (incident["name"], incident["status"]) == ("Payments degraded", "investigating")

    resolved = fleet.patch(f"{incidents}/{incident['id']}", json={"incident": {"status": "resolved"}}, headers=auth)

    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    assert fleet.patch(f"{incidents}/nope", json={"incident": {"status": "resolved"}}, headers=auth).status_code == 404
    assert fleet.post(incidents, json={"name": "no envelope"}, headers=auth).status_code == 400
    bodies = [call["body"] for call in fleet.get("/_sandbox/calls?system=statuspage").json()]
    assert {"incident": {"status": "resolved"}} in bodies


def test_pagerduty_fake_knows_the_workers_routing_key_only(fleet: httpx.Client) -> None:
    # Its contract, rule by rule, is tests/sandbox/test_pagerduty_fake.py's.
    event = {
        "routing_key": sandbox_secret("PAGERDUTY_ROUTING_KEY"),
        "event_action": "trigger",
        "dedup_key": "deploy-v1.2.0",
        "payload": {"summary": "rollback", "source": "api.skillancer.com", "severity": "critical"},
    }
    triggered = fleet.post("/pagerduty/v2/enqueue", json=event)
    assert triggered.status_code == 202
    assert triggered.json() == {"status": "success", "message": "Event processed", "dedup_key": "deploy-v1.2.0"}
    unknown = fleet.post("/pagerduty/v2/enqueue", json={**event, "routing_key": "0" * 32})
    assert unknown.status_code == 400 and unknown.json()["errors"] == ["Invalid routing key"]


# Starting.


def test_a_second_sandbox_in_the_same_process_is_refused(sandbox: Sandbox, config: RunbookConfig) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        Sandbox(config, fleet_port=0, aws_port=0).start()
    assert httpx.get(f"{sandbox.fleet_url}/_sandbox/health").status_code == 200
