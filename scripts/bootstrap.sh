#!/usr/bin/env bash
# Create .venv (Python 3.11/3.12, else python3 >= 3.10) and install the project with its
# dev extras. Idempotent: pip runs again only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
stamp="$venv/.bootstrap-stamp"

python_ok() {  # $1: interpreter; true if it runs and is >= 3.10
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

if ! python_ok "$venv/bin/python"; then
    py=""
    for cand in python3.11 python3.12 python3; do
        if command -v "$cand" >/dev/null 2>&1 && python_ok "$cand"; then
            py="$cand"
            break
        fi
    done
    if [ -z "$py" ]; then
        echo "bootstrap: need python3.11, python3.12 or python3 >= 3.10 on PATH" >&2
        exit 1
    fi
    echo "bootstrap: creating $venv with $("$py" -c 'import sys; print(sys.executable)')" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
fi

want="$("$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "bootstrap: pip install -e '.[dev]'" >&2
    "$venv/bin/python" -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi
