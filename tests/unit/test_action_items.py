"""Action items as people write them: `--follow-up "TEXT;owner=bob;due=14d"`, the `resolve`
signal's follow_up (objects, or plain strings as before), and what a resolution keeps of them."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from runbook.action_items import (
    ActionItem,
    ActionItemPayload,
    ActionItemState,
    Completion,
    action_items,
    parse_due,
    parse_follow_up,
)
from runbook.config import load_config
from runbook.incident import Resolution
from runbook.incident_payloads import ResolvePayload
from runbook.messages.action_items import described, done_message, reminder_message
from runbook.postmortem import render_postmortem
from runbook.status import ProcedureStatus
from runbook.validate import InvalidInput
from starter.render import render_status
from tests.unit.test_incident import POLICY, minutes, resolved_state

RESOLVED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
PEOPLE = load_config().people


def test_a_follow_up_takes_its_owner_and_due_after_the_text():
    assert parse_follow_up("add 5xx alerts per service;owner=bob;due=14d") == {
        "text": "add 5xx alerts per service",
        "owner": "bob",
        "due": "14d",
    }
    assert parse_follow_up(" canary deploys ; due = 2d ") == {"text": "canary deploys", "due": "2d"}
    assert parse_follow_up("canary deploys") == {"text": "canary deploys"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fix it;colour=red", ["bad --follow-up field 'colour'", "the fields are owner and due"]),
        ("fix it;owner", ["bad --follow-up field 'owner'", "owner and due"]),
        ("fix it;", ["bad --follow-up field ''", "owner and due"]),
        ("fix it;due=soon", ["bad due 'soon'", "30s, 5m, 1h or 14d"]),
        ("fix it;due=0d", ["bad due '0d'", "from 1s to 365d"]),
        ("fix it;due=366d", ["bad due '366d'"]),
        ("fix it;due=99999999999d", ["bad due '99999999999d'"]),
        ("fix it;owner=", ["bad --follow-up owner", "empty", "owner=bob"]),
        ("fix it;owner=bob;owner=eve", ["owner given twice"]),
        (";owner=bob", ["bad --follow-up ';owner=bob': no text"]),
        ("  ", ["no text"]),
    ],
)
def test_a_wrong_follow_up_names_the_bad_value_and_what_is_allowed(text, expected):
    with pytest.raises(InvalidInput) as refused:
        parse_follow_up(text)
    message = str(refused.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_due_is_a_positive_duration_of_at_most_a_year():
    assert parse_due("30s") == timedelta(seconds=30)
    assert parse_due("365d") == timedelta(days=365)
    for bad in ("14", "2w", "-1d", "", "P14D"):
        with pytest.raises(InvalidInput):
            parse_due(bad)


def resolve_payload(*follow_up) -> dict:
    return {"user": "alice", "resolution": "r", "root_cause": "c", "follow_up": list(follow_up)}


def test_the_signal_takes_items_and_plain_strings_with_the_resolvers_defaults():
    payload = ResolvePayload.model_validate(
        resolve_payload("canary deploys", {"text": "5xx alerts", "owner": "bob", "due": "2d"}, {"text": "runbook"})
    )
    items = action_items("INC-1", payload.follow_up, "alice", RESOLVED, timedelta(days=14))
    assert items == [
        ActionItem(id="INC-1-item-1", text="canary deploys", owner="alice", due=RESOLVED + timedelta(days=14)),
        ActionItem(id="INC-1-item-2", text="5xx alerts", owner="bob", due=RESOLVED + timedelta(days=2)),
        ActionItem(id="INC-1-item-3", text="runbook", owner="alice", due=RESOLVED + timedelta(days=14)),
    ]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"text": "x", "colour": "red"}, "unknown field 'colour'; known: text, owner, due"),
        ({"text": "x", "due": "soon"}, "bad due 'soon'"),
        ({"text": "x", "due": 14}, "due\n  Input should be a valid string"),
        ({"text": "x", "owner": ""}, "owner"),
        ({"text": "x", "owner": "  "}, "empty owner"),
        ({"text": ""}, "text"),
        ({"owner": "bob"}, "text"),
        ("", "at least 1 character"),
    ],
)
def test_a_wrong_item_in_the_signal_is_refused(item, expected):
    with pytest.raises(ValidationError) as refused:
        ResolvePayload.model_validate(resolve_payload(item))
    assert expected in str(refused.value)


def test_a_resolve_names_at_most_25_items():
    assert len(ResolvePayload.model_validate(resolve_payload(*["x"] * 25)).follow_up) == 25
    with pytest.raises(ValidationError):
        ResolvePayload.model_validate(resolve_payload(*["x"] * 26))


def test_a_resolution_recorded_with_plain_follow_ups_still_reads():
    """Before items had owners, a resolution kept their texts: such a record reads as items of the
    resolver, due 14 days after the resolve."""
    older = {"by": "alice", "at": RESOLVED.isoformat(), "resolution": "r", "root_cause": "c", "impact": "i"}
    resolution = Resolution.model_validate({**older, "follow_up": ["canary deploys"]})
    assert resolution.follow_up == [ActionItem(text="canary deploys", owner="alice", due=RESOLVED + timedelta(days=14))]
    assert Resolution.model_validate_json(resolution.model_dump_json()) == resolution


def test_the_post_mortem_lists_each_item_with_its_id_owner_and_due_date():
    state = resolved_state()
    assert state.resolution is not None
    state.resolution.follow_up = action_items(
        "INC-1",
        [ActionItemPayload(text="canary deploys"), ActionItemPayload(text="5xx alerts", owner="bob", due="2d")],
        "alice",
        minutes(62),
        timedelta(days=14),
    )
    markdown = render_postmortem("INC-1", state, [], POLICY)
    items = markdown.split("## Action items\n\n", 1)[1]
    assert "- [ ] canary deploys (INC-1-item-1, owner alice, due 2026-12-10 15:02 GMT)" in items
    assert "- [ ] 5xx alerts (INC-1-item-2, owner bob, due 2026-11-28 15:02 GMT)" in items
    assert "`runbook list --kind action-item --open`" in items


def test_reminders_and_the_done_message_mention_the_owner_and_name_the_item():
    item = ActionItem(id="INC-1-item-1", text="canary <!channel>", owner="bob", due=RESOLVED)
    assert reminder_message(item, "INC-1", RESOLVED, "UTC", PEOPLE) == (
        ":alarm_clock: <@U0BOB000002>: action item INC-1-item-1 of INC-1 is due now: canary &lt;!channel&gt;."
        " Once it is done: runbook done INC-1-item-1 --note TEXT"
    )
    later = reminder_message(item, "INC-1", RESOLVED + timedelta(days=3), "UTC", PEOPLE)
    assert "is overdue by 3 d (due 2026-11-30 10:00 UTC)" in later
    done = Completion(by="eve", at=RESOLVED + timedelta(days=4), note="shipped")
    # eve is no person of [people]: named as text, since no mention could reach her.
    assert done_message(item, "INC-1", done, PEOPLE) == (
        ":white_check_mark: action item INC-1-item-1 of INC-1 done by eve, 4 d after its due date:"
        " canary &lt;!channel&gt;\n- Note: shipped"
    )
    assert described(item, "UTC") == "canary <!channel> (INC-1-item-1, owner bob, due 2026-11-30 10:00 UTC)"


def test_the_status_of_an_item_shows_its_owner_due_date_and_reminders():
    item = ActionItem(id="INC-1-item-1", text="canary deploys", owner="bob", due=RESOLVED)
    state = ActionItemState(next_reminder_at=RESOLVED + timedelta(days=6), reminders=2, last_reminded_at=RESOLVED)
    current = ProcedureStatus(
        id=item.id,
        kind="action-item",
        details={"action_item": {**item.model_dump(mode="json"), "incident": "INC-1", **state.model_dump(mode="json")}},
    )
    shown = render_status(current)
    assert shown.startswith("INC-1-item-1  action-item  RUNNING")
    assert "action item of INC-1: canary deploys" in shown
    assert "  owner: bob   due: 2026-11-30 10:00 UTC   reminders: 2, the last 2026-11-30 10:00 UTC" in shown


def test_an_item_written_over_lines_stays_one_line_of_the_post_mortem():
    state = resolved_state()
    assert state.resolution is not None
    item = ActionItemPayload(text="add alerts\n## Root cause\nforged")
    state.resolution.follow_up = action_items("INC-1", [item], "alice", minutes(62), timedelta(days=14))
    items = render_postmortem("INC-1", state, [], POLICY).split("## Action items\n\n", 1)[1]
    assert items.startswith("- [ ] add alerts ## Root cause forged (INC-1-item-1, owner alice, due ")
