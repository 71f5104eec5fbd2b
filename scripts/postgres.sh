#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and local development.
#
#   scripts/postgres.sh start     initialise (first time) and start; a no-op when already running
#   scripts/postgres.sh stop      stop (fast shutdown); a no-op when not running
#   scripts/postgres.sh restart   stop (fast shutdown: sessions are terminated) and start again
#   scripts/postgres.sh status    exit 0 when running, 3 when not
#   scripts/postgres.sh url       print the admin URL for EXCHANGE_TEST_POSTGRES_URL / EXCHANGE_DATABASE_URL
#   scripts/postgres.sh psql ...  run psql as the superuser `exchange` against this cluster
#
# The cluster listens on 127.0.0.1:$EXCHANGE_PG_PORT (default 54329) only, trusts every local
# connection, and is tuned for tests (no fsync): never put data you care about in it. The superuser
# role and database are both `exchange`. Data lives in $EXCHANGE_PG_DATA when set, else in var/postgres/
# of the repository (or, when the server's user cannot reach that directory, /tmp/exchange-pg-<hash of
# the repository path>). A second, private cluster (the fault tests restart theirs) is the same commands
# with both variables set: EXCHANGE_PG_DATA=/tmp/some-new-dir EXCHANGE_PG_PORT=<free port>; its parent
# directory must be traversable by the server's user.
# When run as root the server runs as the unprivileged system user `exchange-pg` (created on demand),
# because PostgreSQL refuses to run as root. If PostgreSQL is not installed, it is installed from
# Debian's packages (root or password-less sudo needed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PORT=${EXCHANGE_PG_PORT:-54329}
HOST=127.0.0.1
ROLE=exchange
DB=exchange
PG_OS_USER=exchange-pg

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- binaries ---------------------------------------------------------------------------------------

find_bindir() {  # newest /usr/lib/postgresql/<v>/bin that has initdb
    local d best=""
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [ -x "$d/initdb" ] && best=$d
    done
    [ -n "$best" ] && printf '%s\n' "$best"
}

install_postgres() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            die "PostgreSQL is not installed and I am neither root nor allowed password-less sudo.
    Install it with: apt-get install postgresql postgresql-contrib"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available."
    log "PostgreSQL not found; installing postgresql postgresql-contrib from Debian's packages"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib
}

BINDIR=$(find_bindir || true)

need_bindir() {
    if [ -z "$BINDIR" ]; then
        install_postgres
        BINDIR=$(find_bindir || true)
        [ -n "$BINDIR" ] || die "initdb still not found under /usr/lib/postgresql/*/bin after installing."
    fi
}

# --- the server's OS user ---------------------------------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=1
else
    AS_ROOT=0
fi

ensure_os_user() {
    [ "$AS_ROOT" = 1 ] || return 0
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        log "creating system user $PG_OS_USER"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
}

as_pg() {  # run a command as the server's OS user, from a directory it can read
    if [ "$AS_ROOT" = 1 ]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$PG_OS_USER" -- "$@")
        else
            (cd / && su -s /bin/bash "$PG_OS_USER" -c "$(printf '%q ' "$@")")
        fi
    else
        "$@"
    fi
}

# --- data directory ---------------------------------------------------------------------------------

IN_REPO="$ROOT/var/postgres"
IN_TMP="/tmp/exchange-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"

usable_by_server() {  # $1 exists and the server's user can write into it
    [ -d "$1" ] && as_pg test -w "$1" -a -x "$1" 2>/dev/null
}

prepare_dir() {  # create $1 for the server's user; true when that user can use it
    mkdir -p "$1" || return 1
    if [ "$AS_ROOT" = 1 ]; then
        chown "$PG_OS_USER:" "$1" || return 1
    fi
    chmod 700 "$1"
    usable_by_server "$1"
}

# Decide where the cluster lives, without creating anything (stop/status/url must not have side effects).
locate_data() {
    if [ -n "${EXCHANGE_PG_DATA:-}" ]; then
        DATA=$EXCHANGE_PG_DATA
    elif [ -f "$IN_REPO/PG_VERSION" ]; then
        DATA=$IN_REPO
    elif [ -f "$IN_TMP/PG_VERSION" ]; then
        DATA=$IN_TMP
    else
        DATA=""
    fi
}

# For `start`: pick (and create) a directory the server's user can use.
choose_data() {
    locate_data
    if [ -n "$DATA" ]; then
        [ -d "$DATA" ] || prepare_dir "$DATA" || die "cannot prepare $DATA for the server"
        if [ "$AS_ROOT" = 1 ] && [ "$(stat -c %U "$DATA")" != "$PG_OS_USER" ]; then
            chown -R "$PG_OS_USER:" "$DATA"
        fi
        usable_by_server "$DATA" || die "$DATA is not usable by user $(pg_user_name)"
        return 0
    fi
    if prepare_dir "$IN_REPO"; then
        DATA=$IN_REPO
    else
        # Typically a repository under a home directory the server's user cannot traverse.
        rmdir "$IN_REPO" 2>/dev/null || true
        log "$(pg_user_name) cannot reach $IN_REPO; using $IN_TMP instead"
        prepare_dir "$IN_TMP" || die "cannot prepare $IN_TMP for the server"
        DATA=$IN_TMP
    fi
}

pg_user_name() {
    if [ "$AS_ROOT" = 1 ]; then echo "$PG_OS_USER"; else id -un; fi
}

# --- operations -------------------------------------------------------------------------------------

url() { printf 'postgresql+asyncpg://%s@%s:%s/%s\n' "$ROLE" "$HOST" "$PORT" "$DB"; }

is_running() {
    [ -n "$DATA" ] && [ -f "$DATA/PG_VERSION" ] && [ -n "$BINDIR" ] \
        && as_pg "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

run_psql() {
    need_bindir
    PGCONNECT_TIMEOUT=10 PGOPTIONS="-c client_min_messages=warning ${PGOPTIONS:-}" "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$ROLE" "$@"
}

write_config() {
    # Unix sockets go into the data directory, unless its path is too long for a socket (~107 bytes);
    # then TCP only.
    local sockdir=$DATA
    [ ${#DATA} -le 90 ] || sockdir=""
    as_pg tee "$DATA/exchange.conf" >/dev/null <<CONF
# Written by scripts/postgres.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = 128MB
# Test cluster: durability off for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_timezone = 'UTC'
timezone = 'UTC'
CONF
    if ! grep -q "^include_if_exists = 'exchange.conf'" "$DATA/postgresql.conf"; then
        printf "\ninclude_if_exists = 'exchange.conf'\n" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
    fi
}

ensure_role_and_db() {
    # initdb makes `exchange` the bootstrap superuser; this covers a cluster made some other way.
    if [ "$(run_psql -d postgres -tAc "select 1 from pg_roles where rolname = '$ROLE'")" != 1 ]; then
        run_psql -d postgres -c "create role $ROLE superuser login"
    fi
    if [ "$(run_psql -d postgres -tAc "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
        run_psql -d postgres -c "create database $DB owner $ROLE"
    fi
}

start() {
    need_bindir
    ensure_os_user
    choose_data
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "initialising a cluster in $DATA"
        as_pg "$BINDIR/initdb" -D "$DATA" --username="$ROLE" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$DATA.initdb.log" 2>&1 \
            || { cat "$DATA.initdb.log" >&2; die "initdb failed"; }
        rm -f "$DATA.initdb.log"
    fi
    if is_running; then
        log "already running ($DATA, port $PORT)"
    else
        write_config
        log "starting on $HOST:$PORT ($DATA)"
        # 9>&-: the server must not inherit (and so hold forever) the lock taken by lock().
        if ! as_pg "$BINDIR/pg_ctl" start -D "$DATA" -l "$DATA/server.log" -w -t 60 >/dev/null 9>&-; then
            tail -n 30 "$DATA/server.log" >&2 || true
            die "the server did not start (log: $DATA/server.log)"
        fi
    fi
    ensure_role_and_db
    log "ready: $(url)"
}

stop() {
    locate_data
    if is_running; then
        as_pg "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
        log "stopped ($DATA)"
    else
        log "not running"
    fi
}

restart() {
    locate_data
    is_running || die "not running${DATA:+ ($DATA)}"
    write_config
    # 9>&-: as in start, the server must not inherit the lock.
    if ! as_pg "$BINDIR/pg_ctl" restart -D "$DATA" -m fast -l "$DATA/server.log" -w -t 60 >/dev/null 9>&-; then
        tail -n 30 "$DATA/server.log" >&2 || true
        die "the server did not restart (log: $DATA/server.log)"
    fi
    log "restarted ($DATA, port $PORT)"
}

status() {
    locate_data
    if is_running; then
        echo "running: $(url) (data: $DATA)"
    else
        echo "not running${DATA:+ (data: $DATA)}"
        return 3
    fi
}

# Serialise concurrent invocations (two test runs starting the same cluster).
lock() {
    if command -v flock >/dev/null 2>&1; then
        mkdir -p "$ROOT/var"
        exec 9>"$ROOT/var/.postgres.lock"
        flock -w 120 9 || die "timed out waiting for another postgres.sh"
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    start) lock; start ;;
    stop) lock; stop ;;
    restart) lock; restart ;;
    status) status ;;
    url) url ;;
    psql) run_psql "$@" ;;
    *)
        echo "usage: $0 {start|stop|restart|status|url|psql [psql args...]}" >&2
        exit 2
        ;;
esac
