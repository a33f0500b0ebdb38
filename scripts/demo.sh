#!/usr/bin/env bash
# Start a test-bed InvokeAI server and keep it up until Ctrl-C (a CLI demo comes later).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m testbed up "$@"
