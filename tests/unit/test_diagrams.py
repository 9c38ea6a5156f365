"""README's diagrams of the procedures: drawn from the workflows' own step lists, so they cannot
drift; and Mermaid text that no label can break."""

from __future__ import annotations

import re

import pytest

from runbook import diagrams
from runbook.diagrams import Edge, Flowchart, Node
from starter import diagrams as readme_diagrams
from workflows import deployment, incident, rollback

HOTFIX_STEPS = ["hotfix_ready" if step == "prerequisites" else step for step in deployment.STEPS]
PROCEDURES = {
    "standard-deployment": deployment.STEPS,
    "hotfix-deployment": HOTFIX_STEPS,
    "rollback": rollback.STEPS,
    "p1-incident": incident.STEPS,
}
NODE = re.compile(r"^\s+(\w+)(?:\[|\{|\(\[)\"(.*)\"(?:\]|\}|\]\))$")


def declared_nodes(block: str) -> list[tuple[str, str]]:
    """(ID, label) of each node a Mermaid flowchart declares, in order."""
    return [(m[1], m[2]) for line in block.splitlines() if (m := NODE.match(line))]


def test_readme_shows_exactly_the_diagrams_the_workflows_steps_draw():
    in_readme = diagrams.blocks_in(readme_diagrams.README.read_text())
    generated = readme_diagrams.procedure_diagrams()
    assert sorted(in_readme) == sorted(generated), "README's diagram blocks: run make diagrams"
    for name, block in generated.items():
        assert in_readme[name] == block, f"README's {name} diagram is out of date: run make diagrams"


@pytest.mark.parametrize("name", PROCEDURES)
def test_every_step_is_a_node_in_the_workflows_order_with_its_label(name):
    steps = PROCEDURES[name]
    nodes = declared_nodes(readme_diagrams.procedure_diagrams()[name])
    step_nodes = [(node_id, label) for node_id, label in nodes if node_id in steps]
    assert [node_id for node_id, _ in step_nodes] == list(steps)
    for step, label in step_nodes:
        assert label.endswith(f"<br/>{step}"), f"{step}'s box names the step as `runbook status` does"


def test_a_step_added_to_a_workflow_makes_the_check_fail(monkeypatch, capsys):
    assert readme_diagrams.main(["--check"]) == 0
    monkeypatch.setattr(rollback, "STEPS", [*rollback.STEPS[:2], "notify_team", *rollback.STEPS[2:]])
    assert readme_diagrams.main(["--check"]) == 1
    assert "rollback; run make diagrams" in capsys.readouterr().err


def test_a_step_without_words_for_it_is_named_rather_than_drawn_blank():
    with pytest.raises(ValueError, match="no label for step warm_caches: add it to STEP_LABELS"):
        diagrams.rollback([*rollback.STEPS, "warm_caches"])


def test_a_renamed_step_that_a_branch_hangs_on_is_named():
    renamed = ["approve" if step == "approval" else step for step in deployment.STEPS]
    with pytest.raises(ValueError, match="the workflow has no step approval"):
        diagrams.standard_deployment(renamed, deployment.STAGING_STEPS)


def test_write_fills_the_blocks_and_check_then_passes(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    empty = "".join(f"<!-- diagram:{name} -->\n<!-- /diagram -->\n" for name in PROCEDURES)
    readme.write_text("# Title\n\n" + empty + "\nAfter.\n")
    monkeypatch.setattr(readme_diagrams, "README", readme)
    assert readme_diagrams.main(["--check"]) == 1
    assert readme_diagrams.main(["--write"]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\n<!-- diagram:standard-deployment -->\n```mermaid\nflowchart TD\n")
    assert text.endswith("```\n<!-- /diagram -->\n\nAfter.\n")
    assert readme_diagrams.main(["--check"]) == 0


def test_a_block_missing_from_readme_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError, match=r"missing: \['rollback'\]"):
        diagrams.with_blocks("<!-- diagram:p1-incident -->\n<!-- /diagram -->\n", {"p1-incident": "", "rollback": ""})


def test_labels_are_escaped_so_no_text_can_break_out_of_its_quotes():
    assert diagrams.escape('say "no" <b>#1|2\nnow') == "say #quot;no#quot; #lt;b#gt;#35;1#124;2 now"
    chart = Flowchart(
        nodes=[Node("a", ('x"] --> evil["',)), Node("b", ("ok",))], edges=[Edge("a", "b", '"|> c')]
    ).mermaid()
    assert chart == (
        'flowchart TD\n    a["x#quot;] --#gt; evil[#quot;"]\n    b["ok"]\n    a -->|"#quot;#124;#gt; c"| b'
    )


@pytest.mark.parametrize("node_id", ["end", "End", "a-b", "2fast", "a b", ""])
def test_an_id_mermaid_would_misread_is_refused(node_id):
    with pytest.raises(ValueError, match="cannot be a Mermaid node ID"):
        Flowchart(nodes=[Node(node_id, ("x",))]).mermaid()


def test_an_edge_to_nowhere_is_refused():
    with pytest.raises(ValueError, match="no node or group named missing"):
        Flowchart(nodes=[Node("a", ("x",))], edges=[Edge("a", "missing")]).mermaid()


def test_the_hotfix_differs_where_the_runbook_says():
    hotfix = readme_diagrams.procedure_diagrams()["hotfix-deployment"]
    standard = readme_diagrams.procedure_diagrams()["standard-deployment"]
    assert "--skip-staging?" in hotfix and "--skip-staging?" not in standard
    assert "staging only: done" in standard and "staging only: done" not in hotfix
    assert "Approval gate: may be given at once<br/>approval" in hotfix


def test_what_p1_adds_is_drawn_as_one_group():
    block = readme_diagrams.procedure_diagrams()["p1-incident"]
    group = block.split('subgraph war_room_severities ["What P1 adds"]\n')[1].split("\n    end\n")[0]
    assert [node_id for node_id, _ in declared_nodes(group)] == list(incident.WAR_ROOM_STEPS)
