"""Recording fakes of the outside services: Slack, GitHub, a Statuspage page, PagerDuty.

Every call is recorded so tests and demos can show what the workflows told the outside world.
"""

from __future__ import annotations

import logging

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from runbook.config import RunbookConfig, UnknownName
from runbook.integrations import sandbox_secret
from sandbox.github import GitHubFake
from sandbox.oidc import OidcFake
from sandbox.pagerduty import PagerFake
from sandbox.recorder import Recorder
from sandbox.slack import SlackFake
from sandbox.slack_interactivity import SlackInteractivity
from sandbox.statuspage import StatusPageFake
from sandbox.web import ApiError, json_response, request_json

__all__ = ["Fakes", "Recorder"]

log = logging.getLogger("sandbox")


class Fakes:
    """All fakes, their shared call recorder, and the control endpoints that inspect them."""

    def __init__(self, config: RunbookConfig) -> None:
        self.recorder = Recorder()
        self.outages = self.recorder.outages
        self.github = GitHubFake()
        # The Temporal UI's login provider, whose tokens the codec server checks.
        self.oidc = OidcFake(config)
        self.slack = SlackFake(config)
        # A person's click on a Slack button, sent to the gateway as Slack sends it.
        self.slack_clicks = SlackInteractivity(self.slack, config)
        self._fakes = [
            self.slack,
            self.slack_clicks,
            self.github,
            StatusPageFake(config.statuspage),
            self._pager_fake(config),
        ]

    @staticmethod
    def _pager_fake(config: RunbookConfig) -> PagerFake:
        # The account knows the integration key and API token the sandbox's worker sends, and its
        # webhook subscription sends acknowledgements to the gateway, as PagerDuty is set up to.
        return PagerFake(
            config,
            sandbox_secret("PAGERDUTY_ROUTING_KEY"),
            sandbox_secret("PAGERDUTY_API_TOKEN"),
            webhook_url=f"http://{config.gateway.host}:{config.gateway.port}/pagerduty/webhook",
            webhook_secret=sandbox_secret("PAGERDUTY_WEBHOOK_SECRET"),
        )

    def rules(self) -> list[Rule]:
        control = [
            Rule("/_sandbox/calls", endpoint=self.list_calls, methods=["GET"]),
            Rule("/_sandbox/calls", endpoint=self.clear_calls, methods=["DELETE"]),
            Rule("/_sandbox/github", endpoint=self.github_state, methods=["GET"]),
            Rule("/_sandbox/github", endpoint=self.set_github, methods=["POST"]),
        ]
        fakes = [rule for fake in self._fakes for rule in fake.rules(self.recorder)]
        return control + self.outages.rules() + fakes + self.oidc.rules()

    def list_calls(self, request: Request) -> Response:
        return json_response(self.recorder.calls(request.args.get("system")))

    def clear_calls(self, request: Request) -> Response:
        return json_response({"cleared": self.recorder.clear()})

    def github_state(self, request: Request) -> Response:
        return json_response({"failing": self.github.failing})

    def set_github(self, request: Request) -> Response:
        try:
            self.github.set_failing(request_json(request).get("failing"))
        except UnknownName as error:
            raise ApiError(400, str(error)) from None
        log.info("github: failing prerequisite %s", self.github.failing or "none")
        return json_response({"failing": self.github.failing})
