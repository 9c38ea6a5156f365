"""The gateway's secrets: from the environment only, the sandbox's placeholders standing in for the
sandbox's providers, and a real configuration missing one stopped at start, naming it."""

from __future__ import annotations

import json

import pytest

from runbook.config import ConfigError, load_config, parse_config
from runbook.integrations import gateway_secrets, sandbox_secret
from runbook.proof import load_private_key, public_key_text
from starter import gateway
from tests.support import PROJECT

SANDBOX_KEY = sandbox_secret("RUNBOOK_GATEWAY_KEY", {})
OTHER_KEY = "X79HVmu58cy+2f9Xa3xMzklCee/8k0GQTPzTDFBoRZM="
DEPLOY = PROJECT / "deploy" / "runbook.toml"
REAL_SECRETS = {
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "PAGERDUTY_WEBHOOK_SECRET": "pagerduty-webhook-secret",
    "RUNBOOK_GATEWAY_KEY": OTHER_KEY,
}


def real_config(gateway_key: str = public_key_text(load_private_key(OTHER_KEY, "key"))):
    text = DEPLOY.read_text().replace('gateway_key = ""', f'gateway_key = "{gateway_key}"')
    return parse_config(text, "deploy/runbook.toml")


def test_the_sandbox_needs_nothing_from_the_environment_and_takes_what_is_there():
    secrets = gateway_secrets(load_config(), {})
    assert secrets.slack_signing_secret.get_secret_value() == sandbox_secret("SLACK_SIGNING_SECRET", {})
    assert secrets.attestation_key.get_secret_value() == SANDBOX_KEY
    assert SANDBOX_KEY not in repr(secrets) and sandbox_secret("SLACK_SIGNING_SECRET", {}) not in repr(secrets)
    given = gateway_secrets(load_config(), {"PAGERDUTY_WEBHOOK_SECRET": "another"})
    assert given.pagerduty_webhook_secret.get_secret_value() == "another"


def test_real_providers_take_every_secret_from_the_environment():
    secrets = gateway_secrets(real_config(), REAL_SECRETS)
    assert secrets.slack_signing_secret.get_secret_value() == REAL_SECRETS["SLACK_SIGNING_SECRET"]
    assert secrets.attestation_key.get_secret_value() == OTHER_KEY


@pytest.mark.parametrize("missing", sorted(REAL_SECRETS))
def test_a_real_configuration_missing_a_secret_is_refused_naming_it(missing):
    environ = {name: value for name, value in REAL_SECRETS.items() if name != missing}
    with pytest.raises(ConfigError, match=f"needs {missing} in the environment"):
        gateway_secrets(real_config(), environ)


def test_a_key_whose_public_half_is_not_runbook_tomls_is_refused_naming_both():
    with pytest.raises(ConfigError) as refused:
        gateway_secrets(load_config(), {"RUNBOOK_GATEWAY_KEY": OTHER_KEY})
    said = str(refused.value)
    assert public_key_text(load_private_key(OTHER_KEY, "key")) in said
    assert load_config().approvals.gateway_key in said
    with pytest.raises(ConfigError, match="gateway_key \\(empty\\)"):
        gateway_secrets(real_config(gateway_key=""), REAL_SECRETS)
    with pytest.raises(ConfigError, match="RUNBOOK_GATEWAY_KEY: expected the base64 of a 32-byte ed25519 seed"):
        gateway_secrets(load_config(), {"RUNBOOK_GATEWAY_KEY": "c2hvcnQ="})


def test_the_gateway_stops_at_start_with_one_line_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("RUNBOOK_CONFIG", str(DEPLOY))
    for name in REAL_SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert gateway.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RUNBOOK_GATEWAY_KEY" in err


def test_a_new_key_prints_a_seed_and_its_public_half(capsys):
    assert gateway.main(["--new-key", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)
    assert public_key_text(load_private_key(key["RUNBOOK_GATEWAY_KEY"], "seed")) == key["gateway_key"]
