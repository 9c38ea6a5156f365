"""`make demo`: the main job on the local stack, as a user would run it."""

from __future__ import annotations

import subprocess
import sys

from runbook.config import load_config


def runbook(*args: str) -> int:
    print(f"\n$ runbook {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "starter", *args])


def main() -> int:
    config = load_config()
    codes = [runbook("verify", environment, "--full") for environment in config.environments]
    print(f"\nTemporal UI: {config.temporal.ui_url} (every verification, its steps and timeline)")
    print("Try: runbook sandbox fault staging market-svc 5xx && runbook verify staging --full")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
