#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml after changing a dependency:
#
#   scripts/lock.sh
#
# requirements/runtime.lock  what the app imports (the Dockerfile installs it)
# requirements/test.lock     that plus the test and benchmark tools (scripts/test.sh, CI)
#
# Every package is pinned with its hashes, for every platform and Python >= 3.11 (a universal
# resolution), so `pip install --require-hashes` installs exactly what was reviewed. The build backend
# (setuptools) is pinned too: the project itself is installed with --no-deps --no-build-isolation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
ensure_venv test
"$VENV_DIR/bin/python" -m pip install -q "uv==0.13.9"
for target in runtime test; do
    extra=()
    [ "$target" = test ] && extra=(--extra test)
    "$VENV_DIR/bin/uv" pip compile pyproject.toml requirements/build.in "${extra[@]}" \
        --universal --python-version 3.11 --generate-hashes --quiet \
        --custom-compile-command "scripts/lock.sh" -o "requirements/$target.lock"
done
