"""Least privilege: README's IAM table lists every AWS action the code calls (so a new call
cannot ship unlisted), and no code hands a command line to a shell."""

import re

import boto3

from tests.support import PROJECT

# IAM action prefixes are the client names here (CloudWatch signs as "monitoring" but IAM says "cloudwatch").
# A client is an activity's attribute (self._ecs) or a plain function's parameter (ecs).
CLIENTS = {"ecs": "ecs", "cloudwatch": "cloudwatch", "logs": "logs", "s3": "s3"}
CALL = re.compile(r"(?:self\._|\b)(ecs|cloudwatch|logs|s3)\.(?:get_paginator\(\"(\w+)\"\)|(\w+)\()")
# Client helpers that are not API operations.
NOT_OPERATIONS = {"get_paginator", "exceptions"}
# API operations that IAM grants under another action's name.
IAM_ACTION = {"s3:ListObjectsV2": "s3:ListBucket"}


def actions_called() -> set[str]:
    actions = set()
    clients = {attribute: boto3.client(service, region_name="us-east-1") for attribute, service in CLIENTS.items()}
    for source in (PROJECT / "activities").glob("*.py"):
        for attribute, paginated, method in CALL.findall(source.read_text()):
            name = paginated or method
            if name in NOT_OPERATIONS:
                continue
            action = f"{CLIENTS[attribute]}:{clients[attribute].meta.method_to_api_mapping[name]}"
            actions.add(IAM_ACTION.get(action, action))
    return actions


def test_every_aws_action_the_activities_call_is_in_the_readme():
    listed = set(re.findall(r"`((?:ecs|cloudwatch|logs|s3):\w+)`", (PROJECT / "README.md").read_text()))
    called = actions_called()
    assert called, "the scan found no AWS calls: the pattern no longer matches the code"
    assert called <= listed, f"missing from README's IAM table: {sorted(called - listed)}"
    assert listed == called


def test_no_code_hands_a_command_line_to_a_shell():
    shell = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|create_subprocess_shell\(")
    sources = [
        path
        for folder in ("runbook", "activities", "workflows", "starter", "sandbox", "bench")
        for path in (PROJECT / folder).glob("*.py")
    ]
    sources.append(PROJECT / "worker.py")
    assert len(sources) > 40
    assert [path.name for path in sources if shell.search(path.read_text())] == []
