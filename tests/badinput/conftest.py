"""The tables of bad inputs and what became of each, printed at the end of the run.

Under pytest-xdist the controller loads only the conftests of tests/ and tests/test*, never this
one, and a worker's standard output is discarded; its standard error reaches the terminal. So a
worker prints its tables there when its session ends, and a run without xdist prints them in the
terminal summary.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

# title -> (column names, rows): filled by the tests of this folder, in the process that ran them.
TABLES: dict[str, tuple[tuple[str, ...], list[tuple[str, ...]]]] = {}

# A 1 MB payload or a 10,000-character summary must not turn the table into a wall of text.
CELL_WIDTH = 110


@pytest.fixture(scope="session")
def outcome_table() -> Callable[..., None]:
    """record(title, columns, *cells): one row of the table called `title`."""

    def record(title: str, columns: tuple[str, ...], *cells: str) -> None:
        TABLES.setdefault(title, (columns, []))[1].append(tuple(_cell(cell) for cell in cells))

    return record


def _cell(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= CELL_WIDTH else flat[: CELL_WIDTH - 1] + "…"


def render() -> list[str]:
    lines: list[str] = []
    for title, (columns, rows) in TABLES.items():
        widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
        lines += [
            "",
            f"{title} ({len(rows)} cases)",
            "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
            "  ".join("-" * w for w in widths),
        ]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in sorted(rows)
        ]
    return lines


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if _is_xdist_worker(config) or not TABLES:
        return
    terminalreporter.section("bad input: cases and outcomes")
    for line in render():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _is_xdist_worker(session.config) or not TABLES:
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        sys.stderr.write("\n".join(["", "=== bad input: cases and outcomes ===", *render(), ""]) + "\n")
        sys.stderr.flush()
