"""A post-mortem's action items as a user follows them: resolved with --follow-up, listed with
`runbook list --kind action-item --open`, shown with `runbook status`, closed with `runbook done`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.e2e.test_incident import declare
from tests.support import procedure_status, wait_for


def test_action_items_are_listed_shown_and_closed_with_done(e2e_stack, healthy_fleet):
    stack = e2e_stack
    incident_id = declare(stack, "--severity", "P3", "--summary", "search slow", "--services", "auth-svc")
    resolved = stack.cli(
        "incident", "resolve", incident_id, "--resolution", "index rebuilt", "--root-cause", "a stale index",
        "--follow-up", "alert on search latency;owner=bob;due=14d", "--follow-up", "load-test search",
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    incident = wait_for(
        lambda: procedure_status(stack, incident_id), "the resolution", accept=lambda s: s.state.value == "RESOLVED"
    )
    resolved_at = datetime.fromisoformat(incident.details["incident"]["resolution"]["at"])
    first, second = f"{incident_id}-item-1", f"{incident_id}-item-2"
    assert f"- [ ] alert on search latency ({first}, owner bob, due " in incident.details["postmortem"]

    listed = stack.cli("list", "--kind", "action-item", "--open", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert [(rows[i]["kind"], rows[i]["status"], rows[i]["owner"]) for i in (first, second)] == [
        ("action-item", "RUNNING", "bob"),
        ("action-item", "RUNNING", "tester"),
    ]
    assert datetime.fromisoformat(rows[first]["due"]) - resolved_at == timedelta(days=14)
    text = stack.cli("list", "--kind", "action-item", "--open")
    (line,) = [line for line in text.stdout.splitlines() if line.startswith(first)]
    assert "owner bob, due " in line and line.endswith(": alert on search latency")

    shown = stack.cli("status", first, "--json")
    assert shown.returncode == 0, shown.stderr
    item = json.loads(shown.stdout)
    assert (item["kind"], item["state"], item["step"]) == ("action-item", "RUNNING", "wait_until_due")
    assert (item["details"]["action_item"]["owner"], item["details"]["action_item"]["reminders"]) == ("bob", 0)
    assert "owner: bob" in stack.cli("status", first).stdout

    done = stack.cli("done", first, "--note", "latency alert in PR 12", "--as", "bob")
    assert done.returncode == 0 and done.stdout.strip() == f"accepted: {first} done by bob", done.stderr
    wait_for(lambda: procedure_status(stack, first), "the item closed", accept=lambda s: s.state.value == "COMPLETED")
    again = stack.cli("done", first, "--note", "twice")
    assert again.returncode == 2 and f"{first} is closed (COMPLETED)" in again.stderr, again.stderr
    as_json = stack.cli("done", second, "--note", "load test run", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == {"accepted": True, "reason": ""}

    def still_open() -> set[str]:
        return {row["id"] for row in json.loads(stack.cli("list", "--kind", "action-item", "--open", "--json").stdout)}

    wait_for(still_open, "both items closed", accept=lambda ids: not ids & {first, second})
    said = [call["body"]["text"] for call in stack.calls("slack") if call["path"].endswith("chat.postMessage")]
    closed = (
        f":white_check_mark: action item {first} of {incident_id} done by <@U0BOB000002>: alert on search latency\n"
    )
    assert [text for text in said if text.startswith(closed)] == [closed + "- Note: latency alert in PR 12"]
