#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/web/, SPEC §19.7).
#
#   scripts/chromium.sh          install the `chromium` package when it is missing; a no-op otherwise
#   scripts/chromium.sh path     print the browser's path (exit 1 when it is not installed)
#
# Playwright drives this browser (executable_path); `playwright install`, which downloads a browser build
# of its own, is never run. Installing needs root or password-less sudo, like scripts/postgres.sh.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_browser() {
    command -v chromium 2>/dev/null || { [ -x /usr/bin/chromium ] && echo /usr/bin/chromium; }
}

install_chromium() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            die "Chromium is not installed and I am neither root nor allowed password-less sudo.
    Install it with: apt-get install chromium"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "Chromium is not installed and apt-get is not available."
    log "Chromium not found; installing chromium from Debian's packages"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk
}

case "${1:-install}" in
    install)
        if ! find_browser >/dev/null; then
            install_chromium
            find_browser >/dev/null || die "chromium still not found after installing."
        fi
        "$(find_browser)" --version 2>/dev/null || true
        ;;
    path)
        find_browser || exit 1
        ;;
    *)
        die "usage: scripts/chromium.sh [install|path]"
        ;;
esac
