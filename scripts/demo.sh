#!/usr/bin/env bash
# The main job, start to end, on a fresh machine: start a local test-bed InvokeAI, write
# tiny models, and drive invokeai-models through apply (progress bars), list, plan,
# export --lock and delete, then stop the server.
#   --serve     instead keep the server up on 127.0.0.1:9090 for the README's Python
#               examples, until Ctrl-C; it prints what to paste in another shell to use
#               invokeai-models on examples/models.yaml (export INVOKEAI_URL, DEMO_FILES)
#   --port N    listen on N (default: a free port; 9090 with --serve)
# The first run installs InvokeAI into $INVOKEAI_TESTBED_CACHE (default
# ~/.cache/invokeai-py-client; several minutes, ~7 GB, progress shown); later runs take
# about 20 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=""
serve=0
while [ $# -gt 0 ]; do
    case "$1" in
        --port) [ $# -ge 2 ] || { echo "demo: --port needs a number" >&2; exit 2; }
                port="$2"; shift 2 ;;
        --port=*) port="${1#--port=}"; shift ;;
        --serve) serve=1; shift ;;
        *) echo "demo: unknown option $1 (use --serve, --port N)" >&2; exit 2 ;;
    esac
done
bash scripts/bootstrap.sh
# Installed or not, and where: the test bed knows (INVOKEAI_TESTBED_VERSION, _CACHE).
echo "demo: $(.venv/bin/python -m testbed status)" >&2
.venv/bin/python -m testbed provision >/dev/null

mkdir -p .demo
# One demo at a time per checkout: they share .demo (the model files and the server's log).
exec 9>.demo/lock
if ! flock -n 9; then
    echo "demo: another demo runs in this checkout; waiting for it to end" >&2
    flock 9
fi

if [ "$serve" = 1 ]; then
    exec .venv/bin/python -m testbed up --port "${port:-9090}" --demo-models .demo/models
fi

log=.demo/server.log
.venv/bin/python -m testbed up ${port:+--port "$port"} --demo-models .demo/models >"$log" 2>&1 &
server=$!
stop() {
    kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    echo "demo: server stopped" >&2
}
trap stop EXIT
ready=0
for _ in $(seq 240); do
    if grep -q "^files for URL installs" "$log"; then ready=1; break; fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    cat "$log" >&2
    echo "demo: the server did not start (log above)" >&2
    exit 1
fi
INVOKEAI_URL="$(sed -n 's/^InvokeAI .* running at \(http[^ ]*\) .*/\1/p' "$log")"
DEMO_FILES="$(sed -n 's/^files for URL installs[^:]*: //p' "$log")"
[ -n "$INVOKEAI_URL" ] && [ -n "$DEMO_FILES" ] || { cat "$log" >&2; exit 1; }
export INVOKEAI_URL DEMO_FILES
echo "demo: $(head -n 1 "$log")" >&2

run() {
    echo >&2
    echo "\$ invokeai-models $*" >&2
    .venv/bin/invokeai-models "$@"
}
run apply examples/models.yaml
run list
run plan --exit-code examples/models.yaml
run export --lock -o .demo/models.lock.yaml
cat .demo/models.lock.yaml
# shellcheck disable=SC2046  # one key per word
run delete --yes $(.venv/bin/invokeai-models --quiet list)
run list
echo >&2
echo "demo: done" >&2
