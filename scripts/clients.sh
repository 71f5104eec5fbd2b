#!/usr/bin/env bash
# Generate a Python and a TypeScript client from the app's OpenAPI document and fail on any warning (SPEC §21:
# generated clients build without warnings), as CI does (scripts/test.sh).
#
#   scripts/clients.sh [DIR]    # the document and the clients go to DIR (default: a temporary directory)
#   scripts/clients.sh --lock   # regenerate requirements/clients.lock from requirements/clients.in
#
# 1. openapi.json, dumped from the application factory (no server, no database)
# 2. openapi-python-client (pinned with hashes in requirements/clients.lock) in its own venv, .venv-clients,
#    reinstalled only when the lock changes: the generators are no dependency of the app
# 3. the Python client is imported, so it must at least compile
# 4. openapi-typescript (npx, pinned below) and the TypeScript compiler over its output (node >= 20, npm)
#
# Honours $EXCHANGE_VENV (the app's venv, default .venv: scripts/_venv.sh makes it) and $EXCHANGE_CLIENTS_VENV.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OPENAPI_TYPESCRIPT=openapi-typescript@7.13.0
TYPESCRIPT=typescript@5.9.3
CLIENTS_VENV=${EXCHANGE_CLIENTS_VENV:-.venv-clients}
case $CLIENTS_VENV in /*) ;; *) CLIENTS_VENV=$PWD/$CLIENTS_VENV ;; esac  # the generator runs elsewhere
APP_PYTHON=${EXCHANGE_VENV:-.venv}/bin/python
LOCK=requirements/clients.lock
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false

# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh

ensure_clients_venv() {
    local want
    if [ ! -x "$CLIENTS_VENV/bin/python" ]; then
        echo "==> creating $CLIENTS_VENV" >&2
        "$(_find_python)" -m venv "$CLIENTS_VENV"
    fi
    want=$("$CLIENTS_VENV/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$LOCK")
    if [ "$(cat "$CLIENTS_VENV/.installed" 2>/dev/null)" != "$want" ]; then
        echo "==> pip install --require-hashes -r $LOCK into $CLIENTS_VENV" >&2
        "$CLIENTS_VENV/bin/python" -m pip install -q --require-hashes -r "$LOCK"
        printf '%s\n' "$want" >"$CLIENTS_VENV/.installed"
    fi
}

if [ "${1:-}" = "--lock" ]; then
    ensure_clients_venv
    "$CLIENTS_VENV/bin/python" -m pip install -q "uv==0.13.9"
    "$CLIENTS_VENV/bin/uv" pip compile requirements/clients.in --universal --python-version 3.11 \
        --generate-hashes --quiet --custom-compile-command "scripts/clients.sh --lock" -o "$LOCK"
    exit 0
fi

if [ $# -gt 0 ]; then
    out=$1
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
out=$(cd "$out" && pwd)
failed=0

# Fails when the step failed or printed a warning (each tool says "warning" or "⚠" for one).
check_output() {
    local name=$1 rc=$2 log=$3
    if [ "$rc" != 0 ] || grep -Eiq 'warn|⚠' "$log"; then
        echo "FAILED: $name (exit code $rc):" >&2
        cat "$log" >&2
        failed=1
    else
        echo "ok: $name"
    fi
}

echo "==> OpenAPI document (app factory) -> $out/openapi.json"
"$APP_PYTHON" -c 'import json, sys
from app.main import create_app
with open(sys.argv[1], "w") as f:
    json.dump(create_app().openapi(), f, indent=1)' "$out/openapi.json"

echo "==> Python client: openapi-python-client ($LOCK)"
ensure_clients_venv
cat >"$out/python-client.yaml" <<'EOF'
project_name_override: exchange-client
package_name_override: exchange_client
# A PDF is bytes like any other binary body: the generator knows only application/octet-stream by that name.
content_type_overrides:
  application/pdf: application/octet-stream
EOF
rc=0
(PATH="$CLIENTS_VENV/bin:$PATH" "$CLIENTS_VENV/bin/openapi-python-client" generate --path "$out/openapi.json" \
    --config "$out/python-client.yaml" --meta none --output-path "$out/python/exchange_client" --overwrite --fail-on-warning) \
    >"$out/python.log" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
    (cd "$out/python" && "$CLIENTS_VENV/bin/python" -W error -c \
        'import exchange_client, exchange_client.api, exchange_client.models; import pkgutil
for m in pkgutil.walk_packages(exchange_client.__path__, "exchange_client."): __import__(m.name)') \
        >>"$out/python.log" 2>&1 || rc=$?
fi
check_output "openapi-python-client" "$rc" "$out/python.log"

echo "==> TypeScript client: $OPENAPI_TYPESCRIPT, checked by $TYPESCRIPT"
if ! command -v npx >/dev/null 2>&1; then
    echo "FAILED: npx not found (install Node.js >= 20 with npm)" >&2
    exit 1
fi
rc=0
(cd "$out" && npx -y "$OPENAPI_TYPESCRIPT" openapi.json -o api.d.ts) >"$out/typescript.log" 2>&1 || rc=$?
if [ "$rc" = 0 ]; then
    (cd "$out" && npx -y -p "$TYPESCRIPT" tsc --noEmit --strict api.d.ts) >>"$out/typescript.log" 2>&1 || rc=$?
fi
check_output "openapi-typescript" "$rc" "$out/typescript.log"

exit "$failed"
