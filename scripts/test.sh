#!/usr/bin/env bash
# The project's test command. Creates .venv first (scripts/bootstrap.sh).
#
# With no arguments, every step below runs, in order, each reported as it ends; the exit
# status is non-zero if any failed:
#   1. lint:        ruff check .  (src, tests, testbed, benchmarks, scripts)
#   2. types:       mypy --strict src tests  (settings in pyproject.toml's [tool.mypy])
#   3. sync code:   python scripts/unasync.py --check  (the sync code is generated from the
#                   async source)
#   4. unit:        the unit tests with a coverage report; fails below the floor
#                   (pyproject.toml: [tool.coverage.report] fail_under)
#   5. ansible:     scripts/ansible_sanity.sh: ansible-test sanity on the collection
#                   (ansible_collections/invokeai/models, offline) and ansible-lint on
#                   examples/ansible/
#   6. 6.14.2:      the integration suite (and the test bed's tests) against InvokeAI 6.14.2
#   7. 6.8.1:       the same against InvokeAI 6.8.1
#   8. ansible:     tests/ansible: the example playbooks run by ansible-playbook against
#                   InvokeAI 6.14.2 and 6.8.1 at once (one inventory, two servers)
# The integration tests provision each InvokeAI version into ~/.cache/invokeai-py-client on
# first use (minutes, ~7 GB each) and start a server. With INVOKE_AI_ENDPOINT set, the
# tests use that server instead, and steps 7 and 8 are skipped (7 would test the same
# server; 8 needs two servers of its own).
#
# With arguments: only pytest, with those arguments (e.g. `scripts/test.sh tests/unit`).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bash scripts/bootstrap.sh || exit 1

if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi

PRIMARY_VERSION=6.14.2
SECONDARY_VERSION=6.8.1

names=()
results=()
failed=0
interrupted=0
trap 'interrupted=1' INT  # Ctrl-C: the running step stops (pytest stops its server), then this

summary() {
    printf '\n=== test.sh summary\n' >&2
    for i in "${!names[@]}"; do
        printf '  %-40s %s\n' "${names[$i]}" "${results[$i]}" >&2
    done
}

step() {  # step NAME COMMAND...: run, time and record one step
    local name="$1"
    shift
    local start rc
    start=$(date +%s)
    printf '\n=== test.sh: %s: %s\n' "$name" "$*" >&2
    "$@"
    rc=$?
    local took=$(( $(date +%s) - start ))
    if [ "$rc" -eq 0 ]; then
        results+=("ok      ${took}s")
    else
        results+=("FAILED  ${took}s (exit $rc)")
        failed=1
    fi
    names+=("$name")
    printf '=== test.sh: %s: %s\n' "$name" "${results[${#results[@]}-1]}" >&2
    if [ "$interrupted" -ne 0 ]; then
        summary
        exit 130
    fi
}

skip() {  # skip NAME REASON
    names+=("$1")
    results+=("skipped ($2)")
    printf '\n=== test.sh: %s: skipped (%s)\n' "$1" "$2" >&2
}

step "ruff check ." .venv/bin/ruff check .
step "mypy --strict src tests" .venv/bin/mypy --strict src tests
# -- generated code: the sync modules must be what scripts/unasync.py makes of the async ones
step "unasync --check" .venv/bin/python scripts/unasync.py --check
# -- unit tests, with coverage; the floor is [tool.coverage.report] fail_under
step "pytest unit, coverage" \
    .venv/bin/python -m pytest tests/unit --cov --cov-report=term
step "ansible: sanity, lint" bash scripts/ansible_sanity.sh
step "pytest integration, InvokeAI $PRIMARY_VERSION" \
    env INVOKEAI_TESTBED_VERSION="$PRIMARY_VERSION" \
    .venv/bin/python -m pytest tests/integration tests/testbed
if [ -n "${INVOKE_AI_ENDPOINT:-}" ]; then
    skip "pytest integration, InvokeAI $SECONDARY_VERSION" \
        "INVOKE_AI_ENDPOINT=$INVOKE_AI_ENDPOINT is used instead"
else
    step "pytest integration, InvokeAI $SECONDARY_VERSION" \
        env INVOKEAI_TESTBED_VERSION="$SECONDARY_VERSION" \
        .venv/bin/python -m pytest tests/integration tests/testbed
fi
if [ -n "${INVOKE_AI_ENDPOINT:-}" ]; then
    skip "ansible: integration on $PRIMARY_VERSION + $SECONDARY_VERSION" \
        "it starts its own two servers; INVOKE_AI_ENDPOINT is set"
else
    step "ansible: integration on $PRIMARY_VERSION + $SECONDARY_VERSION" \
        .venv/bin/python -m pytest tests/ansible
fi

summary
exit "$failed"
