"""The post-mortem's action items, followed up until they are done: what people write of them (the
`resolve` signal's follow_up, `--follow-up "TEXT;owner=bob;due=14d"`), what an incident keeps of
them, and what the workflow that reminds each item's owner takes, keeps and gives.

An item without an owner belongs to whoever resolved the incident; one without a due date is due
[incidents] action_item_due after the resolve. A plain string, as follow-ups were written before
they had owners, is an item of that text with both defaults.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from runbook import limits
from runbook.base import Model
from runbook.durations import parse_duration
from runbook.models import Payload
from runbook.people import People
from runbook.status import ProcedureStatus
from runbook.validate import InvalidInput

KIND = "action-item"
# What `--follow-up` takes after the text, and the defaults when they are left out.
FIELDS = ("owner", "due")
EXAMPLE = '"add 5xx alerts per service;owner=bob;due=14d"'
DEFAULT_DUE = timedelta(days=14)
DEFAULT_REMINDER_EVERY = timedelta(days=3)
# A due date beyond a year is no follow-up; the bound also keeps the date inside what datetime holds.
LONGEST_DUE = timedelta(days=365)
# A due date as written: "14d", "365d".
DUE_LENGTH = 20
# Each item is a workflow of its own: a resolve names a post-mortem's worth, not a backlog.
MOST_ITEMS = 25


def item_id(incident_id: str, number: int) -> str:
    return f"{incident_id}-item-{number}"


def parse_due(text: str) -> timedelta:
    """How long after the resolve an item is due: 30s, 5m, 1h, 14d, at most LONGEST_DUE."""
    try:
        due = parse_duration(text)
    except (InvalidInput, OverflowError):
        due = None
    if due is None or not timedelta(0) < due <= LONGEST_DUE:
        raise InvalidInput(f"bad due {text!r}: a duration from 1s to 365d, written like 30s, 5m, 1h or 14d")
    return due


def parse_follow_up(text: str) -> dict[str, str]:
    """`--follow-up "TEXT;owner=bob;due=14d"` as the item the `resolve` payload carries
    ({"text", "owner", "due"}, each field only when given). InvalidInput names the bad part and
    what is allowed: an unknown or repeated field, an empty owner or text, a due that is no duration."""
    what, *fields = text.split(";")
    item = {"text": what.strip()}
    if not item["text"]:
        raise InvalidInput(f"bad --follow-up {text!r}: no text; say what is to be done first, e.g. {EXAMPLE}")
    for field in fields:
        name, equals, value = field.partition("=")
        name = name.strip()
        if not equals or name not in FIELDS:
            raise InvalidInput(
                f"bad --follow-up field {name!r} in {text!r}: the fields are {' and '.join(FIELDS)}, e.g. {EXAMPLE}"
            )
        if name in item:
            raise InvalidInput(f"bad --follow-up {text!r}: {name} given twice; give each of {', '.join(FIELDS)} once")
        item[name] = value.strip()
    if "owner" in item and not item["owner"]:
        raise InvalidInput(f"bad --follow-up owner in {text!r}: empty; name who does it, e.g. owner=bob")
    if "due" in item:
        try:
            parse_due(item["due"])
        except InvalidInput as error:
            raise InvalidInput(f"bad --follow-up {text!r}: {error}") from None
    return item


# What people send --------------------------------------------------------------------------------


class ActionItemPayload(Payload):
    """One item of the `resolve` payload's follow_up: `{"text": "add 5xx alerts", "owner": "bob",
    "due": "14d"}`, or a plain string, its text. Owner and due may be left out (the defaults above)."""

    text: str = Field(min_length=1, max_length=limits.POSTMORTEM)
    owner: str | None = Field(None, min_length=1, max_length=limits.USER)
    due: str | None = Field(None, max_length=DUE_LENGTH)

    @model_validator(mode="before")
    @classmethod
    def _plain_text_or_known_fields(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"text": data}
        if isinstance(data, dict):
            # Named before pydantic's own "extra inputs are not permitted", with what is known instead.
            unknown = [str(name)[:50] for name in data if name not in cls.model_fields]
            if unknown:
                raise ValueError(f"unknown field {unknown[0]!r}; known: {', '.join(cls.model_fields)}")
        return data

    @field_validator("owner")
    @classmethod
    def _someone(cls, owner: str | None) -> str | None:
        if owner is not None and not owner.strip():
            raise ValueError("empty owner: name who does it, or leave owner out for the resolver")
        return owner.strip() if owner else owner

    @field_validator("due")
    @classmethod
    def _duration(cls, due: str | None) -> str | None:
        if due is not None:
            try:
                parse_due(due)
            except InvalidInput as error:
                raise ValueError(str(error)) from None
        return due


class DonePayload(Payload):
    """`done`: `{"user": "bob", "note": "alerts added in PR 412"}`, what was done, on the record."""

    person_field = "user"
    user: str = Field(min_length=1, max_length=limits.USER)
    note: str = Field(min_length=1, max_length=limits.NOTE)

    @field_validator("note")
    @classmethod
    def _says_something(cls, note: str) -> str:
        if not note.strip():
            raise ValueError("empty note: say what was done (a PR, a ticket)")
        return note


# What an incident keeps --------------------------------------------------------------------------


class ActionItem(Model):
    """An action item as the incident's resolution keeps it; `id` is its workflow's ("" for one
    recorded before items were followed up)."""

    id: str = ""
    text: str
    owner: str
    due: datetime


def action_items(
    incident_id: str, requested: list[ActionItemPayload], resolver: str, resolved_at: datetime, default_due: timedelta
) -> list[ActionItem]:
    """The items of a resolve, numbered in the order given, each with its owner and due date."""
    return [
        ActionItem(
            id=item_id(incident_id, number),
            text=item.text,
            owner=item.owner or resolver,
            due=resolved_at + (parse_due(item.due) if item.due else default_due),
        )
        for number, item in enumerate(requested, start=1)
    ]


def _older_follow_up(follow_up: Any, info: ValidationInfo) -> Any:
    """A resolution's follow_up as recorded before items had owners (plain texts), read as items
    of the resolver due DEFAULT_DUE after the resolve; items as they are."""
    if not isinstance(follow_up, list):
        return follow_up
    resolver, resolved_at = info.data.get("by", ""), info.data.get("at")
    return [
        {"text": entry, "owner": resolver, "due": resolved_at + DEFAULT_DUE}
        if isinstance(entry, str) and isinstance(resolved_at, datetime)
        else entry
        for entry in follow_up
    ]


# A resolution's action items; `by` and `at` come before them in its model, for older records.
ActionItems = Annotated[list[ActionItem], BeforeValidator(_older_follow_up)]


# The workflow that follows one item up -----------------------------------------------------------


class Completion(Model):
    by: str
    at: datetime
    note: str


class ActionItemState(Model):
    # The due date until the first reminder, then the next one's.
    next_reminder_at: datetime
    reminders: int = 0
    last_reminded_at: datetime | None = None
    done: Completion | None = None
    runs: int = 1


class CarriedActionItem(Model):
    """Everything continue-as-new hands to the next run: the state and the whole record."""

    state: ActionItemState
    status: ProcedureStatus


class ActionItemRequest(Model):
    item: ActionItem
    incident_id: str
    incident_summary: str
    environment: str
    services: list[str] = Field(default_factory=list)
    created_by: str
    channel: str
    reminder_every: timedelta = DEFAULT_REMINDER_EVERY
    timezone: str = "UTC"
    # Continue-as-new bound: a reminder every few days for months stays a short history.
    events_per_run: int = Field(2000, ge=10)
    carried: CarriedActionItem | None = None
    # [people]: the owner is mentioned by Slack ID, so the reminder reaches them.
    people: People = People({})


class ActionItemResult(Model):
    id: str
    done_by: str
    done_at: datetime
    note: str
    reminders: int
    late: bool
