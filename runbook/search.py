"""The search attributes of DESIGN.md: the UI lists "every open P1" or "what is deploying to production"."""

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

KIND = SearchAttributeKey.for_keyword("RunbookKind")
ENVIRONMENT = SearchAttributeKey.for_keyword("RunbookEnvironment")
VERSION = SearchAttributeKey.for_keyword("RunbookVersion")
STAGE = SearchAttributeKey.for_keyword("RunbookStage")
SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
SERVICES = SearchAttributeKey.for_keyword_list("RunbookServices")

ALL_KEYS = (KIND, ENVIRONMENT, VERSION, STAGE, SEVERITY, SERVICES)


def start_attributes(
    kind: str, environment: str = "", services: list[str] | None = None, version: str = ""
) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(KIND, kind), SearchAttributePair(STAGE, "started")]
    if environment:
        pairs.append(SearchAttributePair(ENVIRONMENT, environment))
    if services:
        pairs.append(SearchAttributePair(SERVICES, services))
    if version:
        pairs.append(SearchAttributePair(VERSION, version))
    return TypedSearchAttributes(pairs)


def procedures_query(kind: str = "", running: bool = False) -> str:
    """The visibility query for the runbook's procedures (each has a kind), of one kind or all, only
    the running ones or all. `kind` goes into the query as written: one of the CLI's closed list."""
    clauses = [f"{KIND.name} = '{kind}'" if kind else f"{KIND.name} IS NOT NULL"]
    if running:
        clauses.append("ExecutionStatus = 'Running'")
    return " AND ".join(clauses)


def server_flags() -> list[str]:
    """`temporal server start-dev` flags that register every attribute."""
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={'KeywordList' if key is SERVICES else 'Keyword'}"]
    return flags
