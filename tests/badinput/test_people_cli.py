"""Whoever acts is a person: `--as`, RUNBOOK_USER and the login name name someone in [people], or
the command is refused (exit 2, one line naming the value and who is known) before it reaches
anything. Names are matched ignoring case and nothing else, so `RUNBOOK_USER=Alice` is alice, and
four eyes cannot be had by spelling one person two ways."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from runbook.temporal import connect
from tests.conftest import stack_config_text, stack_environment
from tests.support import cli_forked, free_port, procedure_status, wait_for

# Every command that takes --as, with what it needs besides. Nothing listens on the Temporal
# address of their runbook.toml: one that went past the check would exit 3, not 2.
COMMANDS = {
    "deploy": ["deploy", "production", "--version", "v1.2.0"],
    "hotfix": ["hotfix", "production", "--version", "v1.2.1", "--services", "market-svc"],
    "verify": ["verify", "staging"],
    "check": ["check", "verify-staging-1", "user-can-log-in"],
    "approve": ["approve", "deploy-production-1"],
    "reject": ["reject", "deploy-production-1", "--reason", "not today"],
    "decide": ["decide", "deploy-production-1", "rollback"],
    "done": ["done", "INC-1-item-1", "--note", "PR 12"],
    "rollback": ["rollback", "-y", "staging", "market-svc", "--reason", "5xx"],
    "redeploy": ["redeploy", "staging", "market-svc", "--reason", "stuck"],
    "incident declare": ["incident", "declare", "--severity", "P3", "--summary", "search slow"],
    "incident ack": ["incident", "ack", "INC-1"],
    "incident update": ["incident", "update", "INC-1", "--status", "Monitoring", "--action", "watching"],
    "incident mitigate": ["incident", "mitigate", "INC-1", "rate_limit"],
    "incident resolve": ["incident", "resolve", "INC-1", "--resolution", "r", "--root-cause", "c"],
    "incident severity": ["incident", "severity", "INC-1", "P2"],
    "sandbox pagerduty ack": ["sandbox", "pagerduty", "ack", "INC-1"],
}
KNOWN = "[people] has tester, alice, bob, carol"


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory) -> dict[str, str]:
    """The environment of a CLI whose Temporal, AWS and fleet nobody serves."""
    path = tmp_path_factory.mktemp("people-cli") / "runbook.toml"
    path.write_text(stack_config_text("127.0.0.1:9", "people-cli", free_port(), free_port()))
    return stack_environment(path)


@pytest.fixture(scope="module")
def refused(nowhere) -> dict[str, dict]:
    """Each command as mallory (--as) and as nobody (RUNBOOK_USER), run side by side."""
    cases = {f"{name} --as mallory": ([*argv, "--as", "mallory"], {}) for name, argv in COMMANDS.items()}
    cases |= {f"{name}, RUNBOOK_USER=nobody": (argv, {"RUNBOOK_USER": "nobody"}) for name, argv in COMMANDS.items()}
    results = cli_forked(nowhere, [{"argv": argv, "env": env} for argv, env in cases.values()])
    return dict(zip(cases, results, strict=True))


@pytest.mark.parametrize(
    ("case", "who"),
    [(f"{name} --as mallory", "mallory") for name in COMMANDS]
    + [(f"{name}, RUNBOOK_USER=nobody", "nobody") for name in COMMANDS],
)
def test_someone_who_is_no_person_is_refused_before_anything_is_reached(refused, case, who):
    result = refused[case]
    lines = result["stderr"].strip().splitlines()
    assert (result["returncode"], result["stdout"]) == (2, ""), result
    assert len(lines) == 1 and f"unknown person {who!r}" in lines[0] and KNOWN in lines[0], lines


def test_a_name_differing_only_in_case_is_the_person_so_they_cannot_approve_their_own(e2e_stack, healthy_fleet):
    """Alice starts a hotfix as RUNBOOK_USER=Alice: it is alice's, and alice cannot approve it."""
    version = f"v8.1.{uuid.uuid4().int % 100000}"
    stack = e2e_stack
    as_alice = dataclasses.replace(stack, env={**stack.env, "RUNBOOK_USER": "Alice"})
    started = as_alice.cli("hotfix", "production", "--version", version, "--services", "notification-svc")
    assert started.returncode == 0, started.stderr
    hotfix_id = started.stdout.splitlines()[0]
    try:
        assert procedure_status(stack, hotfix_id).requested_by == "alice"

        own = stack.cli("approve", hotfix_id, "--as", "alice")
        assert own.returncode == 2
        assert "alice started this deployment and cannot approve it" in own.stderr
        refusals = [refusal.reason for refusal in procedure_status(stack, hotfix_id).refusals]
        assert any("alice started this deployment" in reason for reason in refusals), refusals
        assert procedure_status(stack, hotfix_id).details.get("approval") is None
    finally:
        ended = stack.cli("reject", hotfix_id, "--as", "bob", "--reason", "a test of four eyes")
        if ended.returncode != 0:
            asyncio.run(_cancel(stack, hotfix_id))
        wait_for(lambda: procedure_status(stack, hotfix_id).state.value != "RUNNING", "the hotfix's end", 120)


async def _cancel(stack, workflow_id: str) -> None:
    await (await connect(stack.config)).get_workflow_handle(workflow_id).cancel()
