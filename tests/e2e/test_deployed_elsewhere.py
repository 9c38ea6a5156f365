"""A deploy made outside the runbook (GitHub Actions, the ECS console: a new task definition
revision and UpdateService, straight through the ECS API) makes a P1 deployment-related, and the
incident rolls production back past it."""

from __future__ import annotations

from tests.e2e.test_incident import declare, settled_mitigations
from tests.e2e.test_rollback import deploy
from tests.support import procedure_status, wait_for


def test_a_p1_after_a_deploy_made_straight_through_ecs_is_deployment_related_and_rolled_back(e2e_stack):
    aws, services = e2e_stack.aws, e2e_stack.config.services.names
    # Every service one revision past a good one, whatever earlier tests of the session left: the
    # runbook's P1 rolls back all of them.
    deploy(aws, e2e_stack, "production", services, "v1.1.0")
    deploy(aws, e2e_stack, "production", ["market-svc"], "v9.9.9")
    made = e2e_stack.running("production", "market-svc").task_definition

    incident_id = declare(e2e_stack, "--severity", "P1", "--summary", "search broken", "--services", "market-svc")
    assessment = wait_for(
        lambda: procedure_status(e2e_stack, incident_id).details["incident"]["assessment"], "the assessment"
    )
    (found,) = [d for d in assessment["related"] if d["task_definition"] == made]
    assert (found["source"], found["kind"], found["version"], found["services"]) == (
        "ecs",
        "ecs-deployment",
        "v9.9.9",
        ["market-svc"],
    )
    timeline = procedure_status(e2e_stack, incident_id).timeline
    (related,) = [entry.detail for entry in timeline if entry.event == "deployment-related"]
    assert f"{found['id']} (ecs-deployment v9.9.9 of market-svc, " in related and "found in ecs" in related

    acked = e2e_stack.cli("incident", "ack", incident_id)
    assert acked.returncode == 0, acked.stderr
    (rollback,) = wait_for(lambda: settled_mitigations(e2e_stack, incident_id, 1), "the rollback").details["incident"][
        "mitigations"
    ]
    assert (rollback["action"], rollback["state"]) == ("rollback", "done"), rollback
    assert "market-svc" in rollback["services"]
    assert e2e_stack.running("production", "market-svc").version == "v1.1.0"

    resolved = e2e_stack.cli(
        "incident", "resolve", incident_id, "--resolution", "rolled back", "--root-cause", "an untested deploy"
    )
    assert resolved.returncode == 0, resolved.stderr
