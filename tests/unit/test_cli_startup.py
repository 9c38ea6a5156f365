"""`runbook --help`, `runbook CMD --help` and a usage error answer from the parser alone: the
command implementations (temporalio, boto3, the workflows and activities) are imported only once
the arguments are parsed, and the modules under starter/ import one another without a cycle."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("temporalio", "boto3", "botocore", "workflows", "activities", "starter.commands", "starter.incident")

PROBE = """
import json, os, sys
import starter.cli
try:
    code = starter.cli.dispatch(json.loads(sys.argv[1]))
except SystemExit as done:
    code = done.code
loaded = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr, flush=True)
# As starter.cli.main leaves: the SDK's threads may abort an interpreter that finalizes.
os._exit(0)
"""


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--help"], 0), (["incident", "update", "--help"], 0), (["deploy"], 2), (["incident", "mitigate", "I", "x"], 2)],
)
def test_help_and_usage_errors_do_not_import_the_commands(argv, code):
    assert probe(argv, HEAVY) == {"code": code, "loaded": []}


def probe(argv: list[str], modules: tuple[str, ...], env: dict[str, str] | None = None) -> dict:
    """`runbook ARGV` in a fresh interpreter: its exit code, and which of `modules` it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def starter_imports() -> dict[str, set[str]]:
    """Each starter module → the starter modules it imports, anywhere in it (functions too)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "starter").glob("*.py")):
        found = graph.setdefault(f"starter.{path.stem}", set())
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("starter.")}
            elif isinstance(node, ast.ImportFrom) and node.module == "starter":
                found |= {f"starter.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("starter."):
                found.add(str(node.module))
            elif isinstance(node, ast.ImportFrom) and node.level:
                found |= {f"starter.{node.module or alias.name}" for alias in node.names}
    return graph


def test_starter_modules_import_one_another_without_a_cycle():
    graph = starter_imports()
    assert "starter.parser" in graph["starter.cli"]

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        for imported in sorted(graph.get(module, ())):
            found = cycle_from(imported, [*path, module])
            if found:
                return found
        return None

    for module in graph:
        cycle = cycle_from(module, [])
        assert cycle is None, "import cycle: " + " → ".join(cycle or [])


# An address nothing listens on: the command fails to connect (exit 3) after its imports are done.
NOWHERE = {"TEMPORAL_ADDRESS": "127.0.0.1:9"}
AWS_LIBRARIES = ("boto3", "botocore", "workflows")
# What `runbook status` and `runbook approve` do without, being one query or one update: about half
# of their time was these, and then most of the rest was pydantic, its import and the validators
# of the models and of the whole runbook.toml (bench/cli_speed.py holds them to a bare SDK script).
NOT_FOR_ONE_CALL = (
    *AWS_LIBRARIES,
    "pydantic",
    "pydantic_core",
    "temporalio.contrib.pydantic",
    "runbook.models",
    "runbook.config",
    "runbook.people",
    "runbook.proof",
    "activities",
    "sandbox",
    "starter.incident",
    "starter.aws_commands",
    "starter.sandbox_slack",
    "starter.sandbox_pagerduty",
    "httpx",
    # The requests of the procedures that other commands start.
    "runbook.deployment",
    "runbook.verification",
    "runbook.appendix",
    # Only a signed decision or an encrypted payload needs it.
    "cryptography",
    "sshsig",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--open"],
        ["deploy", "production", "--version", "v1.2.3"],
        ["incident", "ack", "INC-1"],
    ],
    ids=lambda argv: argv[0] if argv[0] != "incident" else "incident ack",
)
def test_commands_that_only_talk_to_temporal_do_not_import_boto3_or_the_workflows(argv):
    """About half of a command's start-up was boto3 and the workflow modules: only the commands that
    read AWS themselves pay for it."""
    assert probe(argv, AWS_LIBRARIES, NOWHERE)["loaded"] == []


@pytest.mark.parametrize(
    "argv",
    [["status", "deploy-production-v1"], ["approve", "deploy-production-v1", "--as", "bob"]],
    ids=lambda argv: argv[0],
)
def test_status_and_approve_import_only_what_one_call_needs(argv):
    done = probe(argv, NOT_FOR_ONE_CALL, NOWHERE)
    assert (done["code"], done["loaded"]) == (3, [])


def test_the_cli_knows_which_module_carries_out_each_command():
    from starter import asking, aws_commands, cli, commands, incident, sandbox_pagerduty, sandbox_slack

    for module in (asking, aws_commands, incident, sandbox_pagerduty, sandbox_slack):
        assert {cli.HANDLER_MODULES.get(command) for command in module.HANDLERS} == {module.__name__}
    unrouted = {command for command in commands.HANDLERS if command not in cli.HANDLER_MODULES}
    assert unrouted == set(commands.HANDLERS) - {("list", None)}


def test_importing_the_models_builds_none_of_their_validators():
    """Some 120 models; building each one's validator at import was most of the start-up beyond the
    SDK's own. A command builds those it uses, when it uses them (runbook/base.py)."""
    probe = (
        "import json, pydantic, runbook.config, runbook.models, runbook.incident, runbook.action_items\n"
        "def subclasses(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from subclasses(sub)\n"
        "built = sorted({f'{m.__module__}.{m.__qualname__}' for m in subclasses(pydantic.BaseModel)\n"
        "    if m.__module__.startswith('runbook.') and m.__pydantic_complete__})\n"
        "print(json.dumps(built))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    # [people] is a RootModel of a generic type, which pydantic builds as it is defined.
    assert json.loads(done.stdout) == ["runbook.people.People", "runbook.people.RootModel[dict[str, Person]]"]
