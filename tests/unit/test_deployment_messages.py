"""The deployment's Slack messages say durations as people say them, as the other messages do."""

from datetime import timedelta

from runbook.config import load_config
from runbook.messages import deployment
from starter.commands import deployment_request
from tests.support import SANDBOX_CONFIG


def test_the_completion_says_how_long_it_took_in_hours_and_minutes_as_every_message_does():
    request = deployment_request(load_config(SANDBOX_CONFIG), "production", "v1.2.0", ["market-svc"], "alice")
    text = deployment.completion(request, {}, timedelta(hours=1, minutes=2, seconds=5), None)
    assert text.splitlines()[0] == ":white_check_mark: v1.2.0 deployed to production in 1 h 2 min"
