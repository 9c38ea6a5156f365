"""One way to reach Temporal, for the worker and the CLI alike: the project's pydantic converter,
always, encrypting payloads when RUNBOOK_ENCRYPTION_KEYS is set (runbook/codec.py); the worker's
turns a payload it cannot decrypt into a refusal, where the CLI's says so at once.

The address, namespace and TLS files come from runbook.toml, overridden by the environment
variables Temporal's own tools read (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*), and an
API key only from TEMPORAL_API_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import TLSConfig

from runbook.codec import data_converter
from runbook.config import ConfigError, RunbookConfig, TemporalConfig

# Environment variable → TemporalConfig field, as the Temporal CLI and SDK env config name them.
_ENVIRONMENT_OVERRIDES = {
    "TEMPORAL_ADDRESS": "address",
    "TEMPORAL_NAMESPACE": "namespace",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "tls_client_cert_path",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "tls_client_key_path",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "tls_server_ca_cert_path",
    "TEMPORAL_TLS_SERVER_NAME": "tls_server_name",
}


class TemporalUnreachable(Exception):
    pass


def effective_temporal(config: RunbookConfig, environ: Mapping[str, str] = os.environ) -> TemporalConfig:
    overrides: dict[str, Any] = {
        field: environ[name] for name, field in _ENVIRONMENT_OVERRIDES.items() if environ.get(name)
    }
    if environ.get("TEMPORAL_TLS", "").lower() in ("1", "true", "yes"):
        overrides["tls"] = True
    if not overrides:
        return config.temporal
    try:
        return TemporalConfig.model_validate(config.temporal.model_dump() | overrides)
    except ValidationError as error:
        raise ConfigError(f"TEMPORAL_* environment: {error.errors()[0]['msg']}") from None


def connection_options(temporal: TemporalConfig, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Client.connect's keyword arguments: TLS when files, a CA or an API key ask for it."""
    api_key = environ.get("TEMPORAL_API_KEY") or None
    files = (temporal.tls_client_cert_path, temporal.tls_client_key_path, temporal.tls_server_ca_cert_path)
    tls: bool | TLSConfig = temporal.tls or api_key is not None
    if any(files) or temporal.tls_server_name:
        tls = TLSConfig(
            domain=temporal.tls_server_name,
            client_cert=_read(temporal.tls_client_cert_path),
            client_private_key=_read(temporal.tls_client_key_path),
            server_root_ca_cert=_read(temporal.tls_server_ca_cert_path),
        )
    return {"namespace": temporal.namespace, "api_key": api_key, "tls": tls}


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read TLS file: {error.strerror}") from None


async def connect(config: RunbookConfig, *, worker: bool = False, **extra: Any) -> Client:
    temporal = effective_temporal(config)
    options = connection_options(temporal) | extra
    try:
        return await Client.connect(temporal.address, data_converter=data_converter(worker=worker), **options)
    except RuntimeError as error:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {temporal.address}: {error} (is the stack up? make up)"
        ) from None
