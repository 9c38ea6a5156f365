"""One way to reach Temporal, for the worker, the CLI, the gateway and the codec server alike: the
project's pydantic converter, always, encrypting payloads when RUNBOOK_ENCRYPTION_KEYS is set
(runbook/codec.py); the worker's turns a payload it cannot decrypt into a refusal, where the CLI's
says so at once.

Where the cluster is and how to reach it is read as the `temporal` CLI reads it, by the SDK's
temporalio.envconfig, each setting from the first that sets it:

1. the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
   TEMPORAL_TLS_* (certificate and key paths, CA, server name), TEMPORAL_GRPC_META_*;
2. the profile TEMPORAL_PROFILE names (default "default") in temporal.toml: TEMPORAL_CONFIG_FILE,
   else the `temporal` CLI's own file (~/.config/temporalio/temporal.toml on Linux);
3. runbook.toml's [temporal].

An API key, from the environment or a profile, turns TLS on unless TEMPORAL_TLS says false.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS

from runbook.codec import data_converter
from runbook.settings import CommandSettings, ConfigError, TemporalConfig

if TYPE_CHECKING:
    from runbook.config import RunbookConfig

# TEMPORAL_TLS as people write it → the two words the SDK reads (it takes any other value,
# even "no", for "on").
_TLS_WORDS = {"1": "true", "true": "true", "yes": "true", "0": "false", "false": "false", "no": "false"}
_MISSING_PROFILE = "Profile '"


class TemporalUnreachable(Exception):
    pass


def connection_profile(temporal: TemporalConfig, environ: Mapping[str, str] = os.environ) -> ClientConfigProfile:
    """runbook.toml's [temporal], each setting overridden by temporal.toml's profile or the
    environment when they set it."""
    chosen = _temporal_cli_profile(environ)
    fallback = _runbook_profile(temporal)
    profile = ClientConfigProfile(
        address=chosen.address or fallback.address,
        namespace=chosen.namespace or fallback.namespace,
        api_key=chosen.api_key,
        tls=_overlay(fallback.tls, chosen.tls),
        grpc_meta=chosen.grpc_meta,
    )
    if profile.tls and (profile.tls.client_cert is None) != (profile.tls.client_private_key is None):
        raise ConfigError("a TLS client certificate and its key go together: give both or neither")
    return profile


def connection_options(profile: ClientConfigProfile) -> dict[str, Any]:
    """Client.connect's keyword arguments (target_host among them), the TLS files read."""
    try:
        return dict(profile.to_client_connect_config())
    except OSError as error:
        raise ConfigError(f"{error.filename}: cannot read TLS file: {error.strerror}") from None


def _temporal_cli_profile(environ: Mapping[str, str]) -> ClientConfigProfile:
    # An empty variable is an unset one, as it always was here (the SDK would read TEMPORAL_TLS=""
    # as TLS on).
    environment = {name: value for name, value in environ.items() if value}
    if "TEMPORAL_TLS" in environment:
        word = _TLS_WORDS.get(environment["TEMPORAL_TLS"].lower())
        if word is None:
            raise ConfigError(f"TEMPORAL_TLS={environment['TEMPORAL_TLS']}: expected true or false (1/0, yes/no)")
        environment["TEMPORAL_TLS"] = word
    config_file = environment.get("TEMPORAL_CONFIG_FILE")
    # The SDK reads a missing file as an empty one: a mistyped path would quietly mean localhost.
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"TEMPORAL_CONFIG_FILE={config_file}: no such file")
    where = f"TEMPORAL_CONFIG_FILE={config_file}" if config_file else "temporal.toml"
    try:
        return ClientConfigProfile.load(override_env_vars=environment)
    except RuntimeError as error:
        lines = [line.strip(" |^") for line in str(error).splitlines() if line.strip(" |^")]
        if lines[0].startswith(_MISSING_PROFILE):
            raise ConfigError(
                f"TEMPORAL_PROFILE={environment.get('TEMPORAL_PROFILE', 'default')}: no such profile in {where}"
            ) from None
        reason = lines[0].removeprefix("Configuration loading error: ")
        raise ConfigError(f"{where}: {reason}{': ' + lines[-1] if len(lines) > 1 else ''}") from None


def _runbook_profile(temporal: TemporalConfig) -> ClientConfigProfile:
    # Paths, not text: the SDK takes a str for the certificate itself.
    cert, key, ca = (
        Path(name) if name else None
        for name in (temporal.tls_client_cert_path, temporal.tls_client_key_path, temporal.tls_server_ca_cert_path)
    )
    tls: ClientConfigTLS | None = None
    if temporal.tls or cert or key or ca or temporal.tls_server_name:
        tls = ClientConfigTLS(
            server_name=temporal.tls_server_name, server_root_ca_cert=ca, client_cert=cert, client_private_key=key
        )
    return ClientConfigProfile(address=temporal.address, namespace=temporal.namespace, tls=tls)


def _overlay(under: ClientConfigTLS | None, over: ClientConfigTLS | None) -> ClientConfigTLS | None:
    if under is None or over is None:
        return over or under
    changes = {field.name: getattr(over, field.name) for field in dataclasses.fields(over)}
    return dataclasses.replace(under, **{name: value for name, value in changes.items() if value is not None})


async def connect(
    config: RunbookConfig | CommandSettings, *, worker: bool = False, typed: bool = True, **extra: Any
) -> Client:
    """A client of the runbook's cluster; not typed, one that sends plain JSON and reads
    runbook/status.py's dataclasses without pydantic (runbook/codec.py)."""
    options = connection_options(connection_profile(config.temporal)) | extra
    address = options.pop("target_host")
    converter = data_converter(worker=worker, typed=typed)
    try:
        return await Client.connect(address, data_converter=converter, **options)
    except RuntimeError as error:
        raise TemporalUnreachable(f"cannot reach Temporal at {address}: {error} (is the stack up? make up)") from None
