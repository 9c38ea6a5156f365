"""`python -m sandbox [--fleet-port N] [--aws-port N]`: run the sandbox until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from runbook.config import ConfigError, load_config
from sandbox.app import Sandbox


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = load_config().sandbox
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--fleet-port", type=int, default=defaults.fleet_port, help="fleet and fakes (HTTP)")
    parser.add_argument("--aws-port", type=int, default=defaults.aws_port, help="moto (AWS APIs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # Libraries (botocore, httpx) log per request at INFO; only the sandbox's own events are wanted.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("sandbox").setLevel(logging.INFO)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        sandbox = Sandbox(fleet_port=args.fleet_port, aws_port=args.aws_port).start()
    except OSError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 1
    stopping.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
