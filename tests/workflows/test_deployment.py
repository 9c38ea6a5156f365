"""Standard and hotfix deployments on the real dev server, against the sandbox, run by the worker.

Each test deploys its own version, so ECS and the deployment log tell its story apart.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import timedelta

import pytest

from activities.records import RecordStore
from runbook.status import HandlerOutcome, State
from starter.cli import UsageError
from starter.commands import deployment_request, launch_deployment
from tests.conftest import keep_history, temporal_binary
from tests.support import reach, status, until
from tests.workflows.deployments import (
    SKIPPING_QUEUE,
    VERSIONS,
    approve,
    check,
    launch,
    result,
    slack_texts,
)
from worker import running_worker
from workflows.deployment import StandardDeployment


async def test_the_happy_path_from_prerequisites_to_the_deployment_log(client, e2e_stack, aws):
    services = ["api-gateway", "market-svc"]
    handle = await launch(client, e2e_stack, services, version="v5.0.0", checklist=True)
    await reach(handle, "approval")
    assert e2e_stack.running("staging", "market-svc").version == "v5.0.0"
    assert e2e_stack.running("production", "market-svc").version != "v5.0.0"
    early = await check(handle, "user-can-log-in")
    assert not early.accepted and "the checklist is not open (it opens after verify_production)" in early.reason
    assert (await approve(handle)).accepted
    # After production's automated checks, the deployment waits for the runbook's key user flows.
    waiting = await reach(handle, "checklist")
    items = e2e_stack.config.verification.checklist
    assert waiting.details["pending"] == items
    shown = await asyncio.to_thread(e2e_stack.cli, "status", handle.id)
    assert "step: checklist" in shown.stdout
    assert all(f"pending  {item}" in shown.stdout for item in items), shown.stdout
    # As a user ticks it: `runbook check` on the deployment's ID; the UI's signal and the update do the same.
    ticked = await asyncio.to_thread(e2e_stack.cli, "check", handle.id, items[0], "--as", "carol")
    assert ticked.returncode == 0 and ticked.stdout.strip() == f"accepted: {items[0]}: passed", ticked.stderr
    for item in items[1:]:
        assert (await check(handle, item)).accepted
    outcome = await result(handle)
    await keep_history(handle, "standard_deployment")
    await keep_history(client.get_workflow_handle(f"{handle.id}-verify-production"), "verification")
    assert outcome.state == State.COMPLETED, outcome.reasons
    assert {e2e_stack.running("production", s).version for s in services} == {"v5.0.0"}
    assert outcome.approval.approver == "bob"
    steps = {step.name: step.state.value for step in (await status(handle)).steps}
    assert (
        steps["prerequisites"]
        == steps["verify_staging"]
        == steps["monitor"]
        == steps["verify_production"]
        == steps["checklist"]
        == "passed"
    )
    assert steps["automatic_rollback"] == "pending"
    assert outcome.unconfirmed == []
    texts = slack_texts(e2e_stack)
    assert any(text.startswith(f":clipboard: v5.0.0 is live in production: verify the key user flows ({handle.id})")
               for text in texts)  # fmt: skip
    assert any(text.startswith(":rocket: DEPLOYMENT v5.0.0 to production") for text in texts)
    completion = next(text for text in texts if text.startswith(":white_check_mark: v5.0.0 deployed to production"))
    assert "- market-svc: " in completion and "→ v5.0.0" in completion and "Approved by: <@U0BOB000002>" in completion
    index = RecordStore(aws.s3, e2e_stack.config.aws.records_bucket).index("production")
    record = next(r for r in index.records if r.id == handle.id)
    assert (record.state, record.approver, record.verification_passed) == ("COMPLETED", "bob", True)
    assert {c.after_version for c in record.changes} == {"v5.0.0"}


async def test_self_approval_and_strangers_are_refused_and_the_gate_keeps_waiting(client, e2e_stack):
    handle = await launch(client, e2e_stack, ["auth-svc"])
    early = await approve(handle)
    assert not early.accepted and "not at the approval gate yet" in early.reason
    await reach(handle, "approval")
    # Names are people, whatever their case: "ALICE" is the alice who started it.
    refused = [await approve(handle, "ALICE"), await approve(handle, "dana"), await approve(handle, "mallory")]
    assert [o.accepted for o in refused] == [False, False, False]
    assert "alice started this deployment and cannot approve it" in refused[0].reason
    assert "'dana' is not an approver; approvers: alice, bob, carol" in refused[1].reason
    assert refused[2].reason.startswith("unknown person 'mallory'; [people] has ")
    current = await status(handle)
    assert current.state == State.RUNNING and current.step == "approval"
    assert len(current.refusals) == 4
    reject = await handle.execute_update(
        "reject", {"approver": "carol", "reason": "checkout slow on staging"}, result_type=HandlerOutcome
    )
    assert reject.accepted
    outcome = await result(handle)
    assert outcome.state == State.REJECTED
    assert outcome.reasons == ["rejected by carol: checkout slow on staging"]
    assert outcome.approval.verified == "unverified"


async def test_an_approval_sent_as_the_ui_sends_it(client, e2e_stack, aws):
    handle = await launch(client, e2e_stack, ["notification-svc"])
    await reach(handle, "approval")
    for payload in ("null", '{"approver": 42}', '{"approver": "carol", "comment": "ok from the UI"}'):
        subprocess.run(
            [temporal_binary(), "workflow", "signal", "--address", e2e_stack.config.temporal.address,
             "--workflow-id", handle.id, "--name", "approve", "--input", payload],
            check=True, capture_output=True,
        )  # fmt: skip
    outcome = await result(handle)
    assert outcome.state == State.COMPLETED and outcome.approval.approver == "carol"
    refusals = (await status(handle)).refusals
    assert [r.reason for r in refusals] == [
        'expected a JSON object like {"approver": ...}, got NoneType',
        "approver: Input should be a valid string",
    ]


async def test_the_gate_expires_after_its_timeout_with_production_untouched(
    skipping_env, e2e_stack, aws, healthy_fleet
):
    config = e2e_stack.config
    async with running_worker(skipping_env.client, config, SKIPPING_QUEUE) as worker:
        # Reminders every 8 hours keep the test short; the 24-hour default timeout is the one tested.
        request = deployment_request(config, "production", "v5.99.0", ["payment-svc"], "alice").model_copy(
            update={"approval_reminder_every": timedelta(hours=8)}
        )
        handle = await skipping_env.client.start_workflow(
            StandardDeployment.run, request, id=f"deploy-expiry-{uuid.uuid4()}", task_queue=worker.task_queue
        )
        await reach(handle, "approval")
        # Nobody approves: the virtual clock runs on to the deadline.
        await skipping_env.fast_forward(handle)
        outcome = await result(handle)
    assert outcome.state == State.EXPIRED
    assert outcome.reasons == ["no approval within 1 day, 0:00:00; production untouched"]
    assert e2e_stack.running("production", "payment-svc").version != "v5.99.0"
    # The request at the gate, then a reminder every 8 hours nobody approved (at 8 h and 16 h), each
    # with Approve and Reject buttons; at the 24-hour deadline the buttons give way to the outcome.
    asked = f"v5.99.0 to production waits for approval ({handle.id})"
    assert sum(asked in text for text in slack_texts(e2e_stack)) == 3
    settled = [
        call["body"]["text"]
        for call in e2e_stack.calls("slack")
        if call["path"].endswith("chat.update") and asked in call["body"]["text"]
    ]
    assert len(settled) == 3 and all(text.endswith("\n\n*No approval within 1d*") for text in settled), settled


async def test_a_bad_version_is_rolled_back_automatically(client, e2e_stack, aws):
    before = e2e_stack.running("staging", "market-svc").version
    # Until it is rolled back, the bad version answers 5xx; healthy_fleet waits for its figures to
    # leave CloudWatch's window, or the next staging verification would fail on them.
    e2e_stack.taint("staging", "market-svc")
    handle = await launch(client, e2e_stack, ["market-svc"], version="v5.50.0-bad")
    outcome = await result(handle)
    await keep_history(client.get_workflow_handle(f"{handle.id}-rollback-staging"), "rollback")
    assert outcome.state == State.ROLLED_BACK
    assert "rollout FAILED" in outcome.reasons[0]
    assert e2e_stack.running("staging", "market-svc").version == before
    assert any(
        text.startswith(":rewind: v5.50.0-bad to production rolled back automatically")
        for text in slack_texts(e2e_stack)
    )
    steps = {step.name: step.state.value for step in (await status(handle)).steps}
    assert (steps["deploy_staging"], steps["automatic_rollback"], steps["approval"]) == ("failed", "passed", "pending")


async def test_the_automatic_rollback_restores_the_revision_the_deployment_replaced(client, e2e_stack, aws):
    """Not the family's previous revision by number: here one was registered after the running one
    and never deployed, so "the one before the bad one" would be the wrong revision."""
    before = e2e_stack.running("staging", "notification-svc")
    family = aws.ecs.describe_task_definition(taskDefinition=before.task_definition)["taskDefinition"]["family"]
    never_deployed = aws.ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": "notification-svc", "image": "skillancer/notification-svc:v0.0.1-never-deployed", "memory": 512}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    handle = await launch(client, e2e_stack, ["notification-svc"], version="v5.60.0-bad")
    outcome = await result(handle)
    assert outcome.state == State.ROLLED_BACK and "rollout FAILED" in outcome.reasons[0]
    after = e2e_stack.running("staging", "notification-svc")
    assert after.task_definition != never_deployed
    assert (after.task_definition, after.version) == (before.task_definition, before.version)


async def test_a_second_deployment_to_production_is_refused_naming_the_first(client, e2e_stack):
    first = await launch(client, e2e_stack, ["api-gateway"])
    with pytest.raises(UsageError, match=f"production is being changed by {first.id} \\(deployment\\)"):
        await launch(client, e2e_stack, ["market-svc"])
    await first.cancel()
    assert (await result(first)).state in (State.CANCELLED, State.ROLLED_BACK)


async def test_cancelling_after_production_changed_rolls_it_back(client, e2e_stack, aws):
    before = e2e_stack.running("production", "notification-svc").version
    handle = await launch(client, e2e_stack, ["notification-svc"])
    await reach(handle, "approval")
    await approve(handle)
    await reach(handle, "monitor")
    await handle.cancel()
    outcome = await result(handle)
    assert outcome.state == State.ROLLED_BACK
    assert outcome.reasons == ["cancelled"]
    assert e2e_stack.running("production", "notification-svc").version == before


async def test_a_manual_rollback_preempts_a_deployment_in_flight(client, e2e_stack):
    handle = await launch(client, e2e_stack, ["market-svc"])
    await reach(handle, "approval")
    done = e2e_stack.cli("rollback", "-y", "production", "payment-svc", "v1.0.0", "--reason", "checkout down")
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = await result(handle)
    assert outcome.state == State.CANCELLED
    assert outcome.reasons[0].startswith("pre-empted by rollback-production-") and outcome.reasons[0].endswith(
        ": checkout down"
    )


async def test_a_hotfix_skips_staging_only_when_staging_verified_it(client, e2e_stack, aws):
    version = next(VERSIONS)
    refused = await launch(
        client, e2e_stack, ["payment-svc"], version=version, kind="hotfix", skip_staging=True, incident="INC-1"
    )
    assert (await result(refused)).state == State.REJECTED
    staging_only = deployment_request(e2e_stack.config, "staging", version, ["payment-svc"], "alice")
    assert (
        await result(await launch_deployment(client, e2e_stack.config, "deployment", staging_only))
    ).state == State.COMPLETED

    handle = await launch(
        client,
        e2e_stack,
        ["payment-svc"],
        version=version,
        kind="hotfix",
        skip_staging=True,
        incident="INC-20261126-0001",
    )
    assert (await approve(handle)).accepted  # "approve immediately": before the gate is reached
    outcome = await result(handle)
    await keep_history(handle, "hotfix_deployment")
    assert outcome.state == State.COMPLETED, outcome.reasons
    steps = {step.name: step.state.value for step in (await status(handle)).steps}
    assert steps["hotfix_ready"] == "passed" and steps["deploy_staging"] == "skipped"
    assert e2e_stack.running("production", "payment-svc").version == version
    index = RecordStore(aws.s3, e2e_stack.config.aws.records_bucket).index("production")
    assert next(r for r in index.records if r.id == handle.id).incident == "INC-20261126-0001"


async def test_a_hotfix_without_skip_goes_through_staging(client, e2e_stack, aws):
    version = next(VERSIONS)
    handle = await launch(client, e2e_stack, ["api-gateway"], version=version, kind="hotfix")
    assert (await approve(handle, "carol")).accepted
    outcome = await result(handle)
    assert outcome.state == State.COMPLETED, outcome.reasons
    assert (
        e2e_stack.running("staging", "api-gateway").version
        == e2e_stack.running("production", "api-gateway").version
        == version
    )


async def test_flows_nobody_confirmed_by_the_deadline_complete_the_deployment_and_are_named(
    skipping_env, e2e_stack, aws, healthy_fleet
):
    config = e2e_stack.config
    async with running_worker(skipping_env.client, config, SKIPPING_QUEUE) as worker:
        version = next(VERSIONS)
        request = deployment_request(config, "production", version, ["market-svc"], "alice")
        handle = await skipping_env.client.start_workflow(
            StandardDeployment.run, request, id=f"deploy-checklist-{uuid.uuid4()}", task_queue=worker.task_queue
        )
        await reach(handle, "approval")
        assert (await approve(handle)).accepted
        await reach(handle, "checklist")
        assert (await check(handle, "user-can-log-in")).accepted
        # Nobody ticks the other four: the virtual clock runs on through the reminders to the 2-hour deadline.
        await skipping_env.fast_forward(handle)
        outcome = await result(handle)
        current = await status(handle)
    unconfirmed = [item for item in config.verification.checklist if item != "user-can-log-in"]
    assert outcome.state == State.COMPLETED, outcome.reasons
    assert outcome.unconfirmed == unconfirmed
    assert e2e_stack.running("production", "market-svc").version == version
    # The deployment log says so too: completed, with the flows nobody confirmed.
    index = RecordStore(aws.s3, config.aws.records_bucket).index("production")
    logged = next(record for record in index.records if record.id == handle.id)
    assert (logged.state, logged.unconfirmed) == ("COMPLETED", unconfirmed)
    texts = [text for text in slack_texts(e2e_stack) if handle.id in text or f"{version} deployed" in text]
    # A reminder every 15 minutes of the two hours (the last one is the deadline itself).
    reminders = [text for text in texts if text.startswith(f":hourglass: {version} in production waits for the key")]
    assert len(reminders) == 7 and all(", ".join(unconfirmed) in text for text in reminders)
    assert any(f"nobody confirmed {', '.join(unconfirmed)} within 2h" in text for text in texts)
    completion = next(text for text in texts if text.startswith(f":white_check_mark: {version} deployed"))
    assert f"Key user flows nobody confirmed: {', '.join(unconfirmed)}" in completion
    checklist = next(step for step in current.steps if step.name == "checklist")
    assert checklist.state.value == "passed" and checklist.detail == f"nobody confirmed {', '.join(unconfirmed)}"


async def test_a_failed_flow_asks_a_human_who_decides_to_roll_back(client, e2e_stack, aws):
    before = e2e_stack.running("production", "payment-svc").version
    handle = await launch(client, e2e_stack, ["payment-svc"], checklist=True)
    await reach(handle, "approval")
    assert (await approve(handle)).accepted
    await reach(handle, "checklist")
    assert (await check(handle, "payments-process-correctly", passed=False, note="card declined")).accepted
    asked = await until(
        handle,
        lambda s: any(e.event == "alert" and "payments-process-correctly failed" in e.detail for e in s.timeline),
        "the question: roll back or continue",
    )
    assert asked.step == "checklist"
    assert any(
        "checklist payments-process-correctly failed (carol: card declined). Decide: `runbook decide" in text
        for text in slack_texts(e2e_stack)
    )
    decided = await handle.execute_update("decide", {"user": "bob", "action": "rollback"}, result_type=HandlerOutcome)
    assert decided.accepted
    outcome = await result(handle)
    assert outcome.state == State.ROLLED_BACK
    assert (
        outcome.reasons[0]
        == "bob decided to roll back: checklist payments-process-correctly failed (carol: card declined)"
    )
    assert e2e_stack.running("production", "payment-svc").version == before


async def test_a_failed_flow_a_human_lets_pass_completes_the_deployment_on_record(client, e2e_stack, aws):
    handle = await launch(client, e2e_stack, ["market-svc"], checklist=True)
    await reach(handle, "approval")
    assert (await approve(handle)).accepted
    await reach(handle, "checklist")
    items = e2e_stack.config.verification.checklist
    assert (await check(handle, "notifications-are-delivered", passed=False, note="one push late")).accepted
    await until(handle, lambda s: any(e.event == "alert" for e in s.timeline), "the question: roll back or continue")
    decided = await handle.execute_update(
        "decide", {"user": "bob", "action": "continue", "note": "known provider delay"}, result_type=HandlerOutcome
    )
    assert decided.accepted
    for item in items[:-1]:
        assert (await check(handle, item)).accepted
    outcome = await result(handle)
    assert outcome.state == State.COMPLETED, outcome.reasons
    current = await status(handle)
    checklist = next(step for step in current.steps if step.name == "checklist")
    assert checklist.detail == "notifications-are-delivered failed (carol: one push late)"
    assert any(e.actor == "bob" and e.event == "decided: continue" for e in current.timeline)
