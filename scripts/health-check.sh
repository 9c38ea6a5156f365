#!/usr/bin/env bash
# The runbook's ./scripts/health-check.sh ENV [--full], now a thin wrapper of `runbook health-check`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runbook="$here/.venv/bin/runbook"
[ -x "$runbook" ] || runbook="runbook"
exec "$runbook" health-check "$@"
