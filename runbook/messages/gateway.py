"""What the gateway tells Slack after a click, through the message's response_url: the message
again with its outcome instead of its buttons, or why the click was not taken, shown to the
clicker alone."""

from __future__ import annotations

from typing import Any

from runbook.buttons import ACTIONS, outcome_line, with_outcome
from runbook.messages.escape import slack_line


def decided(original_text: str, action_id: str, slack_user_id: str) -> dict[str, Any]:
    """The clicked message replaced: its text (the runbook's own, as Slack sent it back), then who
    decided what. Without blocks, so its buttons are gone."""
    outcome = outcome_line(action_id, f"<@{slack_user_id}>")
    return {"replace_original": True, "text": with_outcome(original_text, outcome)}


def not_taken(reason: str) -> dict[str, Any]:
    """Shown to the clicker only; the message and its buttons stay for someone who may decide."""
    return {"response_type": "ephemeral", "replace_original": False, "text": f"Not taken: {slack_line(reason)}"}


def not_a_person(slack_user_id: str) -> str:
    return f"Slack user {slack_user_id} is not one of the runbook's people ([people] in runbook.toml)"


def unknown_action(action_id: str) -> str:
    return f"unknown action {action_id!r}; the runbook's buttons are {', '.join(ACTIONS)}"
