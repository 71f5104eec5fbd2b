# shellcheck shell=bash
# Sourced by scripts/serve.sh and scripts/test.sh: make sure ./.venv exists (Python >= 3.11) and holds
# exactly the locked dependencies (requirements/*.lock, every package pinned with its hashes; made by
# scripts/lock.sh) and the project in editable mode. Reinstalls only when the lock file or pyproject.toml
# changed since the last install (their sha256 is kept in a stamp file inside the venv).
#
# Usage: ensure_venv            # requirements/runtime.lock, then pip install --no-deps -e .
#        ensure_venv test       # requirements/test.lock (runtime + test and benchmark tools)
# Honours $PYTHON (an interpreter to create the venv with) and $EXCHANGE_VENV (default .venv).

VENV_DIR=${EXCHANGE_VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Prints "major.minor" of an interpreter, or fails when it cannot run (e.g. a pyenv shim for a
# version that is not installed).
_py_version() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

_py_ok() {  # true when the interpreter runs and is >= 3.11
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

_find_python() {
    local c
    for c in ${PYTHON:+"$PYTHON"} python3.11 python3.12 python3.13 python3.14 python3 python; do
        if command -v "$c" >/dev/null 2>&1 && _py_ok "$c"; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    {
        echo "error: Python >= 3.11 is required, none found on PATH."
        for c in python3 python; do
            if command -v "$c" >/dev/null 2>&1; then
                echo "       ($c is $(_py_version "$c" || echo 'not runnable'))"
            fi
        done
        echo "       Install Python 3.11+ (or set PYTHON=/path/to/python3.11) and try again."
    } >&2
    return 1
}

_install_hash() {  # what an install from this lock file depends on: the lock and pyproject.toml
    "$VENV_DIR/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest())' \
        pyproject.toml "$1"
}

ensure_venv() {
    local extras=${1:-} py stamp want
    if [ -x "$VENV_DIR/bin/python" ] && ! _py_ok "$VENV_DIR/bin/python"; then
        echo "==> $VENV_DIR is broken or older than Python 3.11; recreating it" >&2
        rm -rf "$VENV_DIR"
    fi
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        py=$(_find_python) || return 1
        echo "==> creating $VENV_DIR with $py ($(_py_version "$py"))" >&2
        if ! "$py" -m venv "$VENV_DIR"; then
            echo "error: '$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)." >&2
            rm -rf "$VENV_DIR"
            return 1
        fi
    fi

    local lock=requirements/runtime.lock
    [ "$extras" = test ] && lock=requirements/test.lock
    stamp="$VENV_DIR/.installed${extras:+-$extras}"
    want=$(_install_hash "$lock")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    # The test lock holds every runtime package at the same version (tests/test_dependencies.py): a venv
    # installed for the tests serves the app as it is.
    if [ -z "$extras" ] && [ -f "$VENV_DIR/.installed-test" ] &&
        [ "$(cat "$VENV_DIR/.installed-test")" = "$(_install_hash requirements/test.lock)" ]; then
        return 0
    fi
    echo "==> pip install --require-hashes -r $lock into $VENV_DIR" >&2
    rm -f "$VENV_DIR"/.installed*
    "$VENV_DIR/bin/python" -m pip install -q --require-hashes -r "$lock"
    # The project itself: its dependencies and build backend are all in the lock.
    "$VENV_DIR/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
    printf '%s\n' "$want" >"$stamp"
}
