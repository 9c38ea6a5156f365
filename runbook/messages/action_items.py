"""What a post-mortem's action item says in the incidents channel: its owner reminded from its due
date, and who did it once it is done."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from runbook.action_items import ActionItem, Completion
from runbook.durations import elapsed
from runbook.messages.escape import slack_line
from runbook.people import People

DONE_HINT = "runbook done {id} --note TEXT"
# Under the post-mortem's action items, once they are followed up.
FOLLOWED_UP = (
    "Each item is followed up, its owner reminded from its due date, until `runbook done ITEM-ID --note TEXT`;"
    " `runbook list --kind action-item --open` lists those still open."
)
# A reminder fires on the due date itself; from a minute past it, an item is overdue.
LATE = timedelta(minutes=1)


def due_text(item: ActionItem, timezone: str) -> str:
    return item.due.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def reminder_message(item: ActionItem, incident_id: str, now: datetime, timezone: str, people: People) -> str:
    late = now - item.due
    when = f"overdue by {elapsed(late)} (due {due_text(item, timezone)})" if late >= LATE else "due now"
    return (
        f":alarm_clock: {people.mention(item.owner)}: action item {item.id} of {incident_id} is {when}:"
        f" {slack_line(item.text)}. Once it is done: {DONE_HINT.format(id=item.id)}"
    )


def done_message(item: ActionItem, incident_id: str, done: Completion, people: People) -> str:
    late = done.at - item.due
    when = f", {elapsed(late)} after its due date" if late >= LATE else ""
    return (
        f":white_check_mark: action item {item.id} of {incident_id} done by {people.mention(done.by)}{when}:"
        f" {slack_line(item.text)}\n- Note: {slack_line(done.note)}"
    )


def described(item: ActionItem, timezone: str) -> str:
    """One item on a line: the timeline's, the post-mortem's."""
    return f"{item.text} ({item.id + ', ' if item.id else ''}owner {item.owner}, due {due_text(item, timezone)})"
