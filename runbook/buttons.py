"""The buttons people click in Slack, and the decision each one is: one table for the messages
that carry them (workflows), the gateway that turns a click into an update, and the sandbox's
Slack fake that plays the click.
"""

from __future__ import annotations

from typing import Any, Literal

from runbook.base import Model
from runbook.models import SlackButton
from runbook.people import People


class ButtonDecision(Model):
    """What a click asks of a workflow: the update's name and the payload, without its proof."""

    update: str
    payload: dict[str, Any]


_DECISIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    # action_id: (update, the payload's person field, the rest of the payload)
    "approve": ("approve", "approver", {"comment": ""}),
    "reject": ("reject", "approver", {"reason": "rejected in Slack"}),
    "rollback": ("decide", "user", {"action": "rollback", "note": ""}),
    "continue": ("decide", "user", {"action": "continue", "note": ""}),
    "acknowledge": ("acknowledge", "user", {"note": "acknowledged in Slack"}),
}
ACTIONS = list(_DECISIONS)
# What a decision did, by its action_id, wherever the buttons give way to it: the gateway's answer
# to the click, and the workflow's own once it took the decision, by whatever path.
OUTCOMES = {
    "approve": "Approved",
    "reject": "Rejected",
    "rollback": "Rolling back",
    "continue": "Continuing",
    "acknowledge": "Acknowledged",
}


def decision_for(action_id: str, person: str) -> ButtonDecision | None:
    """The decision a click on `action_id` by `person` is, or None for an action we never sent."""
    known = _DECISIONS.get(action_id)
    if known is None:
        return None
    update, person_field, rest = known
    return ButtonDecision(update=update, payload={person_field: person, **rest})


def _button(action_id: str, text: str, workflow_id: str, style: Literal["primary", "danger"] | None) -> SlackButton:
    return SlackButton(action_id=action_id, text=text, value=workflow_id, style=style)


def approval_buttons(workflow_id: str) -> list[SlackButton]:
    return [_button("approve", "Approve", workflow_id, "primary"), _button("reject", "Reject", workflow_id, "danger")]


def question_buttons(workflow_id: str) -> list[SlackButton]:
    """The monitor's "investigate, consider rollback"."""
    return [_button("rollback", "Roll back", workflow_id, "danger"), _button("continue", "Continue", workflow_id, None)]


def acknowledge_buttons(workflow_id: str) -> list[SlackButton]:
    return [_button("acknowledge", "Acknowledge", workflow_id, "primary")]


def with_outcome(text: str, outcome: str) -> str:
    """A message whose buttons gave way: its text, then what was decided."""
    return f"{text}\n\n{outcome}" if text else outcome


def outcome_line(action_id: str, mention: str) -> str:
    """Who decided what: "*Approved by <@U…>*"."""
    return f"*{OUTCOMES[action_id]} by {mention}*"


def outcome(action_id: str, person: str, how: str, people: People) -> str:
    """What replaces a message's buttons once decided, and how its author was verified:
    "*Approved by <@U…>* (Slack U…)"."""
    return f"{outcome_line(action_id, people.mention(person))} ({how or 'unverified'})"
