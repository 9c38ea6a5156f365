"""What the deployment tests share: a version each, and the calls a user makes on a deployment."""

from __future__ import annotations

import itertools
import uuid

from temporalio.client import Client, WorkflowHandle

from runbook.deployment import DeploymentResult
from runbook.status import HandlerOutcome
from starter.commands import deployment_request, launch_deployment

# From v5.1.0: the happy path deploys v5.0.0 itself, and a version production already runs would
# leave nothing changed (and nothing to roll back) for whichever test drew it next.
VERSIONS = (f"v5.{n}.0" for n in itertools.count(1))


# The time-skipping server's tests share one task queue: the environment's lock workflow, started
# there by the first of them, is served by each one's worker in turn.
SKIPPING_QUEUE = f"skipping-{uuid.uuid4()}"

# Most tests are about what comes before production's key user flows: they skip the checklist,
# on record, as `runbook deploy --no-checklist --reason TEXT` does.
NO_CHECKLIST = "the key user flows are the checklist tests' business"


async def launch(
    client: Client,
    stack,
    services: list[str],
    *,
    version: str | None = None,
    kind: str = "deployment",
    checklist: bool = False,
    **options,
) -> WorkflowHandle:
    request = deployment_request(
        stack.config,
        "production",
        version or next(VERSIONS),
        services,
        "alice",
        no_checklist_reason="" if checklist else NO_CHECKLIST,
        **options,
    )
    return await launch_deployment(client, stack.config, kind, request)


async def check(handle: WorkflowHandle, item: str, user: str = "carol", **fields) -> HandlerOutcome:
    return await handle.execute_update("check", {"item": item, "user": user, **fields}, result_type=HandlerOutcome)


async def approve(handle: WorkflowHandle, approver: str = "bob") -> HandlerOutcome:
    return await handle.execute_update(
        "approve", {"approver": approver, "comment": "staging looks good"}, result_type=HandlerOutcome
    )


async def result(handle: WorkflowHandle) -> DeploymentResult:
    return await handle.result()


def slack_texts(stack) -> list[str]:
    return [call["body"]["text"] for call in stack.calls("slack") if call["path"].endswith("chat.postMessage")]
