#!/usr/bin/env bash
# The full check suite, as CI runs it (`bash .ci/run`): from a fresh clone with only Python >= 3.11.
#
#   scripts/test.sh [pytest args...]
#
# 1. .venv with exactly requirements/test.lock and the project (reinstalled only when the lock or
#    pyproject.toml changes)
# 2. a private PostgreSQL on 127.0.0.1:54329 (scripts/postgres.sh; stopped again on exit unless it
#    was already running)
# 3. ruff check, ruff format --check; mypy --strict on app/; the import contracts (lint-imports, configured
#    in pyproject.toml's [tool.importlinter])
# 4. migrations on PostgreSQL: alembic upgrade head, then alembic check (models == migrations)
# 5. a Python and a TypeScript client generated from the OpenAPI document, without a warning
#    (scripts/clients.sh: the generators in their own venv and npx; node >= 20 and npm needed)
# 6. Debian's Chromium for the browser tests of the web client (scripts/chromium.sh installs it when missing)
# 7. pytest, every database test on SQLite and PostgreSQL (EXCHANGE_TEST_BACKENDS), the browser tests
#    (tests/web/, Playwright driving that Chromium against a server of their own) among them; spread over
#    one worker process per core (pytest-xdist, EXCHANGE_TEST_WORKERS: a number, `auto`, or 0 for one
#    process), each test file in one worker, each worker with databases and servers of its own
# 8. without pytest arguments: the business-day tests again on pinned days (EXCHANGE_TEST_PINNED_DAYS,
#    space-separated ISO instants; empty to skip)
#
# Stops at the first failing step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step=0
section() {
    step=$((step + 1))
    printf '\n==> [%d/10] %s\n' "$step" "$*"
}

section "Python environment (.venv from requirements/test.lock)"
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
ensure_venv test
BIN=$VENV_DIR/bin
"$BIN/python" --version

section "PostgreSQL (scripts/postgres.sh)"
pg_was_running=0
if bash scripts/postgres.sh status >/dev/null 2>&1; then
    pg_was_running=1
fi
cleanup() {
    local rc=$?
    if [ "$pg_was_running" = 0 ]; then
        bash scripts/postgres.sh stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash scripts/postgres.sh start
EXCHANGE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh url)
export EXCHANGE_TEST_POSTGRES_URL
export EXCHANGE_TEST_BACKENDS=${EXCHANGE_TEST_BACKENDS:-sqlite,postgresql}
echo "EXCHANGE_TEST_POSTGRES_URL=$EXCHANGE_TEST_POSTGRES_URL"
echo "EXCHANGE_TEST_BACKENDS=$EXCHANGE_TEST_BACKENDS"

section "ruff check, ruff format --check"
dirs=()
for d in app tests migrations bench; do
    [ -d "$d" ] && dirs+=("$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
    echo "nothing to lint (none of app tests migrations bench exists)"
else
    echo "ruff check ${dirs[*]}"
    "$BIN/ruff" check "${dirs[@]}"
    echo "ruff format --check ${dirs[*]}"
    "$BIN/ruff" format --check "${dirs[@]}"
fi

section "mypy (strict) on app/"
"$BIN/mypy" app

section "import contracts (lint-imports, pyproject.toml [tool.importlinter])"
"$BIN/lint-imports" --no-cache

section "migrations on PostgreSQL (alembic upgrade head, alembic check)"
migcheck_db=exchange_migcheck
migcheck_url=${EXCHANGE_TEST_POSTGRES_URL%/*}/$migcheck_db
bash scripts/postgres.sh psql -d postgres -c "drop database if exists $migcheck_db with (force)" \
    -c "create database $migcheck_db"
echo "EXCHANGE_DATABASE_URL=$migcheck_url"
EXCHANGE_DATABASE_URL=$migcheck_url "$BIN/alembic" upgrade head
EXCHANGE_DATABASE_URL=$migcheck_url "$BIN/alembic" check
bash scripts/postgres.sh psql -d postgres -c "drop database $migcheck_db with (force)"

section "generated clients: openapi-python-client, openapi-typescript (scripts/clients.sh)"
bash scripts/clients.sh

section "Chromium for the browser tests (scripts/chromium.sh)"
bash scripts/chromium.sh

workers=${EXCHANGE_TEST_WORKERS:-auto}
parallel=()
if [ "$workers" != 0 ]; then
    # Files in collection order, where tests/conftest.py puts the longest first (xdist would otherwise send
    # the files with most tests first, and the two-test schema file last).
    parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)
fi
# The slowest tests are listed at the end of the main run: the suite has a time budget (25 min in CI).
slowest=(--durations=30)

section "pytest ${parallel[*]} $*"
rc=0
"$BIN/pytest" "${parallel[@]}" "${slowest[@]}" "$@" || rc=$?
printf '\n==> pytest exit code %d\n' "$rc"
if [ "$rc" != 0 ] || [ $# -gt 0 ]; then
    exit "$rc"
fi

# SPEC §21: the suite passes on any day. The main run starts every test at one ordinary business day
# (tests/conftest.py); the tests that depend on the day run again, on SQLite (the calendar does not depend
# on the database), with the business clock pinned to a Saturday, to New Year's Eve late in the evening and
# to the eve of the Spring Festival.
section "pytest -m business_calendar on pinned business days"
for day in ${EXCHANGE_TEST_PINNED_DAYS-2026-12-05T10:00:00+08:00 2026-12-31T22:30:00+08:00 2026-02-16T09:00:00+08:00}; do
    echo "==> business clock pinned to $day"
    EXCHANGE_TEST_BUSINESS_TIME=$day EXCHANGE_TEST_BACKENDS=sqlite \
        "$BIN/pytest" "${parallel[@]}" -q -m business_calendar || { rc=$?; break; }
done
printf '\n==> pinned-day pytest exit code %d\n' "$rc"
exit "$rc"
