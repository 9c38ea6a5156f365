"""People, not strings: who approves, responds and is escalated to, with the IDs each service knows
them by. Slack notifies a `<@U…>` mention and invites user IDs only; PagerDuty adds a user by ID;
a name without an ID is shown as typed and reaches nobody, so it says so.
"""

from __future__ import annotations

import re

from pydantic import ConfigDict, RootModel, ValidationInfo, field_validator

from runbook import ssh
from runbook.base import Model
from runbook.messages.escape import slack_line
from runbook.settings import resolve_person, unknown_person

# Slack user IDs: U or W (Enterprise Grid) then capitals and digits (api.slack.com/types/user).
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{8,}$")
# PagerDuty object IDs, as its REST API shows them: P then six capitals or digits (e.g. PXPGF42).
PAGERDUTY_USER_ID = re.compile(r"^P[A-Z0-9]{6}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMATS = {
    "slack_id": (SLACK_USER_ID, "a Slack user ID: U or W then 8 or more capitals and digits (e.g. U024BE7LH)"),
    "pagerduty_id": (PAGERDUTY_USER_ID, "a PagerDuty user ID: P then 6 capitals and digits (e.g. PXPGF42)"),
    "email": (_EMAIL, "an email address (e.g. alice@example.com)"),
}


class Person(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_id: str | None = None
    email: str | None = None
    pagerduty_id: str | None = None
    # OpenSSH public keys whose signatures prove a decision is theirs (`runbook approve --key`).
    ssh_keys: tuple[str, ...] = ()

    @field_validator("ssh_keys")
    @classmethod
    def _public_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            ssh.parse_public_key(key)
        return keys

    @field_validator("slack_id", "email", "pagerduty_id")
    @classmethod
    def _well_formed(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, rule = _FORMATS[info.field_name or ""]
        if value is not None and not pattern.match(value):
            raise ValueError(rule)
        return value


class People(RootModel[dict[str, Person]]):
    """runbook.toml's [people], by name. Public IDs only: this travels in workflow inputs."""

    # Built on first use, as every Model is (runbook/base.py).
    model_config = ConfigDict(frozen=True, defer_build=True)

    def get(self, name: str) -> Person | None:
        return self.root.get(name)

    def resolve(self, name: str) -> str | None:
        return resolve_person(self.root, name)

    def unknown(self, name: str) -> str:
        return unknown_person(self.root, name)

    def is_login_of(self, name: str, login: str) -> bool:
        """A UI login (an OIDC token's subject or email) is this person's: their name, or their email."""
        person = self.root.get(name)
        if person is None or not login:
            return False
        email = (person.email or "").casefold()
        return self.resolve(login) == name or (bool(email) and login.casefold() == email)

    def mention(self, name: str) -> str:
        """A Slack mention that notifies `name`, or the name as text when Slack cannot reach them."""
        person = self.root.get(name)
        if person is not None and person.slack_id:
            return f"<@{person.slack_id}>"
        return slack_line(name)

    def slack_ids(self, names: list[str]) -> tuple[list[str], list[str]]:
        """The Slack user IDs of `names`, and the names of those who have none (cannot be invited)."""
        ids: list[str] = []
        missing: list[str] = []
        for name in dict.fromkeys(names):
            person = self.root.get(name)
            if person is not None and person.slack_id:
                ids.append(person.slack_id)
            else:
                missing.append(name)
        return list(dict.fromkeys(ids)), missing

    def by_pagerduty_id(self, user_id: str) -> str | None:
        return next((name for name, person in self.root.items() if person.pagerduty_id == user_id), None)

    def by_slack_id(self, user_id: str) -> str | None:
        return next((name for name, person in self.root.items() if person.slack_id == user_id), None)
