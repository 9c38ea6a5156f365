"""README's diagrams of the procedures, drawn from the workflows' own step lists (runbook/diagrams.py):
`python -m starter.diagrams --write` (`make diagrams`) rewrites README's generated blocks, `--check`
exits 1 naming the blocks that differ, so a step added to a workflow cannot go unseen."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runbook import diagrams
from workflows import deployment, incident, rollback

README = Path(__file__).resolve().parents[1] / "README.md"


def procedure_diagrams() -> dict[str, str]:
    """Each README block's name and its Mermaid flowchart, from the workflows' step lists."""
    # A hotfix's first check stands where a standard deployment's stands (DeploymentProcedure).
    standard, hotfix = deployment.StandardDeployment, deployment.HotfixDeployment
    hotfix_steps = [hotfix.first_check if step == standard.first_check else step for step in deployment.STEPS]
    charts = {
        "standard-deployment": diagrams.standard_deployment(deployment.STEPS, deployment.STAGING_STEPS),
        "hotfix-deployment": diagrams.hotfix_deployment(hotfix_steps, deployment.STAGING_STEPS),
        "rollback": diagrams.rollback(rollback.STEPS),
        "p1-incident": diagrams.p1_incident(incident.STEPS, incident.WAR_ROOM_STEPS),
    }
    return {name: diagrams.fenced(chart.mermaid()) for name, chart in charts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m starter.diagrams", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite README's diagram blocks")
    action.add_argument("--check", action="store_true", help="exit 1 if README's diagrams are out of date")
    arguments = parser.parse_args(argv)
    text = README.read_text()
    try:
        updated = diagrams.with_blocks(text, procedure_diagrams())
    except ValueError as error:
        print(f"README.md: {error}", file=sys.stderr)
        return 1
    if arguments.write:
        if updated != text:
            README.write_text(updated)
        print("README.md: diagrams " + ("rewritten" if updated != text else "already up to date"))
        return 0
    stale = [name for name, body in diagrams.blocks_in(text).items() if diagrams.blocks_in(updated)[name] != body]
    if stale:
        print(f"README.md: diagrams out of date: {', '.join(stale)}; run make diagrams", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
