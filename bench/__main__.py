"""`python -m bench [--quick] [--only NAME[,NAME]] [--incidents N] [--burst N] [--cycles N] [--minutes M]
[--output PATH]`

Runs each benchmark in turn, prints every figure with its target and PASS or MISS, and writes
BENCHMARKS.md after a full run (or wherever --output says). The exit code is 0 even when a target
is missed: these are measurements, not tests; 1 means a benchmark could not be measured.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import approvals, cli_speed, health, load, mitigate, overhead, startup
from bench.report import BenchResult, load_average, markdown, now
from bench.stack import PROJECT

# The load benchmark last: it fits its opening phase into whatever time the budget has left.
BENCHES: dict[str, Callable[[argparse.Namespace], BenchResult]] = {
    "startup": lambda args: startup.run(args.quick),
    "health": lambda args: health.run(args.quick),
    "overhead": lambda args: overhead.run(args.quick),
    "mitigate": lambda args: mitigate.run(args.quick),
    "approvals": lambda args: approvals.run(args.quick),
    "cli_speed": lambda args: cli_speed.run(args.quick),
    "load": lambda args: load.run(args.quick, args.incidents, args.burst, args.cycles, args.deadline),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repetitions and 100 incidents: a check of the harness, not figures to keep",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHES)}); repeat or comma-separate",
    )
    parser.add_argument(
        "--incidents", type=int, help="open incidents in the load benchmark (default 1000; 100 with --quick)"
    )
    parser.add_argument(
        "--burst", type=int, help="of those, how many are declared at once for real (default 100; 20 with --quick)"
    )
    parser.add_argument(
        "--cycles",
        type=int,
        help="update intervals the load benchmark waits once every incident is open (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=14.0,
        help="the whole run's time budget, which bounds the wait for the load benchmark's burst to open (default 14)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the Markdown report here (default: BENCHMARKS.md after a full run, nothing otherwise)",
    )
    args = parser.parse_args(argv)
    only = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in only if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHES)}")
    args.only = only or list(BENCHES)
    if args.incidents is None:
        args.incidents = 100 if args.quick else 1000
    if args.burst is None:
        args.burst = 20 if args.quick else 100
    if args.cycles is None:
        args.cycles = 1 if args.quick else 3
    if args.incidents < 1 or args.cycles < 1:
        parser.error("--incidents and --cycles must be at least 1")
    full_run = not args.quick and args.only == list(BENCHES)
    if args.output is None and full_run:
        args.output = PROJECT / "BENCHMARKS.md"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, clock, load_before = now(), time.monotonic(), load_average()
    args.deadline = clock + args.minutes * 60
    print(f"bench: {', '.join(args.only)}{' (quick)' if args.quick else ''}; load average {load_before}", flush=True)
    results, failed = [], []
    for name in args.only:
        print(f"\n== {name} ==", flush=True)
        bench_started = time.monotonic()
        try:
            results.append(BENCHES[name](args))
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"  ({time.monotonic() - bench_started:.0f} s)", flush=True)
    minutes = (time.monotonic() - clock) / 60
    load_after = load_average()
    missed = [f"{r.name}: {f.name}" for r in results for f in r.figures if f.passed is False]
    print(
        f"\nbench: done in {minutes:.1f} min; load average {load_after}; {len(missed)} target(s) missed"
        + (f"; could not measure: {', '.join(failed)}" if failed else "")
    )
    if args.output and results:
        command = (
            "make bench"
            if args.output == PROJECT / "BENCHMARKS.md" and not args.quick and args.only == list(BENCHES)
            else "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
        )
        args.output.write_text(markdown(results, command, started, load_before, load_after, minutes, failed))
        print(f"bench: wrote {args.output.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
