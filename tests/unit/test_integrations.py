"""runbook.toml chooses, per integration, the sandbox's fake or the real service and its secret."""

import pytest

from runbook.config import (
    ConfigError,
    GithubConfig,
    PagerConfig,
    SlackConfig,
    StatusPageConfig,
    load_config,
    parse_config,
)
from runbook.integrations import resolve_integrations
from tests.support import PROJECT, SANDBOX_CONFIG

SANDBOX = load_config(SANDBOX_CONFIG)
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-secret",
    "GITHUB_TOKEN": "ghp_secret",
    "STATUSPAGE_API_KEY": "sp-secret",
    "PAGERDUTY_ROUTING_KEY": "pd-secret",
    "PAGERDUTY_API_TOKEN": "pd-api-secret",
}
REAL = SANDBOX.model_copy(
    update={
        "slack": SlackConfig(provider="slack"),
        "github": GithubConfig(provider="github"),
        "statuspage": StatusPageConfig(provider="statuspage"),
        "pager": PagerConfig(provider="pagerduty"),
    }
)


def test_the_sandbox_providers_call_the_local_fakes_and_need_no_secret():
    integrations = resolve_integrations(SANDBOX, {})
    assert integrations.slack.url == "http://127.0.0.1:8080/slack/api"
    assert integrations.github.url == "http://127.0.0.1:8080/github"
    assert integrations.pager.url == "http://127.0.0.1:8080/pagerduty/v2/enqueue"
    assert integrations.pager_api.url == "http://127.0.0.1:8080/pagerduty/api"
    assert all(
        endpoint.is_sandbox
        for endpoint in (
            integrations.slack,
            integrations.github,
            integrations.statuspage,
            integrations.pager,
            integrations.pager_api,
        )
    )


def test_real_providers_call_the_documented_apis_with_the_secrets_from_the_environment():
    integrations = resolve_integrations(REAL, SECRETS)
    assert (integrations.slack.provider, integrations.slack.url) == ("slack", "https://slack.com/api")
    assert integrations.github.url == "https://api.github.com"
    assert integrations.statuspage.url == "https://api.statuspage.io/v1"
    assert integrations.pager.url == "https://events.pagerduty.com/v2/enqueue"
    assert integrations.pager_api.url == "https://api.pagerduty.com"
    assert integrations.slack.secret.get_secret_value() == "xoxb-secret"
    assert integrations.pager_api.secret.get_secret_value() == "pd-api-secret"


def test_a_secret_never_prints():
    shown = repr(resolve_integrations(REAL, SECRETS)) + str(resolve_integrations(REAL, SECRETS).model_dump())
    assert not any(secret in shown for secret in SECRETS.values())


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_real_provider_without_its_secret_is_refused_at_start_naming_the_variable(missing):
    with pytest.raises(ConfigError, match=f"needs {missing} in the environment"):
        resolve_integrations(REAL, {name: value for name, value in SECRETS.items() if name != missing})


def test_a_real_environment_needs_the_operations_token_and_the_sandboxs_do_not():
    deployed = load_config(PROJECT / "deploy" / "runbook.toml")
    with pytest.raises(ConfigError, match=r'\[environments.staging\] base_url = "https://.*needs OPS_API_TOKEN in the'):
        resolve_integrations(deployed, SECRETS)
    token = resolve_integrations(deployed, {**SECRETS, "OPS_API_TOKEN": "ops-secret"}).ops_token
    assert token.get_secret_value() == "ops-secret"
    assert resolve_integrations(SANDBOX, {}).ops_token.get_secret_value() == "sandbox"


def test_an_unknown_provider_is_refused_with_the_allowed_ones():
    with pytest.raises(ConfigError, match="slack.provider: Input should be 'sandbox' or 'slack' \\(got 'teams'\\)"):
        parse_config(
            SANDBOX_CONFIG.read_text().replace(
                '# "slack": the Web API with a bot token, SLACK_BOT_TOKEN in the environment.\nprovider = "sandbox"',
                'provider = "teams"',
            ),
            "x.toml",
        )
