#!/usr/bin/env bash
# Run the whole suite (unit + integration). The integration tests provision InvokeAI into
# ~/.cache/invokeai-py-client on first use (minutes, ~7 GB) and start a server, unless
# INVOKE_AI_ENDPOINT names one. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
