"""Which outside services the worker talks to, and with what credential.

Each integration is either the sandbox's recording fake (`make up`) or the real service; runbook.toml
chooses per integration. Credentials come from the environment only, are held as SecretStr so they
never print, and go only into the activity classes: never into workflow inputs or history.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ConfigDict, SecretStr

from runbook.base import Model
from runbook.config import ConfigError, RunbookConfig
from runbook.proof import load_private_key, public_key_text

SANDBOX_HOST = "127.0.0.1"
# The sandbox fakes' placeholder credentials, shaped as the real ones are (the fakes refuse a
# malformed one, as the services do): a Slack bot token, a 32-character Events API routing key.
_SANDBOX_SECRET = "sandbox"
_SANDBOX_SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-sandbox",
    "PAGERDUTY_ROUTING_KEY": "sandbox" + "0" * 25,
    # What the fakes sign their interactivity requests and webhooks with, as Slack and PagerDuty do.
    "SLACK_SIGNING_SECRET": "5a4db0c5ea1dbeefca5e5a4db0c5ea1d",
    "PAGERDUTY_WEBHOOK_SECRET": "sandbox-pagerduty-webhook-secret",
    # The attesters' ed25519 seeds (base64): the public halves are runbook.toml's [approvals] keys.
    "RUNBOOK_GATEWAY_KEY": "8jTR4CChA02IxnNdXZHahoAgp9ma2+oAbhh0znJ35Ag=",
    "RUNBOOK_CODEC_KEY": "APkOTJgQ6cGMfZh7p5YqmN5WMuIoFBUPvN2IqE5rRtM=",
}


class Endpoint(Model):
    model_config = ConfigDict(frozen=True)

    provider: str
    url: str
    secret: SecretStr

    @property
    def is_sandbox(self) -> bool:
        return self.provider == "sandbox"


class Integrations(Model):
    model_config = ConfigDict(frozen=True)

    slack: Endpoint
    github: Endpoint
    statuspage: Endpoint
    pager: Endpoint
    # PagerDuty's REST API: escalation and acknowledgements, beside the Events API's `pager`.
    pager_api: Endpoint
    # The environments' operations API (rate limiting, maintenance page) beside their health endpoints.
    ops_token: SecretStr


def sandbox_url(config: RunbookConfig, path: str) -> str:
    return f"http://{SANDBOX_HOST}:{config.sandbox.fleet_port}{path}"


def sandbox_secret(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """The credential a worker sends to the sandbox's fake: the environment's, else the placeholder.
    The fakes know it, so they can refuse another as the service refuses an unknown one."""
    return environ.get(name, "") or _SANDBOX_SECRETS.get(name, _SANDBOX_SECRET)


def resolve_integrations(config: RunbookConfig, environ: Mapping[str, str] = os.environ) -> Integrations:
    def endpoint(section: str, provider: str, real_url: str, sandbox_path: str, secret_name: str) -> Endpoint:
        secret = environ.get(secret_name, "")
        if provider == "sandbox":
            return Endpoint(
                provider=provider,
                url=sandbox_url(config, sandbox_path),
                secret=SecretStr(sandbox_secret(secret_name, environ)),
            )
        if not secret:
            raise ConfigError(
                f'[{section}] provider = "{provider}" needs {secret_name} in the environment; it is not set'
            )
        return Endpoint(provider=provider, url=real_url, secret=SecretStr(secret))

    return Integrations(
        slack=endpoint("slack", config.slack.provider, config.slack.api_url, "/slack/api", "SLACK_BOT_TOKEN"),
        github=endpoint("github", config.github.provider, config.github.api_url, "/github", "GITHUB_TOKEN"),
        statuspage=endpoint(
            "statuspage", config.statuspage.provider, config.statuspage.api_url, "/statuspage/v1", "STATUSPAGE_API_KEY"
        ),
        pager=endpoint(
            "pager", config.pager.provider, config.pager.events_url, "/pagerduty/v2/enqueue", "PAGERDUTY_ROUTING_KEY"
        ),
        pager_api=endpoint(
            "pager", config.pager.provider, config.pager.api_url, "/pagerduty/api", "PAGERDUTY_API_TOKEN"
        ),
        ops_token=_ops_token(config, environ),
    )


class GatewaySecrets(Model):
    """What the gateway (starter/gateway.py) checks requests and signs decisions with."""

    model_config = ConfigDict(frozen=True)

    slack_signing_secret: SecretStr
    pagerduty_webhook_secret: SecretStr
    # base64 of the ed25519 seed whose public half is [approvals] gateway_key.
    attestation_key: SecretStr


def gateway_secrets(config: RunbookConfig, environ: Mapping[str, str] = os.environ) -> GatewaySecrets:
    """The gateway's secrets from the environment; a sandbox provider's placeholder stands in for
    its own, and the attestation key's only when every provider the gateway serves is the sandbox's.
    A missing one, or a key whose public half is not [approvals] gateway_key, is a ConfigError."""

    def secret(name: str, sandbox: bool, why: str) -> SecretStr:
        value = environ.get(name, "")
        if not value and not sandbox:
            raise ConfigError(f"the gateway needs {name} in the environment ({why}); it is not set")
        return SecretStr(value or sandbox_secret(name, environ))

    slack, pager = config.slack.provider == "sandbox", config.pager.provider == "sandbox"
    key_text = secret("RUNBOOK_GATEWAY_KEY", slack and pager, "the ed25519 seed it attests decisions with")
    attestation_key(key_text.get_secret_value(), "RUNBOOK_GATEWAY_KEY", "gateway_key", config.approvals.gateway_key)
    return GatewaySecrets(
        slack_signing_secret=secret("SLACK_SIGNING_SECRET", slack, f'[slack] provider = "{config.slack.provider}"'),
        pagerduty_webhook_secret=secret(
            "PAGERDUTY_WEBHOOK_SECRET", pager, f'[pager] provider = "{config.pager.provider}"'
        ),
        attestation_key=key_text,
    )


def attestation_key(text: str, variable: str, setting: str, expected: str) -> Ed25519PrivateKey:
    """An attester's private key (the gateway's, the codec server's) from `variable`'s text, or
    ConfigError: not an ed25519 seed, or its public half not [approvals] `setting`, whose
    attestations every workflow would then refuse."""
    try:
        key = load_private_key(text, variable)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    public = public_key_text(key)
    if public != expected:
        configured = f"is {expected}" if expected else "(empty) names none"
        raise ConfigError(
            f"{variable}'s public key is {public}, but [approvals] {setting} {configured}:"
            " the workflows would refuse every attestation"
        )
    return key


def _ops_token(config: RunbookConfig, environ: Mapping[str, str]) -> SecretStr:
    """An environment the sandbox does not serve has a real operations API, which wants the token."""
    token = environ.get("OPS_API_TOKEN", "")
    if token:
        return SecretStr(token)
    sandbox = sandbox_url(config, "/")
    for name, environment in config.environments.items():
        if not environment.base_url.startswith(sandbox):
            raise ConfigError(
                f'[environments.{name}] base_url = "{environment.base_url}" is not the sandbox\'s:'
                " its operations API needs OPS_API_TOKEN in the environment; it is not set"
            )
    return SecretStr(_SANDBOX_SECRET)
