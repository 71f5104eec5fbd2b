#!/usr/bin/env bash
# Run the exchange from a fresh clone: creates .venv (Python >= 3.11), installs the project when
# pyproject.toml changed, then runs `python -m app serve` (which applies migrations first and, with
# EXCHANGE_ENV=development, the default, seeds demo data on first start).
#
#   scripts/serve.sh [--host H] [--port P] [--workers N]     # default http://127.0.0.1:8000
#
# The default database is an SQLite file under ./var/ of the repository.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
. scripts/_venv.sh
ensure_venv

exec "$VENV_DIR/bin/python" -m app serve "$@"
