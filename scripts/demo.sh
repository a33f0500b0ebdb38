#!/usr/bin/env bash
# Start a test-bed InvokeAI server on 127.0.0.1:9090 (--port N for another) with a few tiny
# models in .demo/models for the README's example, and keep it up until Ctrl-C.
# The first run installs InvokeAI (minutes, gigabytes); later runs start in ~12 s.
# (A CLI demo replaces this once the command-line tool exists.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=9090
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port="$2"; shift 2 ;;
        --port=*) port="${1#--port=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
bash scripts/bootstrap.sh
echo "demo: starting InvokeAI on http://127.0.0.1:$port (the first run installs it: minutes)" >&2
exec .venv/bin/python -m testbed up --port "$port" --demo-models .demo/models ${args[@]+"${args[@]}"}
