"""The incident's texts: RUNBOOK.md's three templates word for word, and the post-mortem."""

from datetime import UTC, datetime, timedelta

from runbook.config import load_config
from runbook.incident import (
    Acknowledgement,
    Escalation,
    IncidentState,
    Mitigation,
    RelatedDeployment,
    Resolution,
)
from runbook.messages.incident import elapsed, initial_alert, resolved_message, update_message
from runbook.postmortem import render_postmortem
from runbook.severity import Severity
from runbook.status import TimelineEntry
from tests.support import SANDBOX_CONFIG

POLICY = load_config(SANDBOX_CONFIG).incidents
DECLARED = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def minutes(count: int) -> datetime:
    return DECLARED + timedelta(minutes=count)


def test_the_initial_alert_is_the_runbooks_template():
    text = initial_alert(["market-svc", "payment-svc"], "checkout failing")
    assert text == (
        "🚨 INCIDENT: market-svc, payment-svc experiencing issues\n"
        "- Impact: checkout failing\n- Status: Investigating\n- ETA: Unknown"
    )


def test_the_update_is_the_runbooks_template():
    text = update_message(["market-svc"], "Mitigating", "rolling back market-svc", "30 minutes")
    assert (
        text
        == "📍 UPDATE: market-svc incident\n- Status: Mitigating\n- Action: rolling back market-svc\n- ETA: 30 minutes"
    )


def test_the_resolved_message_is_the_runbooks_template():
    text = resolved_message(
        ["market-svc"],
        62,
        "checkout failing for all users",
        "rolled back to v1.1.0",
        ["alert on 5xx per service", "canary deploys"],
    )
    assert text == (
        "✅ RESOLVED: market-svc incident\n- Duration: 62 minutes\n- Impact: checkout failing for all users\n"
        "- Resolution: rolled back to v1.1.0\n- Follow-up: alert on 5xx per service; canary deploys"
    )
    assert "- Duration: 1 minute\n" in resolved_message([], 1, "i", "r", [])
    assert resolved_message([], 1, "i", "r", []).startswith("✅ RESOLVED: Skillancer incident")


def resolved_state() -> IncidentState:
    return IncidentState(
        severity=Severity.P1,
        declared_severity=Severity.P3,
        summary="checkout failing",
        services=["market-svc"],
        commander="alice",
        declared_at=DECLARED,
        target_respond_by=minutes(5),
        respond_by=None,
        acknowledged=Acknowledgement(by="bob", at=minutes(11), within_target=False),
        escalations=[Escalation(level=1, to="frank", at=minutes(5))],
        mitigations=[
            Mitigation(
                number=1,
                action="rollback",
                services=["market-svc"],
                by="runbook",
                requested_at=minutes(11),
                state="done",
            )
        ],
        resolution=Resolution(
            by="alice",
            at=minutes(62),
            resolution="rolled back",
            root_cause="a bad | migration",
            impact="checkout down",
            follow_up=["add a canary"],
        ),
    )


def test_the_post_mortem_holds_every_timeline_entry_with_time_and_who():
    timeline = [
        TimelineEntry(at=DECLARED, actor="alice", event="declared P3", detail="checkout failing"),
        TimelineEntry(at=minutes(5), actor="runbook", event="escalated to frank", detail="not acknowledged\nwithin 5m"),
        TimelineEntry(at=minutes(11), actor="bob", event="acknowledged"),
    ]
    markdown = render_postmortem("INC-20261126-0001", resolved_state(), timeline, POLICY)
    assert markdown.startswith("# Post-mortem: INC-20261126-0001, checkout failing\n")
    assert "- Severity: P1 (declared P3)" in markdown
    # Times in the configured zone: 14:00 UTC is 14:00 GMT in November.
    assert "| 2026-11-26 14:00:00 GMT | alice | declared P3: checkout failing |" in markdown
    assert "| 2026-11-26 14:05:00 GMT | runbook | escalated to frank: not acknowledged within 5m |" in markdown
    assert "| 2026-11-26 14:11:00 GMT | bob | acknowledged |" in markdown
    assert (
        "- Acknowledged: 2026-11-26 14:11:00 GMT by bob, 11 min after declaration "
        "(response time missed, due 2026-11-26 14:05:00 GMT)"
    ) in markdown
    assert "- Duration: 62 minutes" in markdown
    assert "## Root cause\n\na bad | migration\n" in markdown
    assert "## Action items\n\n- [ ] add a canary (owner alice, due 2026-12-10 15:02 GMT)\n" in markdown


def test_the_post_mortem_opens_with_the_p1_clock_met_missed_by_how_much_or_never():
    state = resolved_state()  # acknowledged at 11 min, no assessment, the rollback asked at 11 min
    mitigation = state.mitigations[0].model_copy(update={"started_at": minutes(12)})
    clocked = state.model_copy(update={"mitigations": [mitigation]})
    markdown = render_postmortem("INC-1", clocked, [], POLICY)
    assert markdown.startswith(
        "# Post-mortem: INC-1, checkout failing\n\n## P1 clock\n\n| Phase | Target | Reached | |\n|---|---|---|---|\n"
        "| Acknowledged | by 5 min | 11 min | missed by 6 min |\n"
        "| Assessed | by 10 min | never | missed |\n"
        "| Mitigation under way | by 30 min | 12 min | met |\n\n- Severity: P1"
    )
    # A P3 (no war room) has no P1 procedure to be timed against.
    p3 = clocked.model_copy(update={"severity": Severity.P3})
    assert "## P1 clock" not in render_postmortem("INC-1", p3, [], POLICY)


def test_the_post_mortem_keeps_the_runbooks_sections_improvements_and_a_forced_resolution():
    state = resolved_state()
    assert state.resolution is not None
    resolution = state.resolution.model_copy(
        update={
            "improvements": ["page the secondary\nsooner", "## not a heading"],
            "unverified": ["market-svc: No data: no datapoints for RequestCount"],
            "forced_reason": "the exporter is down",
        }
    )
    markdown = render_postmortem("INC-1", state.model_copy(update={"resolution": resolution}), [], POLICY)
    sections = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert sections == ["## P1 clock", "## Timeline", "## Impact", "## Root cause", "## Resolution"] + [
        "## Improvements",
        "## Action items",
    ]
    assert "## Improvements\n\n- page the secondary sooner\n- ## not a heading\n" in markdown
    assert (
        "## Resolution\n\nrolled back\n\nResolved by force by alice: the exporter is down\n\n"
        "Not verified:\n- market-svc: No data: no datapoints for RequestCount\n"
    ) in markdown
    assert "## Improvements\n\n- none recorded" in render_postmortem("INC-1", resolved_state(), [], POLICY)


def test_a_pipe_in_a_timeline_entry_does_not_break_the_table():
    timeline = [TimelineEntry(at=DECLARED, actor="alice", event="update: Mitigating", detail="a | b")]
    markdown = render_postmortem("INC-1", resolved_state(), timeline, POLICY)
    assert "| alice | update: Mitigating: a \\| b |" in markdown


def gantt_of(markdown: str) -> str:
    """The post-mortem's Mermaid chart, between its fences."""
    return markdown.split("\n## Timeline\n\n```mermaid\n", 1)[1].split("\n```\n", 1)[0]


def test_the_post_mortem_draws_each_phase_from_its_start_for_its_length_late_ones_crit():
    state = resolved_state()  # declared 14:00, acknowledged 14:11 (due 14:05), never assessed, resolved 15:02
    mitigation = state.mitigations[0].model_copy(update={"started_at": minutes(12)})
    markdown = render_postmortem("INC-1", state.model_copy(update={"mitigations": [mitigation]}), [], POLICY)
    assert gantt_of(markdown) == (
        "gantt\n"
        "    title INC-1, checkout failing (times in Europe/London)\n"
        "    dateFormat YYYY-MM-DD HH:mm:ss\n"
        "    axisFormat %H:%M\n"
        "    section Phases\n"
        "    Declared → acknowledged :crit, 2026-11-26 14:00:00, 660s\n"
        "    Acknowledged → mitigation under way :done, 2026-11-26 14:11:00, 60s\n"
        "    Mitigation under way → resolved :done, 2026-11-26 14:12:00, 3000s\n"
        # Never reached: overdue from when it was due until the resolve.
        "    section Due, never reached\n"
        "    Assessed, never :crit, 2026-11-26 14:10:00, 3120s"
    )


def test_a_phase_never_reached_is_drawn_only_if_it_was_due_before_the_resolve():
    state = resolved_state()
    assert state.resolution is not None
    quick = state.model_copy(
        update={
            "acknowledged": None,
            "mitigations": [],
            "resolution": state.resolution.model_copy(update={"at": minutes(8)}),
        }
    )
    chart = gantt_of(render_postmortem("INC-1", quick, [], POLICY)).splitlines()
    # Assessment (due at 10 min) and mitigation (30 min) were not yet due when it was resolved at 8.
    assert chart[4:] == [
        "    section Phases",
        "    Declared → resolved :done, 2026-11-26 14:00:00, 480s",
        "    section Due, never reached",
        "    Acknowledged, never :crit, 2026-11-26 14:05:00, 180s",
    ]
    # Without a war room only the response time is a target: a late mitigation is not marked.
    p3 = resolved_state().model_copy(update={"severity": Severity.P3})
    p3_chart = gantt_of(render_postmortem("INC-1", p3, [], POLICY))
    assert "Declared → acknowledged :crit" in p3_chart
    assert "Acknowledged → mitigation under way :done" in p3_chart
    assert "never" not in p3_chart


def test_what_people_wrote_cannot_break_the_chart_or_its_fence():
    hostile = resolved_state().model_copy(update={"summary": "checkout: 50% #down;\n```\n%% done"})
    markdown = render_postmortem("INC-1", hostile, [], POLICY)
    assert markdown.startswith("# Post-mortem: INC-1, checkout: 50% #down; ``` %% done\n")
    title = gantt_of(markdown).splitlines()[1]
    # Mermaid shows each #NN; as its character; the colon, semicolon, # and % never reach its grammar.
    assert title == "    title INC-1, checkout#58; 50#37; #35;down#59; ``` #37;#37; done (times in Europe/London)"
    assert [line for line in markdown.splitlines() if line.startswith("```")] == ["```mermaid", "```"]


def test_elapsed_reads_as_people_say_it():
    assert [elapsed(timedelta(seconds=s)) for s in (40, 660, 7500, 7200, 273600)] == [
        "40 s",
        "11 min",
        "2 h 5 min",
        "2 h",
        "3 d 4 h",
    ]


def test_a_related_deployment_names_itself():
    running = RelatedDeployment(
        id="deploy-1", kind="deployment", version="v1.2.0", services=["market-svc"], running=True, started_at=DECLARED
    )
    assert running.describe() == "deploy-1 (deployment v1.2.0 of market-svc, running)"
    done = running.model_copy(update={"running": False, "stage": "completed", "kind": "hotfix"})
    assert done.describe() == "deploy-1 (hotfix v1.2.0 of market-svc, finished (completed))"
