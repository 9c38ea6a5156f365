#!/usr/bin/env bash
# The runbook's ./scripts/rollback.sh [-y] ENV SERVICE|all [VERSION], a thin wrapper of `runbook rollback`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
runbook="$here/.venv/bin/runbook"
[ -x "$runbook" ] || runbook="$(command -v runbook)" || { echo "runbook is not installed: run make install" >&2; exit 3; }
exec "$runbook" rollback "$@"
