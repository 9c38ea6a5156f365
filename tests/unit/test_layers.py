"""The layer contract: workflows → activities (references only) → runbook is the only direction
imports go, and the sandbox is reached from the CLI, the benchmarks and the tests, never from the
code that runs against real systems. Every import counts: top-level, inside functions, inside
`workflow.unsafe.imports_passed_through()` blocks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("runbook", "activities", "workflows", "starter", "sandbox", "bench", "worker.py")

# layer → the packages it must not import
LAYERED = {
    "runbook": ("workflows", "activities", "starter", "sandbox"),
    "activities": ("workflows", "starter", "sandbox"),
    "workflows": ("starter", "sandbox"),
}
# The only layers that may import the sandbox (besides itself): a stand-in for real systems must
# never be what production code talks to.
SANDBOX_USERS = ("starter", "bench", "tests", "sandbox")


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import anywhere in the module. Relative imports
    stay inside their own package, so they cannot cross a layer."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def crossed_rule(layer: str, package: str) -> str | None:
    if package in LAYERED.get(layer, ()):
        return f"{layer}/ must not import {', '.join(LAYERED[layer])}"
    if package == "sandbox" and layer not in SANDBOX_USERS:
        return f"only {', '.join(SANDBOX_USERS[:-1])} import sandbox"
    return None


def layer_violations(root: Path) -> list[str]:
    """One line per import that crosses the contract: file:line, what it imports, the rule."""
    violations = []
    for name in SCANNED:
        top = root / name
        files = sorted(top.rglob("*.py")) if top.is_dir() else [top] if top.exists() else []
        for path in files:
            layer = path.relative_to(root).parts[0].removesuffix(".py")
            for line, package in imported_packages(ast.parse(path.read_text(), filename=str(path))):
                rule = crossed_rule(layer, package)
                if rule:
                    violations.append(f"{path.relative_to(root)}:{line}: imports {package} ({rule})")
    return violations


def test_every_import_follows_the_layer_contract():
    violations = layer_violations(ROOT)
    assert not violations, "imports crossing the layer contract:\n" + "\n".join(violations)


def test_the_checker_finds_imports_wherever_they_hide(tmp_path):
    sources = {
        "runbook/models.py": "def late():\n    from workflows.lock import EnvironmentLock\n",
        "activities/lock.py": (
            "from temporalio import workflow\n\n"
            "with workflow.unsafe.imports_passed_through():\n"
            "    import starter.cli\n"
        ),
        "workflows/deployment.py": "import activities.ecs\nimport sandbox.fleet\n",
        "worker.py": "from sandbox import Sandbox\n",
        "starter/stack.py": "from sandbox.app import Sandbox\nfrom . import cli\n",
        "bench/load.py": "import sandbox\nimport workflows.incident\n",
    }
    for name, text in sources.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert layer_violations(tmp_path) == [
        "runbook/models.py:2: imports workflows (runbook/ must not import workflows, activities, starter, sandbox)",
        "activities/lock.py:4: imports starter (activities/ must not import workflows, starter, sandbox)",
        "workflows/deployment.py:2: imports sandbox (workflows/ must not import starter, sandbox)",
        "worker.py:1: imports sandbox (only starter, bench, tests import sandbox)",
    ]


def activity_classes_used(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every activity class a module imports: a class whose methods are
    activities, to be run by a worker, not called by the CLI."""
    return [
        (node.lineno, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("activities")
        for alias in node.names
        if alias.name.endswith("Activities")
    ]


def test_the_cli_calls_plain_functions_never_an_activity_method():
    # A heartbeat or activity.info() inside one would fail outside a worker.
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted((ROOT / "starter").rglob("*.py"))
        for line, name in activity_classes_used(ast.parse(path.read_text()))
    ]
    assert found == []
    assert activity_classes_used(ast.parse("def f():\n    from activities.ecs import EcsActivities\n")) == [
        (2, "EcsActivities")
    ]
