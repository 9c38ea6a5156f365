"""[people]: names the runbook uses, with the IDs Slack and PagerDuty reach them by."""

import pytest

from runbook.config import ConfigError, load_config, parse_config
from tests.support import SANDBOX_CONFIG

SHIPPED = SANDBOX_CONFIG.read_text()
ALICE = 'alice = { slack_id = "U0ALICE0001", email = "alice@skillancer.com", pagerduty_id = "PALICE1" }'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('escalation = ["frank", "grace"]', 'escalation = ["frank", "secondary-oncall"]', "incidents.escalation"),
        ('responders = ["dana", "erin"]', 'responders = ["dana", "oncall-primary"]', "incidents.responders"),
        ('users = ["alice", "bob", "carol", "demo-approver"]', 'users = ["alice", "zed"]', "approvers.users"),
    ],
)
def test_an_unknown_person_is_refused_naming_the_key_and_the_known_people(old, new, expected):
    with pytest.raises(ConfigError, match=rf"{expected}: unknown person '\w[\w-]*'; \[people\] has alice, bob, "):
        parse_config(SHIPPED.replace(old, new), "runbook.toml")


@pytest.mark.parametrize(
    ("field", "bad", "rule"),
    [
        ("slack_id", "alice", "a Slack user ID"),
        ("slack_id", "@alice", "a Slack user ID"),
        ("slack_id", "C0ALICE0001", "a Slack user ID"),
        ("pagerduty_id", "alice", "a PagerDuty user ID"),
        ("pagerduty_id", "PALICE12", "a PagerDuty user ID"),
        ("email", "alice", "an email address"),
    ],
)
def test_a_malformed_id_is_refused_naming_the_person_and_the_field(field, bad, rule):
    good = {"slack_id": "U0ALICE0001", "email": "alice@skillancer.com", "pagerduty_id": "PALICE1"}[field]
    broken = SHIPPED.replace(ALICE, ALICE.replace(f'"{good}"', f'"{bad}"'))
    with pytest.raises(ConfigError, match=rf"people.alice.{field}: Value error, {rule}.*\(got '{bad}'\)"):
        parse_config(broken, "runbook.toml")


def test_a_statuspage_component_names_a_known_service():
    broken = SHIPPED.replace('"auth-svc" = "c0mpauthsvc0"', '"auth" = "c0mpauthsvc0"')
    with pytest.raises(ConfigError, match="statuspage.components: unknown service 'auth'; known: api-gateway"):
        parse_config(broken, "runbook.toml")


def test_a_mention_notifies_by_id_and_a_name_without_one_is_plain_text():
    people = load_config().people
    assert people.mention("alice") == "<@U0ALICE0001>"
    assert people.mention("tester") == "tester"
    # A name that is no person is text, escaped for Slack: it cannot forge a mention.
    assert people.mention("<!channel>") == "&lt;!channel&gt;"


def test_invites_are_ids_and_the_uninvitable_are_named():
    people = load_config().people
    assert people.slack_ids(["alice", "tester", "dana", "alice"]) == (["U0ALICE0001", "U0DANA00004"], ["tester"])


def test_people_are_found_by_their_provider_ids():
    people = load_config().people
    assert people.by_pagerduty_id("PFRANK6") == "frank"
    assert people.by_slack_id("U0BOB000002") == "bob"
    assert people.by_pagerduty_id("PNOBODY") is None
