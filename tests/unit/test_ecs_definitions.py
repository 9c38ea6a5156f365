"""deploy/ecs/, checked offline: each file is the input of the ECS call that takes it, by botocore's
own model of RegisterTaskDefinition and CreateService (what `aws ecs ... --cli-input-json` checks
before sending), and holds what running the runbook there needs: every secret the code reads, from
Secrets Manager and never in plain environment, a read-only root, a non-root user, logs in
CloudWatch, our console scripts, and roles that grant what the processes use and no more."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from runbook.config import RunbookConfig, parse_config
from runbook.integrations import gateway_secrets, resolve_integrations
from starter.gateway import new_key
from tests.support import hadolint

ROOT = Path(__file__).resolve().parents[2]
ECS = ROOT / "deploy" / "ecs"
PROCESSES = ("worker", "gateway")
# Addresses and paths, nothing anyone must keep secret.
PLAIN_ENVIRONMENT = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RUNBOOK_CONFIG"}


def load(name: str) -> dict[str, Any]:
    return json.loads((ECS / name).read_text())


def task_definition(process: str) -> dict[str, Any]:
    return load(f"{process}-task-definition.json")


def container(process: str) -> dict[str, Any]:
    [only] = task_definition(process)["containerDefinitions"]
    return only


def problems(params: dict[str, Any], operation: str) -> str:
    model = botocore.session.get_session().get_service_model("ecs")
    return ParamValidator().validate(params, model.operation_model(operation).input_shape).generate_report()


def deployed_config() -> RunbookConfig:
    return parse_config((ROOT / "deploy" / "runbook.toml").read_text(), "deploy/runbook.toml")


def provided(process: str) -> dict[str, str]:
    """The variables the process's container gets, each with a stand-in value."""
    definition = container(process)
    names = [entry["name"] for entry in definition["environment"] + definition["secrets"]]
    return {name: f"stand-in-{name}" for name in names}


CALLS = [(f"{process}-task-definition.json", "RegisterTaskDefinition") for process in PROCESSES] + [
    (f"{process}-service.json", "CreateService") for process in PROCESSES
]


@pytest.mark.parametrize(("name", "operation"), CALLS)
def test_each_file_is_valid_input_of_its_ecs_call(name: str, operation: str):
    assert problems(load(name), operation) == ""


def test_the_validator_refuses_a_misspelt_key_and_a_wrong_type():
    definition = task_definition("worker")
    definition["containerDefinitions"][0]["readOnlyRootFilesystem"] = True
    assert "readOnlyRootFilesystem" in problems(definition, "RegisterTaskDefinition")
    service = load("worker-service.json") | {"desiredCount": "2"}
    assert "desiredCount" in problems(service, "CreateService")


@pytest.mark.parametrize("process", PROCESSES)
def test_secrets_come_from_secrets_manager_never_plain_environment(process: str):
    definition = container(process)
    assert {entry["name"] for entry in definition["environment"]} <= PLAIN_ENVIRONMENT
    assert definition["secrets"], "the Temporal Cloud API key at least"
    for secret in definition["secrets"]:
        assert secret["valueFrom"].startswith("arn:aws:secretsmanager:"), secret["name"]


def test_the_worker_gets_every_secret_its_integrations_read():
    # resolve_integrations refuses the deployed providers (Slack, GitHub, Statuspage, PagerDuty, the
    # environments' operations API) any secret it does not find.
    resolve_integrations(deployed_config(), environ=provided("worker"))


def test_the_gateway_gets_every_secret_it_reads():
    key = new_key()
    config = deployed_config()
    approvals = config.approvals.model_copy(update={"gateway_key": key["gateway_key"]})
    # A real key in place of the stand-in, only if the file provides the variable at all.
    environ = {
        name: key[name] if name == "RUNBOOK_GATEWAY_KEY" else value for name, value in provided("gateway").items()
    }
    gateway_secrets(config.model_copy(update={"approvals": approvals}), environ=environ)


def test_both_reach_temporal_cloud_with_the_same_key_and_payload_encryption():
    def shared(process: str) -> dict[str, str]:
        return {
            entry["name"]: entry["valueFrom"]
            for entry in container(process)["secrets"]
            if entry["name"] in ("TEMPORAL_API_KEY", "RUNBOOK_ENCRYPTION_KEYS")
        }

    assert len(shared("worker")) == 2 and shared("worker") == shared("gateway")
    environment = {entry["name"]: entry["value"] for entry in container("worker")["environment"]}
    assert environment == {entry["name"]: entry["value"] for entry in container("gateway")["environment"]}
    namespace = environment["TEMPORAL_NAMESPACE"]
    assert environment["TEMPORAL_ADDRESS"] == f"{namespace}.tmprl.cloud:7233"
    assert environment["RUNBOOK_CONFIG"] == "/etc/runbook/runbook.toml"


@pytest.mark.parametrize("process", PROCESSES)
def test_it_runs_our_console_script_non_root_on_a_read_only_root_on_fargate(process: str):
    definition = task_definition(process)
    assert definition["requiresCompatibilities"] == ["FARGATE"] and definition["networkMode"] == "awsvpc"
    ours = container(process)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert ours["command"][0] == f"runbook-{process}" and ours["command"][0] in scripts
    assert ours["readonlyRootFilesystem"] is True
    assert ours["user"].split(":")[0] not in ("0", "root")
    # The one writable place, as the compose file's tmpfs.
    [scratch] = ours["mountPoints"]
    assert scratch["containerPath"] == "/tmp"
    assert scratch["sourceVolume"] in {volume["name"] for volume in definition["volumes"]}


@pytest.mark.parametrize("process", PROCESSES)
def test_its_logs_go_to_cloudwatch(process: str):
    logging = container(process)["logConfiguration"]
    assert logging["logDriver"] == "awslogs"
    options = logging["options"]
    assert options["awslogs-stream-prefix"] == process
    assert options["awslogs-region"] == deployed_config().aws.region
    execution = load(f"{process}-execution-role-policy.json")
    granted = [
        resource
        for statement in execution["Statement"]
        if "logs:PutLogEvents" in statement["Action"]
        for resource in as_list(statement["Resource"])
    ]
    assert any(resource.split(":log-group:")[1].split(":")[0] == options["awslogs-group"] for resource in granted)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def readable_secrets(process: str) -> list[str]:
    policy = load(f"{process}-execution-role-policy.json")
    return [
        resource
        for statement in policy["Statement"]
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def secret_arn(value_from: str) -> str:
    """The secret's own ARN in a valueFrom that may name a JSON key after it."""
    return ":".join(value_from.split(":")[:7])


@pytest.mark.parametrize("process", PROCESSES)
def test_its_execution_role_reads_its_own_secrets_and_no_other(process: str):
    patterns = readable_secrets(process)
    own = {secret_arn(entry["valueFrom"]) for entry in container(process)["secrets"]}
    for arn in own:
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns), arn
    other = PROCESSES[1 - PROCESSES.index(process)]
    theirs = {secret_arn(entry["valueFrom"]) for entry in container(other)["secrets"]} - own
    assert theirs, "each has secrets of its own"
    for arn in theirs:
        assert not any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns), f"{process} may read {arn}"


def test_the_worker_alone_has_a_task_role_granting_readmes_iam_table():
    assert "taskRoleArn" in task_definition("worker")
    assert "taskRoleArn" not in task_definition("gateway"), "the gateway calls no AWS API"
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### IAM: what the worker needs on AWS") :].split("\n## ", 1)[0]
    listed = set(re.findall(r"`((?:ecs|iam|cloudwatch|logs|s3):\w+)`", section))
    policy = load("worker-task-role-policy.json")
    granted = {action for statement in policy["Statement"] for action in as_list(statement["Action"])}
    assert listed and granted == listed


def test_the_worker_task_role_is_scoped_to_deploy_configs_clusters_logs_and_bucket():
    config = deployed_config()
    statements = load("worker-task-role-policy.json")["Statement"]

    def resources(action: str) -> list[str]:
        return [
            resource
            for statement in statements
            if action in as_list(statement["Action"])
            for resource in as_list(statement["Resource"])
        ]

    for name, environment in config.environments.items():
        service = f"arn:aws:ecs:{config.aws.region}:123456789012:service/{environment.cluster}/api"
        assert any(fnmatch.fnmatchcase(service, pattern) for pattern in resources("ecs:UpdateService")), name
        group = f"arn:aws:logs:{config.aws.region}:123456789012:log-group:{environment.log_group_prefix}api:*"
        assert any(fnmatch.fnmatchcase(group, pattern) for pattern in resources("logs:FilterLogEvents")), name
    assert resources("s3:PutObject") == [f"arn:aws:s3:::{config.aws.records_bucket}/*"]
    assert resources("s3:ListBucket") == [f"arn:aws:s3:::{config.aws.records_bucket}"]
    assert "*" not in resources("ecs:UpdateService") + resources("logs:FilterLogEvents")


def test_the_services_run_two_workers_and_the_gateway_behind_its_load_balancer():
    worker, gateway = load("worker-service.json"), load("gateway-service.json")
    assert worker["desiredCount"] == 2
    for process, service in (("worker", worker), ("gateway", gateway)):
        assert service["taskDefinition"] == task_definition(process)["family"]
        assert service["launchType"] == "FARGATE"
        assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    [balancer] = gateway["loadBalancers"]
    ours = container("gateway")
    assert balancer["containerName"] == ours["name"]
    assert balancer["containerPort"] in [mapping["containerPort"] for mapping in ours["portMappings"]]
    assert balancer["containerPort"] == deployed_config().gateway.port
    assert ours["healthCheck"]["command"][0] == "CMD"
    assert "loadBalancers" not in worker, "workers poll Temporal: nothing connects to them"


def test_the_ecs_image_holds_deploy_config_where_runbook_config_points():
    dockerfile = ECS / "Dockerfile"
    code, findings = hadolint(dockerfile)
    assert code == 0, findings
    [copy] = [line.split()[1:] for line in dockerfile.read_text().splitlines() if line.startswith("COPY ")]
    # The build context is deploy/: its runbook.toml is deploy/runbook.toml.
    assert copy == ["runbook.toml", "/etc/runbook/runbook.toml"]
    for process in PROCESSES:
        environment = {entry["name"]: entry["value"] for entry in container(process)["environment"]}
        assert environment["RUNBOOK_CONFIG"] == copy[1]
