"""Reaching a real cluster as the `temporal` CLI would: the environment, then temporal.toml's
profile, then runbook.toml; TLS files or an API key; one clear line for each mistake."""

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from runbook.config import ConfigError, load_config, parse_config
from runbook.temporal import connection_options, connection_profile
from starter.stack import own_temporal_settings
from tests.support import SANDBOX_CONFIG

SANDBOX = load_config(SANDBOX_CONFIG).temporal

PROFILES = """
[profile.default]
address = "temporal.internal:7233"
namespace = "runbook-staging"

[profile.cloud]
address = "runbook.a1b2c.tmprl.cloud:7233"
namespace = "runbook.a1b2c"
api_key = "profile-key"
"""


@pytest.fixture(autouse=True)
def no_personal_temporal_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The SDK also reads the `temporal` CLI's own file under the user's config directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))


@pytest.fixture
def temporal_toml(tmp_path: Path) -> str:
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES)
    return str(path)


def options(environ: dict[str, str], temporal=SANDBOX) -> dict:
    return connection_options(connection_profile(temporal, environ))


def test_the_sandbox_connects_in_plain_text_to_its_namespace():
    assert options({}) == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_a_temporal_toml_profile_picks_address_and_namespace(temporal_toml: str):
    chosen = options({"TEMPORAL_CONFIG_FILE": temporal_toml})
    assert (chosen["target_host"], chosen["namespace"]) == ("temporal.internal:7233", "runbook-staging")
    cloud = options({"TEMPORAL_CONFIG_FILE": temporal_toml, "TEMPORAL_PROFILE": "cloud"})
    assert (cloud["target_host"], cloud["namespace"]) == ("runbook.a1b2c.tmprl.cloud:7233", "runbook.a1b2c")


def test_an_api_key_from_a_profile_turns_tls_on(temporal_toml: str):
    cloud = options({"TEMPORAL_CONFIG_FILE": temporal_toml, "TEMPORAL_PROFILE": "cloud"})
    assert (cloud["api_key"], cloud["tls"]) == ("profile-key", True)


def test_the_environment_beats_the_profile(temporal_toml: str):
    chosen = options(
        {"TEMPORAL_CONFIG_FILE": temporal_toml, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_NAMESPACE": "override"}
    )
    assert (chosen["target_host"], chosen["namespace"]) == ("runbook.a1b2c.tmprl.cloud:7233", "override")
    plain = options({"TEMPORAL_CONFIG_FILE": temporal_toml, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_TLS": "false"})
    assert plain["tls"] is False


def test_runbook_toml_is_the_fallback_for_what_neither_sets(tmp_path: Path):
    (tmp_path / "partial.toml").write_text('[profile.default]\nnamespace = "from-profile"\n')
    chosen = options({"TEMPORAL_CONFIG_FILE": str(tmp_path / "partial.toml")})
    assert (chosen["target_host"], chosen["namespace"]) == ("127.0.0.1:7233", "from-profile")


def test_an_api_key_comes_from_the_environment_and_turns_tls_on():
    chosen = options({"TEMPORAL_API_KEY": "secret-key"})
    assert (chosen["api_key"], chosen["tls"]) == ("secret-key", True)


def test_client_certificate_files_are_read_into_the_tls_config(tmp_path: Path):
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    text = SANDBOX_CONFIG.read_text().replace(
        'ui_url = "http://127.0.0.1:8233"',
        f'ui_url = "http://127.0.0.1:8233"\ntls_client_cert_path = "{tmp_path / "client.pem"}"\n'
        f'tls_client_key_path = "{tmp_path / "client.key"}"',
    )
    cluster = parse_config(text, "cluster.toml").temporal
    tls = options({"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem")}, cluster)["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")


def test_a_certificate_without_its_key_is_refused_by_name():
    text = SANDBOX_CONFIG.read_text().replace(
        'ui_url = "http://127.0.0.1:8233"', 'ui_url = "http://127.0.0.1:8233"\ntls_client_cert_path = "client.pem"'
    )
    with pytest.raises(ConfigError, match="tls_client_cert_path and tls_client_key_path go together"):
        parse_config(text, "cluster.toml")
    with pytest.raises(ConfigError, match="certificate and its key go together"):
        options({"TEMPORAL_TLS_CLIENT_CERT_PATH": "client.pem"})


def test_a_missing_tls_file_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match="absent.pem: cannot read TLS file"):
        options({"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "absent.pem")})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TEMPORAL_PROFILE": "prod"}, r"^TEMPORAL_PROFILE=prod: no such profile in TEMPORAL_CONFIG_FILE=.*\.toml$"),
        ({"TEMPORAL_TLS": "maybe"}, r"^TEMPORAL_TLS=maybe: expected true or false"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(temporal_toml: str, environ: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        options({"TEMPORAL_CONFIG_FILE": temporal_toml, **environ})


def test_a_malformed_or_missing_temporal_toml_is_one_line_naming_it(tmp_path: Path):
    (tmp_path / "broken.toml").write_text("[profile.default\naddress = 1\n")
    with pytest.raises(ConfigError) as broken:
        options({"TEMPORAL_CONFIG_FILE": str(tmp_path / "broken.toml")})
    assert "\n" not in str(broken.value)
    assert str(broken.value).startswith(f"TEMPORAL_CONFIG_FILE={tmp_path / 'broken.toml'}: TOML parse error at line 1")
    with pytest.raises(ConfigError, match=r"^TEMPORAL_CONFIG_FILE=.*absent.toml: no such file$"):
        options({"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})


def test_a_local_stacks_parts_ignore_the_developers_temporal_settings(tmp_path: Path):
    """`make up`, the test stacks and the benchmarks start their own server: a developer's profile
    (a cloud namespace and its API key) or TEMPORAL_ADDRESS must not send their worker elsewhere."""
    personal = tmp_path / ".config" / "temporalio" / "temporal.toml"
    personal.parent.mkdir(parents=True)
    personal.write_text(PROFILES)
    developer = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    assert options(developer)["target_host"] == "temporal.internal:7233"

    stack_folder = tmp_path / "stack"
    stack_folder.mkdir()
    part = own_temporal_settings({**developer, "TEMPORAL_ADDRESS": "elsewhere:7233"}, stack_folder)
    assert options(part) == {"target_host": "127.0.0.1:7233", "namespace": "default"}
    assert part["HOME"] == str(tmp_path)
