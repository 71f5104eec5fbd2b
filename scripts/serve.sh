#!/usr/bin/env bash
# Run the exchange from a fresh clone: creates .venv (Python >= 3.11), installs the project when
# pyproject.toml changed, loads demo data on the first start in development (EXCHANGE_ENV unset or
# `development`: `python -m app seed-demo --if-empty`, which applies the migrations first), then runs
# `python -m app serve`, which applies pending migrations and never loads demo data itself.
#
#   scripts/serve.sh [--host H] [--port P] [--workers N]     # default http://127.0.0.1:8000
#
# The default database is an SQLite file under ./var/ of the repository.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
ensure_venv

if [ "${EXCHANGE_ENV:-development}" = development ]; then
    "$VENV_DIR/bin/python" -m app seed-demo --if-empty
fi
exec "$VENV_DIR/bin/python" -m app serve "$@"
