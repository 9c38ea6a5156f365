"""Reaching a real cluster: runbook.toml, then the environment, then TLS files or an API key."""

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from runbook.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from runbook.temporal import connection_options, effective_temporal

SANDBOX = load_config(DEFAULT_CONFIG_PATH)


def test_the_sandbox_connects_in_plain_text_to_its_namespace():
    temporal = effective_temporal(SANDBOX, {})
    assert temporal.address == "127.0.0.1:7233"
    assert connection_options(temporal, {}) == {"namespace": "default", "api_key": None, "tls": False}


def test_the_environment_overrides_address_and_namespace():
    temporal = effective_temporal(
        SANDBOX, {"TEMPORAL_ADDRESS": "runbook.a1b2c.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "runbook.a1b2c"}
    )
    assert (temporal.address, temporal.namespace) == ("runbook.a1b2c.tmprl.cloud:7233", "runbook.a1b2c")
    assert temporal.task_queue == "runbook"


def test_an_api_key_comes_from_the_environment_and_turns_tls_on():
    options = connection_options(SANDBOX.temporal, {"TEMPORAL_API_KEY": "secret-key"})
    assert options["api_key"] == "secret-key"
    assert options["tls"] is True


def test_client_certificate_files_are_read_into_the_tls_config(tmp_path: Path):
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    text = DEFAULT_CONFIG_PATH.read_text().replace(
        'ui_url = "http://127.0.0.1:8233"',
        f'ui_url = "http://127.0.0.1:8233"\ntls_client_cert_path = "{tmp_path / "client.pem"}"\n'
        f'tls_client_key_path = "{tmp_path / "client.key"}"',
    )
    temporal = effective_temporal(
        parse_config(text, "cluster.toml"), {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem")}
    )
    tls = connection_options(temporal, {})["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")


def test_a_certificate_without_its_key_is_refused_by_name():
    text = DEFAULT_CONFIG_PATH.read_text().replace(
        'ui_url = "http://127.0.0.1:8233"', 'ui_url = "http://127.0.0.1:8233"\ntls_client_cert_path = "client.pem"'
    )
    with pytest.raises(ConfigError, match="tls_client_cert_path and tls_client_key_path go together"):
        parse_config(text, "cluster.toml")
    with pytest.raises(ConfigError, match="TEMPORAL_\\* environment: .*go together"):
        effective_temporal(SANDBOX, {"TEMPORAL_TLS_CLIENT_CERT_PATH": "client.pem"})


def test_a_missing_tls_file_is_named(tmp_path: Path):
    temporal = effective_temporal(SANDBOX, {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "absent.pem")})
    with pytest.raises(ConfigError, match="absent.pem: cannot read TLS file"):
        connection_options(temporal, {})
