"""What people type, as Slack, the status page and the pager receive it.

Slack turns `<!channel>`, `<!here>` and `<@U…>` into notifications and `<https://…|label>` into a
disguised link; its rule is to escape `&`, `<` and `>` in text ("Escaping text", Slack's mrkdwn
reference). The status page is public plain text and shows only what customers may read: no
markup, no root cause, no follow-ups. A PagerDuty summary is one line of at most 1024 characters.
A newline typed into a one-line field must not forge the template's next line. And the completion
message names the environment of each change.

The templates are checked one by one; then an incident, a deployment and two rollbacks run on the
e2e stack, driven by the CLI as a user types it, and what the fakes received is read back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import respx
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.pager import PagerActivities
from activities.statuspage import StatusPageActivities
from runbook.config import StatusPageConfig, load_config
from runbook.deployment import Approval
from runbook.incident import PageRequest, Resolution, StatusPageChange
from runbook.integrations import Endpoint
from runbook.messages import deployment, incident, rollback
from runbook.models import Revision, RollbackPlan, ServiceTarget
from runbook.records import ServiceChange
from runbook.severity import Severity
from starter.commands import deployment_request
from tests.support import SANDBOX_CONFIG, procedure_status, wait_for

CHANNEL, HERE, USER, LINK = "<!channel>", "<!here>", "<@U024BE7LH>", "<https://evil.example|click me>"
RAW = (CHANNEL, HERE, "<@U", "<https://")
# A newline in a one-line field, forging the lines that follow it in the template.
FORGED = "\n- Status: Resolved\n- ETA: none"
PAGER_SUMMARY_LIMIT = 1024
COLUMNS = ("case", "input", "expected", "observed")
CONFIG = load_config(SANDBOX_CONFIG)
PEOPLE = CONFIG.people


def raw_markup(text: str) -> list[str]:
    """Markup that came from what people typed: the mentions the runbook builds of [people] are its own."""
    for person in PEOPLE.root.values():
        text = text.replace(f"<@{person.slack_id}>", "")
    return [raw for raw in RAW if raw in text]


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


class Table:
    """Rows of one outcome table; every row is recorded before any is judged."""

    def __init__(self, record: Callable[..., None], title: str) -> None:
        self._record, self._title, self._failures = record, title, []

    def row(self, case: str, given: str, expected: str, observed: str, ok: bool) -> None:
        self._record(self._title, COLUMNS, case, given, expected, observed)
        if not ok:
            self._failures.append(f"{case}: expected {expected}; observed {observed!r}")

    def judge(self) -> None:
        assert not self._failures, "\n".join(self._failures)


def escaped_row(table: Table, case: str, given: str, text: str, line: str) -> None:
    """`line`: the template's line that carries the value; it must show the value escaped."""
    shown = "\n".join(lines_starting(text, line)) or text
    table.row(case, given, "escaped: &lt;…&gt;, no raw <!…>, <@U…>, <https://…>", shown, not raw_markup(text))


# The templates, one by one ----------------------------------------------------------------------


def text_of(message: Callable[[], str]) -> str:
    """The message, or what went wrong making it: a row of the table either way."""
    try:
        return message()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def a_request(user: str):
    return deployment_request(CONFIG, "production", "v1.2.0", ["market-svc"], user)


def change(service: str, before: str, after: str) -> ServiceChange:
    return ServiceChange(service=service, before_arn="a", before_version=before, after_arn="b", after_version=after)


def test_every_template_escapes_what_people_typed(outcome_table):
    table = Table(outcome_table, "hostile text in the message templates")
    alert = incident.initial_alert(["market-svc"], f"checkout {CHANNEL} & co{FORGED}")
    escaped_row(table, "initial alert: summary", f"checkout {CHANNEL} & co⏎- Status: …", alert, "- Impact:")
    table.row(
        "initial alert: newline in the summary",
        "⏎- Status: Resolved⏎- ETA: none",
        "one '- Status:' line and one '- ETA:' line",
        f"{lines_starting(alert, '- Status:')} {lines_starting(alert, '- ETA:')}",
        len(lines_starting(alert, "- Status:")) == len(lines_starting(alert, "- ETA:")) == 1,
    )
    table.row(
        "initial alert: & in the summary", "& co", "&amp;", lines_starting(alert, "- Impact:")[0], "&amp; co" in alert
    )
    update = incident.update_message(["market-svc"], "Mitigating", f"see {LINK}", f"5 minutes{FORGED}")
    escaped_row(table, "update: action", f"see {LINK}", update, "- Action:")
    table.row(
        "update: newline in the ETA",
        "5 minutes⏎- Status: Resolved",
        "one '- Status:' line",
        str(lines_starting(update, "- Status:")),
        len(lines_starting(update, "- Status:")) == 1,
    )
    resolved = incident.resolved_message(
        ["market-svc"], 12, f"{HERE} impact", f"{CHANNEL} rolled back", [f"{USER} owns alerts", f"read {LINK}"]
    )
    escaped_row(table, "resolved: resolution", f"{CHANNEL} rolled back", resolved, "- Resolution:")
    escaped_row(table, "resolved: follow-ups", f"{USER} owns alerts; read {LINK}", resolved, "- Follow-up:")
    regraded = incident.regraded_message("INC-1", Severity.P1, Severity.P2, HERE, f"{CHANNEL} fewer users", PEOPLE)
    escaped_row(table, "regraded: user and reason", f"--as {HERE}, --reason {CHANNEL} …", regraded, ":arrows")
    announced = deployment.announcement("deployment", "deploy-1", a_request(CHANNEL))
    escaped_row(table, "deployment announcement: --as", CHANNEL, announced, "- Requested by:")
    told = deployment.alert(a_request("alice"), f"ended REJECTED: rejected by bob: {HERE} see {LINK}")
    escaped_row(table, "deployment alert: rejection reason", f"{HERE} see {LINK}", told, ":warning:")
    back = text_of(
        lambda: deployment.rolled_back(
            a_request("alice"), f"pre-empted by {USER}: {CHANNEL}", {"staging": [change("market-svc", "v1", "v2")]}
        )
    )
    escaped_row(table, "deployment rolled back: reason", f"pre-empted by {USER}: {CHANNEL}", back, ":rewind:")
    target = ServiceTarget(
        service="market-svc",
        current=Revision(arn="a", family="f", revision=2, version="v2"),
        target=Revision(arn="b", family="f", revision=1, version="v1"),
    )
    started = rollback.rollback_started(
        "production", RollbackPlan(environment="production", targets=[target]), f"{LINK}{FORGED}", USER
    )
    escaped_row(table, "rollback started: --reason and --as", f"{LINK}⏎…, --as {USER}", started, "")
    finished = rollback.rollback_finished("production", [("market-svc", "rolled_back", "")], CHANNEL, HERE)
    escaped_row(table, "rollback finished: --reason and --as", f"{CHANNEL}, --as {HERE}", finished, "")
    table.judge()


def test_the_completion_message_says_which_change_is_which_environments(outcome_table):
    table = Table(outcome_table, "hostile text in the message templates")
    changes = {
        "staging": [change("market-svc", "v1.1.0", "v1.2.0")],
        "production": [change("market-svc", "v1.1.0", "v1.2.0")],
    }
    text = text_of(
        lambda: deployment.completion(
            a_request("alice"), changes, timedelta(seconds=90), Approval(approver="bob", at=datetime.now(UTC))
        )
    )
    grouped = text.split("\n")[1:]
    expected = ["staging:", "- market-svc: v1.1.0 → v1.2.0", "production:", "- market-svc: v1.1.0 → v1.2.0"]
    table.row(
        "completion: changes per environment",
        "market-svc in staging and production",
        "'staging:' then its change, 'production:' then its change",
        " | ".join(grouped) or text,
        all(line in grouped for line in expected)
        and [grouped.index(line) for line in ("staging:", "production:")] == [0, 2],
    )
    table.judge()


def a_resolution(marker: str) -> Resolution:
    return Resolution(
        by="alice",
        at=datetime.now(UTC),
        resolution=f"{HERE} rolled back",
        root_cause=f"ROOT-CAUSE-{marker}",
        impact=f"checkout {CHANNEL}{FORGED}",
        follow_up=[f"FOLLOW-UP-{marker}"],
    )


def test_the_status_page_templates_are_public_plain_text(outcome_table):
    table = Table(outcome_table, "hostile text in the message templates")
    summary = f"checkout {CHANNEL} <script>alert(1)</script>{FORGED}"
    name = text_of(lambda: incident.status_page_name(["market-svc"], summary))
    body = text_of(lambda: incident.status_page_opened(["market-svc"], summary))
    table.row(
        "status page opened: summary",
        summary,
        "one-line name, one '- Status:' line, no '<' or '>'",
        f"{name} / {body}",
        "\n" not in name and len(lines_starting(body, "- Status:")) == 1 and not {"<", ">"} & set(name + body),
    )
    public = text_of(lambda: incident.status_page_resolved(["market-svc"], 5, a_resolution("x"), internal=False))
    table.row(
        "status page resolved: internal text",
        "--root-cause ROOT-CAUSE-x, --follow-up FOLLOW-UP-x",
        "neither; no '<' or '>'",
        public,
        "ROOT-CAUSE" not in public and "FOLLOW-UP" not in public and not {"<", ">"} & set(public),
    )
    detailed = text_of(lambda: incident.status_page_resolved(["market-svc"], 5, a_resolution("x"), internal=True))
    table.row(
        "status page resolved with its details",
        "--root-cause ROOT-CAUSE-x, --follow-up FOLLOW-UP-x",
        "both, for public_details = true",
        detailed,
        "- Root cause: ROOT-CAUSE-x" in detailed and "- Follow-up: FOLLOW-UP-x" in detailed,
    )
    table.judge()


STATUS_PAGE = Endpoint(provider="statuspage", url="https://api.statuspage.io/v1", secret=SecretStr("api-key"))
PAGER = Endpoint(provider="pagerduty", url="https://events.pagerduty.com/v2/enqueue", secret=SecretStr("key"))
PAGER_API = Endpoint(provider="pagerduty", url="https://api.pagerduty.com", secret=SecretStr("token"))


async def test_the_activities_send_what_each_service_takes(outcome_table):
    table = Table(outcome_table, "hostile text at the activities")
    change = StatusPageChange(incident_id="sp1", status="resolved", body="public", internal_body="public and internal")
    long_summary = f"INC-1 P1: {'checkout failing ' * 130}{FORGED}"
    with respx.mock(assert_all_called=False) as wire:
        patched = wire.patch(f"{STATUS_PAGE.url}/pages/skillancer/incidents/sp1").mock(
            return_value=httpx.Response(200, json={"id": "sp1"})
        )
        paged = wire.post(PAGER.url).mock(return_value=httpx.Response(202, json={"dedup_key": "INC-1"}))
        async with httpx.AsyncClient() as http:
            for public_details in (False, True):
                page = StatusPageConfig(page_id="skillancer", public_details=public_details)
                await StatusPageActivities(http, STATUS_PAGE, page).update_status_page(change)
            await ActivityEnvironment().run(
                PagerActivities(http, CONFIG, PAGER, PAGER_API).trigger_page,
                PageRequest(dedup_key="INC-1", summary=long_summary, severity="critical", component="market-svc"),
            )
    bodies = [json.loads(call.request.content)["incident"]["body"] for call in patched.calls]
    for (public_details, expected), body in zip(
        ((False, "public"), (True, "public and internal")), bodies, strict=True
    ):
        table.row(
            f"status page resolved, public_details = {str(public_details).lower()}",
            "body 'public', internal_body 'public and internal'",
            expected,
            body,
            body == expected,
        )
    sent = json.loads(paged.calls[0].request.content)["payload"]["summary"]
    table.row(
        "pager trigger: summary",
        f"{len(long_summary)} characters over 3 lines",
        f"one line, at most {PAGER_SUMMARY_LIMIT} characters",
        f"{len(sent.splitlines())} line(s), {len(sent)} characters",
        "\n" not in sent and len(sent) <= PAGER_SUMMARY_LIMIT,
    )
    table.judge()


# End to end through the fakes -------------------------------------------------------------------


def since(stack, marks: dict[str, int], system: str) -> list[dict]:
    return stack.calls(system)[marks[system] :]


def posted(stack, marks: dict[str, int]) -> list[tuple[str, str]]:
    """(channel, text) of every message posted since `marks`."""
    calls = since(stack, marks, "slack")
    return [
        (call["body"]["channel"], call["body"]["text"]) for call in calls if call["path"].endswith("chat.postMessage")
    ]


def first(texts: list[str], start: str, having: str = "") -> str:
    return next((text for text in texts if text.startswith(start) and having in text), f"(nothing posted: {start})")


def marks_now(stack) -> dict[str, int]:
    return {system: len(stack.calls(system)) for system in ("slack", "statuspage", "pagerduty")}


def cli(stack, *args: str) -> str:
    done = stack.cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def refused_row(table: Table, stack, case: str, given: str, *args: str) -> None:
    """Whoever acts is a person in [people], whose names are plain: markup typed as --as never
    reaches a message, it is refused (exit 2, one line naming the value), nothing sent."""
    done = stack.cli(*args)
    table.row(
        case,
        given,
        "refused: exit 2, one line naming the unknown person",
        f"exit {done.returncode}: {done.stderr.strip()}",
        done.returncode == 2 and "unknown person" in done.stderr and len(done.stderr.strip().splitlines()) == 1,
    )


def test_an_incident_told_with_hostile_text(e2e_stack, healthy_fleet, outcome_table):
    table = Table(outcome_table, "hostile text end to end (incident)")
    marker = uuid.uuid4().hex[:8]
    summary = f"checkout {marker} {CHANNEL} & {HERE}{FORGED} {LINK}"
    root_cause, follow_up = f"ROOT-CAUSE-{marker} {USER}", f"FOLLOW-UP-{marker} {LINK}"
    marks = marks_now(e2e_stack)
    declared = cli(
        e2e_stack, "incident", "declare", "--severity", "P1", "--summary", summary, "--services", "market-svc",
        "--update-every", "2s", "--as", "alice", "--json",
    )  # fmt: skip
    incident_id = json.loads(declared)["id"]
    refused_row(
        table, e2e_stack, "CLI acknowledgement: --as", HERE, "incident", "ack", incident_id, "--as", HERE
    )  # fmt: skip
    cli(e2e_stack, "incident", "ack", incident_id, "--as", "bob", "--note", CHANNEL)
    action, eta = f"rolling back, see {LINK}", f"5 minutes{FORGED}"
    cli(
        e2e_stack, "incident", "update", incident_id, "--status", "Mitigating", "--action", action, "--eta", eta,
        "--as", "alice",
    )  # fmt: skip
    wait_for(
        lambda: [c for c in since(e2e_stack, marks, "statuspage") if "rolling back" in json.dumps(c["body"])],
        "the update on the status page",
    )
    cli(e2e_stack, "incident", "severity", incident_id, "P2", "--reason", f"{CHANNEL} fewer users", "--as", "alice")
    cli(
        e2e_stack, "incident", "resolve", incident_id, "--resolution", f"{HERE} rolled back",
        "--root-cause", root_cause, "--follow-up", follow_up, "--as", "alice",
    )  # fmt: skip
    wait_for(lambda: procedure_status(e2e_stack, incident_id).state.value == "RESOLVED", "the resolution")

    messages = posted(e2e_stack, marks)
    room = next(
        channel for channel, text in messages if text.startswith(f":rotating_light: War room for {incident_id}")
    )
    texts = [text for channel, text in messages if channel == room or incident_id in text or marker in text]
    alert = first(texts, "🚨 INCIDENT")
    escaped_row(table, "Slack initial alert: summary", summary, alert, "- Impact:")
    table.row(
        "Slack initial alert: newline in the summary",
        "⏎- Status: Resolved⏎- ETA: none",
        "one '- Status:' line and one '- ETA:' line",
        f"{lines_starting(alert, '- Status:')} {lines_starting(alert, '- ETA:')}",
        len(lines_starting(alert, "- Status:")) == len(lines_starting(alert, "- ETA:")) == 1,
    )
    war_room = first(texts, ":rotating_light: War room")
    escaped_row(table, "Slack war room: summary", summary, war_room, "- ")
    table.row(
        "Slack acknowledged: by a person, not by the refused --as",
        f"--as {HERE}, then --as bob",
        "acknowledged by bob",
        first(texts, ":eyes:"),
        "acknowledged by <@U0BOB000002>" in first(texts, ":eyes:"),
    )
    update = first(texts, "📍 UPDATE", "rolling back")
    escaped_row(table, "Slack update: action and ETA", f"{action}, {eta}", update, "- ")
    regraded = first(texts, ":arrows_counterclockwise:")
    escaped_row(table, "Slack regraded: reason", f"{CHANNEL} fewer users", regraded, ":arrows")
    resolved = first(texts, "✅ RESOLVED")
    escaped_row(table, "Slack resolved: resolution, follow-up", f"{HERE} rolled back, {follow_up}", resolved, "- ")
    everything = "\n".join(texts)
    table.row(
        "Slack: every message of the incident",
        "all of the above",
        "no raw <!channel>, <!here>, <@U, <https://",
        str(raw_markup(everything)),
        not raw_markup(everything),
    )

    pages = [c["body"]["incident"] for c in since(e2e_stack, marks, "statuspage")]
    public = "\n".join(str(value) for page in pages for value in page.values())
    opened = next((page for page in pages if "name" in page), {"name": "(not opened)", "body": ""})
    table.row(
        "status page: incident name and body",
        summary,
        "one-line name; no '<' or '>'",
        opened["name"],
        "\n" not in opened["name"] and "<" not in opened["name"] + opened["body"] and ">" not in opened["body"],
    )
    table.row(
        "status page: every call",
        "summary, action, ETA, resolution",
        "no '<' or '>' anywhere",
        f"{public.count('<')} '<', {public.count('>')} '>'",
        "<" not in public and ">" not in public,
    )
    table.row(
        "status page: internal text",
        "--root-cause, --follow-up",
        "neither on the public page ([statuspage] public_details = false)",
        ", ".join(found for found in ("ROOT-CAUSE", "FOLLOW-UP") if f"{found}-{marker}" in public) or "neither",
        f"ROOT-CAUSE-{marker}" not in public and f"FOLLOW-UP-{marker}" not in public,
    )
    triggers = [
        c["body"]["payload"]["summary"]
        for c in since(e2e_stack, marks, "pagerduty")
        if c["path"].endswith("/v2/enqueue")
        and c["body"].get("dedup_key") == incident_id
        and c["body"]["event_action"] == "trigger"
    ]
    table.row(
        "pager: summary",
        summary,
        f"one line, at most {PAGER_SUMMARY_LIMIT} characters",
        " | ".join(triggers),
        bool(triggers) and all("\n" not in s and len(s) <= PAGER_SUMMARY_LIMIT for s in triggers),
    )
    table.judge()


def test_a_deployment_and_rollbacks_told_with_hostile_text(e2e_stack, healthy_fleet, outcome_table):
    table = Table(outcome_table, "hostile text end to end (deployment, rollback)")
    marks = marks_now(e2e_stack)
    version = f"v7.0.{uuid.uuid4().int % 100000}"
    deploy = ["deploy", "production", "--version", version, "--services", "notification-svc"]
    refused_row(table, e2e_stack, "CLI deploy: --as", CHANNEL, *deploy, "--as", CHANNEL)
    started = cli(
        e2e_stack, *deploy, "--no-checklist", "--reason", f"{HERE} key user flows checked by hand", "--json",
    )  # fmt: skip
    deployment_id = json.loads(started)["id"]
    wait_for(lambda: procedure_status(e2e_stack, deployment_id).step == "approval", "the approval gate", timeout=120)
    cli(e2e_stack, "approve", deployment_id, "--as", "bob", "--comment", f"{HERE} looks good")
    wait_for(lambda: procedure_status(e2e_stack, deployment_id).state.value != "RUNNING", "the deployment", timeout=120)
    texts = [text for _, text in posted(e2e_stack, marks) if version in text]
    announced = first(texts, ":rocket:")
    table.row(
        "Slack announcement: requested by a person, not by the refused --as",
        f"--as {CHANNEL}, then RUNBOOK_USER=tester",
        "- Requested by: tester",
        " | ".join(lines_starting(announced, "- Requested by:")),
        lines_starting(announced, "- Requested by:") == ["- Requested by: tester"],
    )
    completion = first(texts, ":white_check_mark:")
    grouped = completion.split("\n")[1:]
    table.row(
        "Slack completion: changes per environment",
        "notification-svc to staging, then production",
        "'staging:' then its change, 'production:' then its change",
        " | ".join(grouped) or completion,
        [line for line in grouped if line.endswith(":")] == ["staging:", "production:"]
        and sum(line.startswith("- notification-svc:") for line in grouped) == 2,
    )

    marks = marks_now(e2e_stack)
    before = e2e_stack.running("staging", "notification-svc").version
    reason = f"{CHANNEL} see {LINK}{FORGED}"
    rollback = ["rollback", "-y", "staging", "notification-svc"]
    refused_row(table, e2e_stack, "CLI rollback: --as", USER, *rollback, "v1.0.0", "--reason", reason, "--as", USER)
    for to_version in ("v1.0.0", before):
        cli(e2e_stack, *rollback, to_version, "--reason", reason)
    texts = [text for _, text in posted(e2e_stack, marks) if "ROLLBACK" in text]
    escaped_row(table, "Slack rollback started/finished: --reason", reason, texts[0], "")
    table.row(
        "Slack rollback: newline in the reason",
        "⏎- Status: Resolved",
        "no forged '- Status:' line",
        str([line for text in texts for line in lines_starting(text, "- Status:")]),
        not any(lines_starting(text, "- Status:") for text in texts),
    )
    everything = "\n".join(texts)
    table.row(
        "Slack: every rollback message",
        "--reason",
        "no raw <!channel>, <!here>, <@U, <https://",
        str(raw_markup(everything)),
        bool(texts) and not raw_markup(everything),
    )
    table.judge()
