"""Outages of the outside services on demand, the ECS writes on the record, and slower rollouts.

The outside services through HTTP, as the worker's httpx calls them; ECS through boto3 configured as
the worker configures it (standard retry mode), so what boto3 makes of a throttled call is what the
worker would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.test import Client

from runbook.config import RunbookConfig, load_config
from runbook.integrations import sandbox_secret
from sandbox import Sandbox
from sandbox.fakes import Fakes
from sandbox.web import WebApp

PROD = "skillancer-prod"


@pytest.fixture
def clean(fleet: httpx.Client) -> Iterator[httpx.Client]:
    fleet.delete("/_sandbox/calls")
    yield fleet
    fleet.delete("/_sandbox/outages")


def ecs_client(sandbox: Sandbox, config: RunbookConfig, retries: int = 4) -> Any:
    # The worker's retry mode (activities/aws.py): throttling backs off and tries again.
    retry = Config(retries={"mode": "standard", "max_attempts": retries})
    return boto3.client("ecs", endpoint_url=sandbox.aws_url, region_name=config.aws.region, config=retry)


# First, before any test clears the record: only the sandbox's seeding creates clusters and services.
def test_seeding_is_not_on_the_record(fleet: httpx.Client) -> None:
    actions = {call["action"] for call in fleet.get("/_sandbox/calls", params={"system": "ecs"}).json()}
    assert not actions & {"CreateCluster", "CreateService"}


def post_message(fleet: httpx.Client, text: str) -> httpx.Response:
    return fleet.post(
        "/slack/api/chat.postMessage",
        json={"channel": "#deployments", "text": text},
        headers={"Authorization": "Bearer xoxb-sandbox"},
    )


def test_slack_rate_limits_as_slack_does_then_delivers(clean: httpx.Client) -> None:
    fleet = clean
    started = fleet.post("/_sandbox/outages", json={"system": "slack", "times": 2, "retry_after": 3})
    assert started.status_code == 201 and started.json()["status"] == 429

    refused = [post_message(fleet, "first try"), post_message(fleet, "second try")]
    delivered = post_message(fleet, "third try")

    assert [r.status_code for r in refused] == [429, 429]
    assert refused[0].headers["Retry-After"] == "3"
    assert refused[0].json() == {"ok": False, "error": "ratelimited"}
    assert delivered.status_code == 200 and delivered.json()["ok"]
    calls = fleet.get("/_sandbox/calls", params={"system": "slack"}).json()
    assert [(call["body"]["text"], call.get("injected")) for call in calls] == [
        ("first try", 429),
        ("second try", 429),
        ("third try", None),
    ]
    assert fleet.get("/_sandbox/outages").json() == []


def test_a_dropped_call_is_applied_and_its_answer_lost(clean: httpx.Client) -> None:
    fleet = clean
    started = fleet.post("/_sandbox/outages", json={"system": "pagerduty", "mode": "drop"})
    assert started.status_code == 201 and started.json()["mode"] == "drop"
    event = {"routing_key": "sandbox" + "0" * 25, "event_action": "trigger", "dedup_key": "INC-DROP"}
    event["payload"] = {"summary": "checkout failing", "source": "api.skillancer.com", "severity": "critical"}
    with pytest.raises(httpx.RemoteProtocolError):
        fleet.post("/pagerduty/v2/enqueue", json=event)
    answered = fleet.post("/pagerduty/v2/enqueue", json=event)
    assert answered.status_code == 202
    calls = fleet.get("/_sandbox/calls", params={"system": "pagerduty"}).json()
    assert [call.get("injected") for call in calls] == ["dropped", None]


def test_slack_refuses_a_call_with_an_error_code_as_slack_does(clean: httpx.Client) -> None:
    fleet = clean
    started = fleet.post("/_sandbox/outages", json={"system": "slack", "error": "invalid_auth"})
    assert started.status_code == 201 and started.json()["status"] == 200
    refused, delivered = post_message(fleet, "first try"), post_message(fleet, "second try")
    assert (refused.status_code, refused.json()) == (200, {"ok": False, "error": "invalid_auth"})
    assert delivered.json()["ok"]
    for bad in ({"system": "github", "error": "invalid_auth"}, {"system": "slack", "status": 401, "error": "x"}):
        answer = fleet.post("/_sandbox/outages", json=bad)
        assert answer.status_code == 400 and "for slack only, without status" in answer.json()["error"]


def test_github_502_other_systems_and_delete_ends_every_outage(clean: httpx.Client) -> None:
    fleet = clean
    fleet.post("/_sandbox/outages", json={"system": "github"})
    fleet.post("/_sandbox/outages", json={"system": "pagerduty", "times": 5})

    down = fleet.get("/github/repos/skillancer/platform/commits/v1.2.0/status")
    up = fleet.get("/github/repos/skillancer/platform/commits/v1.2.0/status")
    paged = fleet.post("/pagerduty/v2/enqueue", json={"routing_key": "k", "event_action": "trigger"})

    assert (down.status_code, down.json()["message"]) == (502, "Server Error")
    assert up.status_code == 200 and up.json()["state"] == "success"
    assert paged.status_code == 503
    assert [(o["system"], o["times"]) for o in fleet.get("/_sandbox/outages").json()] == [("pagerduty", 4)]
    assert fleet.delete("/_sandbox/outages").json() == {"cleared": 1}
    event = {"routing_key": sandbox_secret("PAGERDUTY_ROUTING_KEY"), "event_action": "trigger", "dedup_key": "INC-UP"}
    event["payload"] = {"summary": "checkout failing", "source": "api.skillancer.com", "severity": "critical"}
    assert fleet.post("/pagerduty/v2/enqueue", json=event).status_code == 202
    pages = fleet.get("/_sandbox/calls", params={"system": "pagerduty"}).json()
    assert [call.get("injected") for call in pages] == [503, None]


def test_ecs_writes_are_recorded_and_reads_are_not(
    clean: httpx.Client, sandbox: Sandbox, config: RunbookConfig
) -> None:
    ecs = ecs_client(sandbox, config)
    container = {"name": "auth-svc", "image": "skillancer/auth-svc:v3.0.0", "memory": 512}
    arn = ecs.register_task_definition(family=f"{PROD}-auth-svc", containerDefinitions=[container])["taskDefinition"][
        "taskDefinitionArn"
    ]
    ecs.describe_services(cluster=PROD, services=["auth-svc"])
    ecs.update_service(cluster=PROD, service="auth-svc", taskDefinition=arn)

    calls = clean.get("/_sandbox/calls", params={"system": "ecs"}).json()
    assert [call["action"] for call in calls] == ["RegisterTaskDefinition", "UpdateService"]
    assert calls[1]["body"] == {"cluster": PROD, "service": "auth-svc", "taskDefinition": arn}
    assert all("injected" not in call for call in calls)


def test_ecs_throttling_is_retried_by_boto3_and_only_the_last_try_applies(
    clean: httpx.Client, sandbox: Sandbox, config: RunbookConfig
) -> None:
    fleet = clean
    ecs = ecs_client(sandbox, config)
    before = ecs.describe_services(cluster=PROD, services=["notification-svc"])["services"][0]
    target, started_before = before["taskDefinition"], sum("started" in event["message"] for event in before["events"])
    fleet.post("/_sandbox/outages", json={"system": "ecs", "action": "UpdateService", "times": 2})

    # Reads pass: the outage is for UpdateService only.
    ecs.describe_services(cluster=PROD, services=["notification-svc"])
    answer = ecs.update_service(
        cluster=PROD, service="notification-svc", taskDefinition=target, forceNewDeployment=True
    )

    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    updates = [
        call
        for call in fleet.get("/_sandbox/calls", params={"system": "ecs"}).json()
        if call["action"] == "UpdateService"
    ]
    assert [call.get("injected") for call in updates] == [400, 400, None]
    # One new deployment: the refused tries never reached ECS.
    events = ecs.describe_services(cluster=PROD, services=["notification-svc"])["services"][0]["events"]
    assert sum("started" in event["message"] for event in events) == started_before + 1


def test_throttling_is_what_boto3_calls_throttling(
    clean: httpx.Client, sandbox: Sandbox, config: RunbookConfig
) -> None:
    clean.post("/_sandbox/outages", json={"system": "ecs"})
    with pytest.raises(ClientError) as refused:
        ecs_client(sandbox, config, retries=0).list_clusters()
    assert refused.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_rollouts_can_be_slowed_down_while_the_sandbox_runs(
    fleet: httpx.Client, sandbox: Sandbox, config: RunbookConfig
) -> None:
    ecs = ecs_client(sandbox, config)
    default = fleet.get("/_sandbox/rollouts").json()["seconds"]
    try:
        assert fleet.post("/_sandbox/rollouts", json={"seconds": 3}).json() == {"seconds": 3.0}
        target = ecs.describe_services(cluster=PROD, services=["market-svc"])["services"][0]["taskDefinition"]
        ecs.update_service(cluster=PROD, service="market-svc", taskDefinition=target, forceNewDeployment=True)
        time.sleep(default + 1)
        primary = ecs.describe_services(cluster=PROD, services=["market-svc"])["services"][0]["deployments"][0]
        assert primary["rolloutState"] == "IN_PROGRESS"
    finally:
        fleet.post("/_sandbox/rollouts", json={"seconds": default})
    assert fleet.get("/_sandbox/rollouts").json() == {"seconds": default}
    for bad in ({"seconds": -1}, {"seconds": "soon"}, {"seconds": True}, {}):
        answer = fleet.post("/_sandbox/rollouts", json=bad)
        assert answer.status_code == 400 and "seconds must be a number from 0 to 600" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"system": "twitter"}, "unknown system 'twitter'; known: slack, github, statuspage, pagerduty, ops, ecs"),
        ({"system": "slack", "status": 200}, "status must be an HTTP error status (400-599), got 200"),
        ({"system": "slack", "times": 0}, "times must be a whole number of calls, 1 or more, got 0"),
        ({"system": "slack", "retry_after": "later"}, "retry_after must be seconds, 0 or more, got 'later'"),
        ({"system": "slack", "action": "UpdateService"}, "for system ecs, or one of PagerDuty's APIs (events, rest)"),
        ({"system": "pagerduty", "action": "sms"}, "for pagerduty; got 'sms'"),
        (
            {"system": "slack", "count": 2},
            "unknown field(s) count; allowed: system, status, times, retry_after, action, error, mode",
        ),
        ({"system": "slack", "mode": "lose"}, "unknown mode 'lose'; known: refuse, drop"),
        ({"system": "ecs", "mode": "drop"}, "mode drop applies the call and loses its answer: not for ecs"),
        ({"system": "slack", "mode": "drop", "status": 500}, "without status or error"),
    ],
)
def test_a_bad_outage_is_refused_saying_why(body: dict[str, object], message: str) -> None:
    fakes = Fakes(load_config())
    answer = Client(WebApp(fakes.rules())).post("/_sandbox/outages", json=body)
    assert answer.status_code == 400 and message in answer.json["error"]
    assert fakes.outages.pending() == []


def test_a_pagerduty_outage_of_one_api_is_not_used_up_by_the_other() -> None:
    # An open incident reads PagerDuty's REST API every few seconds; a page refused on purpose
    # must still meet the Events API's outage.
    fakes = Fakes(load_config())
    client = Client(WebApp(fakes.rules()))
    assert client.post("/_sandbox/outages", json={"system": "pagerduty", "action": "events", "status": 400}).status_code
    read = client.get("/pagerduty/api/users", headers={"Authorization": "Token token=x"})
    assert read.status_code != 400 and len(fakes.outages.pending()) == 1
    page = client.post("/pagerduty/v2/enqueue", json={})
    assert page.status_code == 400 and fakes.outages.pending() == []
