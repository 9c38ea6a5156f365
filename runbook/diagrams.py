"""The procedures as Mermaid flowcharts, for README: the nodes are the workflows' own step lists, in
order, so a step added, renamed or moved shows in the diagram (and README's check fails until it is
regenerated with `make diagrams`). Pure: the step lists come in as arguments (runbook/ never imports
the workflows); starter/diagrams.py hands them over and rewrites README."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

# What each step does, in the reader's words; the step's own name is shown under it, as
# `runbook status` names it.
STEP_LABELS: dict[str, str] = {
    # Deployments
    "lock_environment": "Lock the environment: one change at a time",
    "prerequisites": "Prerequisites: CI green on main, PR approved, release notes",
    "hotfix_ready": "The fix is merged to main, CI green on it",
    "notify_team": "Tell #deployments",
    "verify_staging_health": "Staging's full health check",
    "deploy_staging": "Deploy to staging",
    "verify_staging": "Verify staging (a child Verification)",
    "approval": "Approval gate: approve or reject, reminders",
    "deploy_production": "Deploy to production",
    "monitor": "Monitor: the decision matrix applied (roll back, scale up, or ask)",
    "verify_production": "Verify production (a child Verification)",
    "checklist": "Key user flows: people tick each one",
    "automatic_rollback": "Automatic rollback of what changed (a child Rollback)",
    "record": "Deployment log (S3)",
    "notify_completion": "Tell #deployments how it ended",
    # Rollbacks
    "plan": "Plan: each service's revision to return to",
    "notify_started": "Tell #deployments it starts",
    "roll_back_services": "Roll back the services, each health-checked",
    "verify_rollback": "Verify Rollback: the environment's whole health check",
    "notify_finished": "Tell #deployments how it went",
    # Incidents
    "alert": "Initial alert in #incidents, on-call paged",
    "war_room": "War room in Slack, responders invited",
    "status_page": "Status page incident: components down or degraded",
    "assess": "Assess: health, ECS, the decision matrix, recent deployments",
    "mitigate": "Mitigate",
    "verify_resolution": "Verify the resolution: health and figures",
    "resolve": "Resolved message, status page and page resolved",
    "post_mortem": "Post-mortem (S3), action items followed up",
}

Shape = Literal["step", "decision", "terminal"]
_SHAPES: dict[Shape, tuple[str, str]] = {"step": ("[", "]"), "decision": ("{", "}"), "terminal": ("([", "])")}
_NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words Mermaid's flowchart grammar reads as keywords wherever an ID stands.
_RESERVED = {"end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click", "linkstyle", "default"}


@dataclass(frozen=True)
class Node:
    id: str
    lines: tuple[str, ...]
    shape: Shape = "step"
    group: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass
class Flowchart:
    """Nodes in the order they are declared (a procedure's steps first, in the workflow's order),
    groups (subgraphs) as id → title, the edges between them."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)

    def mermaid(self) -> str:
        known = {node.id for node in self.nodes} | set(self.groups)
        for node_id in known:
            _check_id(node_id)
        for edge in self.edges:
            for end_id in (edge.source, edge.target):
                if end_id not in known:
                    raise ValueError(f"edge {edge.source} → {edge.target}: no node or group named {end_id}")
        lines = ["flowchart TD"]
        open_group, drawn_groups = "", set()
        for node in self.nodes:
            if node.group != open_group:
                if open_group:
                    lines.append("    end")
                if node.group:
                    if node.group in drawn_groups:
                        raise ValueError(f"group {node.group}: its nodes must be declared together")
                    drawn_groups.add(node.group)
                    lines.append(f'    subgraph {node.group} ["{escape(self.groups[node.group])}"]')
                open_group = node.group
            opening, closing = _SHAPES[node.shape]
            indent = "        " if node.group else "    "
            text = "<br/>".join(escape(line) for line in node.lines)
            lines.append(f'{indent}{node.id}{opening}"{text}"{closing}')
        if open_group:
            lines.append("    end")
        for edge in self.edges:
            arrow = f' -->|"{escape(edge.label)}"| ' if edge.label else " --> "
            lines.append(f"    {edge.source}{arrow}{edge.target}")
        return "\n".join(lines)


def escape(text: str) -> str:
    """Text as a quoted flowchart label shows it, on one line: quotes, angle brackets, the bar and
    the entity sign as Mermaid's entity codes, so no label can end its quotes early, close an edge's
    label, open a tag or name an entity."""
    return _entity_codes(text, '#"<>|')


def gantt_text(text: str) -> str:
    """Text as a gantt's title or task shows it, on one line: the colon (which ends a task's name),
    the semicolon, the percent sign (a comment) and the entity sign as Mermaid's entity codes."""
    return _entity_codes(text, "#:;%")


def _entity_codes(text: str, characters: str) -> str:
    # Mermaid turns #NN; into placeholders before it parses anything and back into the character
    # in the picture, so an escaped character never reaches the grammar.
    named = {'"': "#quot;", "<": "#lt;", ">": "#gt;"}
    pattern = "[" + re.escape(characters) + "]"
    return re.sub(pattern, lambda m: named.get(m[0], f"#{ord(m[0])};"), " ".join(text.split()))


def _check_id(node_id: str) -> None:
    if not _NODE_ID.fullmatch(node_id) or node_id.lower() in _RESERVED:
        raise ValueError(f"{node_id!r} cannot be a Mermaid node ID: letters, digits and _, not a keyword")


# The procedures ----------------------------------------------------------------------------------


def standard_deployment(steps: Sequence[str], staging_steps: Sequence[str]) -> Flowchart:
    """StandardDeployment: staging, the approval gate, production, and the automatic rollback."""
    chart = _deployment(steps, staging_steps, start="runbook deploy ENV --version V")
    chart.edges.append(Edge(staging_steps[-1], "record", "staging only: done"))
    return chart


def hotfix_deployment(steps: Sequence[str], staging_steps: Sequence[str]) -> Flowchart:
    """HotfixDeployment: as a standard deployment, but staging may be skipped when this version
    passed verification there, and the approval may come at once."""
    chart = _deployment(steps, staging_steps, start="runbook hotfix production --version V --services S")
    after_check = steps[steps.index(staging_steps[0]) - 1]
    first_staging = staging_steps[0]
    chart.nodes.append(Node("skip_staging", ("--skip-staging?",), "decision"))
    chart.nodes.append(Node("not_verified", ("REJECTED: never verified on staging",), "terminal"))
    straight_on = chart.edges.index(Edge(after_check, first_staging))
    chart.edges[straight_on : straight_on + 1] = [
        Edge(after_check, "skip_staging"),
        Edge("skip_staging", first_staging, "no"),
        Edge("skip_staging", "approval", "yes, and it passed verification on staging"),
        Edge("skip_staging", "not_verified", "yes, but it never passed there"),
        Edge("not_verified", "record"),
    ]
    _relabel(chart, "approval", "Approval gate: may be given at once")
    return chart


def _deployment(steps: Sequence[str], staging_steps: Sequence[str], start: str) -> Flowchart:
    _require(steps, "deploy_staging", "approval", "deploy_production", "automatic_rollback", "record", *staging_steps)
    # From staging's deployment on, something has changed: a failure rolls it back.
    first_change = steps.index("deploy_staging")
    changed = steps[first_change : steps.index("automatic_rollback")]
    groups = {"checks": ("Nothing changed yet", steps[:first_change]), "changed": ("Something changed", changed)}
    chart = _steps_of(steps, groups=groups)
    spine = [step for step in steps if step != "automatic_rollback"]
    chart.nodes[:0] = [Node("start", (start,), "terminal")]
    chart.nodes += [
        Node("rejected", ("REJECTED: production untouched",), "terminal"),
        Node("expired", ("EXPIRED: no answer within approval_timeout (24 h), production untouched",), "terminal"),
        Node("vetoed", ("Database errors?",), "decision"),
        Node("unchanged", ("FAILED, or REJECTED when another change holds the lock: nothing changed",), "terminal"),
    ]
    chart.edges = [
        Edge("start", spine[0]),
        *_chain(spine, {("approval", "deploy_production"): "approved"}),
        Edge("approval", "rejected", "rejected"),
        Edge("approval", "expired", "no answer"),
        Edge("checks", "unchanged", "a check fails"),
        Edge("unchanged", "record"),
        Edge("rejected", "record"),
        Edge("expired", "record"),
        Edge("changed", "vetoed", "failed or cancelled"),
        Edge("vetoed", "automatic_rollback", "no"),
        Edge("vetoed", "record", "yes: not rolled back, investigate"),
        Edge("automatic_rollback", "record"),
    ]
    return chart


def rollback(steps: Sequence[str]) -> Flowchart:
    """Rollback: manual, an incident's, or a failed deployment's; it pre-empts a deployment in flight."""
    _require(steps, "lock_environment", "plan")
    chart = _steps_of(steps)
    chart.nodes[:0] = [
        Node("start", ("runbook rollback ENV SERVICE|all, an incident or a failed deployment",), "terminal")
    ]
    chart.nodes += [
        Node("refused", ("REJECTED: a change that is not a deployment holds the environment",), "terminal"),
        Node("not_planned", ("FAILED: a service with no revision to return to",), "terminal"),
        Node("finished", ("COMPLETED, or FAILED naming what is still unhealthy",), "terminal"),
    ]
    chart.edges = [
        Edge("start", steps[0]),
        *_chain(steps, {("lock_environment", "plan"): "taken, from a deployment in flight too"}),
        Edge("lock_environment", "refused", "held by a rollback or a redeploy"),
        Edge("plan", "not_planned", "a problem"),
        Edge(steps[-1], "finished"),
    ]
    return chart


def p1_incident(steps: Sequence[str], war_room_steps: Sequence[str]) -> Flowchart:
    """Incident at P1 (a war-room severity): the clock, escalation, the mitigation by cause,
    updates until resolved, the verified resolve and the post-mortem."""
    _require(steps, "alert", "assess", "mitigate", "verify_resolution", "resolve", *war_room_steps)
    chart = _steps_of(steps, groups={"war_room_severities": ("What P1 adds", list(war_room_steps))})
    _relabel(chart, "mitigate", "Mitigate: the rollback or the commander's choice")
    chart.nodes[:0] = [Node("start", ("runbook incident declare --severity P1",), "terminal")]
    chart.nodes += [
        Node("acknowledged", ("Acknowledged within respond_within?",), "decision"),
        Node("escalate", ("Escalate: the next person, in PagerDuty and the war room",)),
        Node("deployment_related", ("Deployment-related?",), "decision"),
        Node("commander_mitigates", ("The commander mitigates: scale up, rate limit or maintenance page",)),
        Node("updates", ("Update in the war room and on the status page every update_every (15 minutes)",)),
    ]
    chart.edges = [
        Edge("start", steps[0]),
        *_chain(steps[: steps.index("assess") + 1]),
        Edge(steps[0], "acknowledged"),
        Edge("acknowledged", "escalate", "no"),
        Edge("escalate", "acknowledged"),
        Edge("acknowledged", "deployment_related", "yes"),
        Edge("assess", "deployment_related"),
        Edge("deployment_related", "mitigate", "yes: roll production back, unless database errors"),
        Edge("deployment_related", "commander_mitigates", "no"),
        Edge("commander_mitigates", "mitigate"),
        Edge("war_room_severities", "updates"),
        Edge("updates", "updates", "until resolved"),
        Edge("mitigate", "verify_resolution", "runbook incident resolve"),
        Edge("verify_resolution", "updates", "not healthy: refused, stays open"),
        Edge("verify_resolution", "resolve", "verified, or --force with a reason"),
        *_chain(steps[steps.index("resolve") :]),
    ]
    return chart


def _steps_of(steps: Sequence[str], groups: Mapping[str, tuple[str, Sequence[str]]] | None = None) -> Flowchart:
    """A node per step, in order, labelled; a step in one of `groups` (id → title, steps) is drawn inside it."""
    group_of = {step: group for group, (_, members) in (groups or {}).items() for step in members}
    missing = [step for step in steps if step not in STEP_LABELS]
    if missing:
        raise ValueError(f"no label for step {', '.join(missing)}: add it to STEP_LABELS in runbook/diagrams.py")
    nodes = [Node(step, (STEP_LABELS[step], step), group=group_of.get(step, "")) for step in steps]
    return Flowchart(nodes=nodes, groups={group: title for group, (title, _) in (groups or {}).items()})


def _relabel(chart: Flowchart, step: str, label: str) -> None:
    """What a step does differently in this procedure than STEP_LABELS says in general."""
    chart.nodes = [replace(node, lines=(label, step)) if node.id == step else node for node in chart.nodes]


def _chain(steps: Sequence[str], labels: Mapping[tuple[str, str], str] | None = None) -> list[Edge]:
    pairs = zip(steps, steps[1:], strict=False)
    return [Edge(source, target, (labels or {}).get((source, target), "")) for source, target in pairs]


def _require(steps: Sequence[str], *names: str) -> None:
    """The branches below hang on these steps: a workflow that renamed one needs its diagram redrawn."""
    missing = [name for name in names if name not in steps]
    if missing:
        raise ValueError(f"the workflow has no step {', '.join(missing)}: update runbook/diagrams.py")


# README's generated blocks -------------------------------------------------------------------------

_BLOCK = re.compile(r"(<!-- diagram:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /diagram -->)", re.DOTALL)


def fenced(chart: str) -> str:
    return f"```mermaid\n{chart}\n```\n"


def blocks_in(text: str) -> dict[str, str]:
    """Each generated block's name and body (between its markers) in a Markdown text."""
    return {match["name"]: match["body"] for match in _BLOCK.finditer(text)}


def with_blocks(text: str, bodies: Mapping[str, str]) -> str:
    """The text with each named block's body replaced; a block the text lacks, or one it has that
    nothing generates, is an error rather than a silent gap."""
    found = set(blocks_in(text))
    if found != set(bodies):
        missing, unknown = sorted(set(bodies) - found), sorted(found - set(bodies))
        raise ValueError(f"diagram blocks missing: {missing or 'none'}; unknown: {unknown or 'none'}")
    return _BLOCK.sub(lambda m: m[1] + bodies[m["name"]] + m[4], text)


# Gantt charts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A bar: what, from when (the reader's local time, as the rest of the document gives it),
    for how long; tags as Mermaid knows them (done, crit, active)."""

    name: str
    start: datetime
    duration: timedelta
    tags: tuple[str, ...] = ()


def gantt(title: str, sections: Mapping[str, Sequence[Task]]) -> str:
    """A Mermaid gantt, to the second; the axis names the day too when the bars span more than one."""
    tasks = [task for section in sections.values() for task in section]
    days = {moment.date() for task in tasks for moment in (task.start, task.start + task.duration)}
    lines = [
        "gantt",
        f"    title {gantt_text(title)}",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        "    axisFormat " + ("%H:%M" if len(days) <= 1 else "%b %d %H:%M"),
    ]
    for section, section_tasks in sections.items():
        if not section_tasks:
            continue
        lines.append(f"    section {gantt_text(section)}")
        for task in section_tasks:
            seconds = max(0, round(task.duration.total_seconds()))
            data = [*task.tags, task.start.strftime("%Y-%m-%d %H:%M:%S"), f"{seconds}s"]
            lines.append(f"    {gantt_text(task.name)} :{', '.join(data)}")
    return "\n".join(lines)
