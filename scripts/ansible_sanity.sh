#!/usr/bin/env bash
# The Ansible collection's static checks, offline:
#   1. ansible-test sanity on ansible_collections/invokeai/models (every test ansible-test
#      runs by default: validate-modules, compile, import, yamllint, ansible-doc, pylint, ...),
#      each in its own virtual environment, with .venv's Python (3.11 here);
#   2. ansible-lint on the example playbooks (examples/ansible/).
#
# ansible-test must run from inside a path .../ansible_collections/NAMESPACE/NAME; it runs
# from a copy at TMP/ansible_collections/invokeai/models made of the files git lists there
# (tracked, or new and not ignored: no caches, no tests/output), so a fresh clone and a
# work tree give the same answer.
#
# Offline: ansible-test bootstraps pip into each venv with get-pip, which it downloads
# from a host we cannot reach unless ~/.ansible/test/cache/get_pip_<version>.py exists.
# This script puts a stand-in there that installs pip from the pip==<version> wheel of the
# package registry (downloaded once by pip, kept beside it).
#
# Usage: scripts/ansible_sanity.sh [sanity|lint]  (default: both)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
py=$repo/.venv/bin/python
what="${1:-all}"

pip_standin() {  # the get-pip stand-in for the pip version this ansible-test asks for
    local at version cache
    at=$("$py" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
    version=$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" "$at/_internal/python_requirements.py" | head -n1)
    version=${version:-24.2}
    cache=$HOME/.ansible/test/cache
    mkdir -p "$cache"
    if [ ! -f "$cache/pip-$version-py3-none-any.whl" ]; then
        "$py" -m pip download -q --no-deps --only-binary=:all: -d "$cache" "pip==$version"
    fi
    cat > "$cache/get_pip_${version//./_}.py" <<EOF
# Stand-in for get-pip.py, written by invokeai-py-client's scripts/ansible_sanity.sh:
# installs pip $version from its wheel beside this file (no download).
import os
import sys

wheel = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-$version-py3-none-any.whl")
sys.path.insert(0, wheel)
from pip._internal.cli.main import main  # noqa: E402

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--no-cache-dir", "--upgrade", "--force-reinstall", wheel, *args]))
EOF
}

collection_copy() {  # $1: a temporary directory; prints the copy's path
    git ls-files -z --cached --others --exclude-standard -- ansible_collections/invokeai/models \
        | while IFS= read -r -d '' file; do
            if [ -f "$file" ]; then cp --parents -t "$1" "$file"; fi
        done
    echo "$1/ansible_collections/invokeai/models"
}

status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$what" = all ] || [ "$what" = sanity ]; then
    pip_standin
    dest=$(collection_copy "$tmp")
    echo "ansible_sanity: ansible-test sanity in $dest" >&2
    python_version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    (cd "$dest" && PATH="$repo/.venv/bin:$PATH" "$repo/.venv/bin/ansible-test" sanity \
        --venv --python "$python_version" --color no) || status=1
fi

if [ "$what" = all ] || [ "$what" = lint ]; then
    echo "ansible_sanity: ansible-lint examples/ansible" >&2
    # the collection from the work tree: the repository root holds ansible_collections/
    (cd examples/ansible && ANSIBLE_COLLECTIONS_PATH="$repo" PATH="$repo/.venv/bin:$PATH" \
        "$repo/.venv/bin/ansible-lint" --offline --project-dir . ./*.yml) || status=1
fi
exit "$status"
