# Sourced by the bench scripts that start servers of their own (perfread.sh, proxy_cost.sh, floorpair.sh) once
# they have set proj, db (sqlite|postgres), work and run_prefix. Sets up what ../shared/bench/perfpair.sh uses:
#   tv    the yardstick's tools venv (starlette, uvicorn, httpx, asyncpg, aiosqlite), made when missing
#   pv    this checkout's venv, keyed by its pyproject.toml, made when missing, installed editable from it
#   run   this run's directory, $work/$run_prefix-XXXX
#   pids  the servers to stop on exit: add each one's pid
# and, on PostgreSQL, a cluster of the run's own as user accpg on $pgport (stopped on exit), in which
# `pg_url NAME` makes a database and prints its URL without the scheme; `wait_up URL` waits (60 s at most) until
# URL answers.
mkdir -p "$work"
tv=$work/toolsvenv
pv=$work/venv-$(sha256sum "$proj/pyproject.toml" | cut -c1-12)
[[ -x $tv/bin/uvicorn ]] || { python3 -m venv "$tv" && "$tv/bin/pip" install -q starlette uvicorn httpx asyncpg aiosqlite >/dev/null; }
[[ -x $pv/bin/python ]] || { python3 -m venv "$pv" && "$pv/bin/pip" install -q -e "$proj" asyncpg aiosqlite >/dev/null; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 2; }
"$pv/bin/pip" install -q --no-deps -e "$proj" >/dev/null 2>&1
run=$(mktemp -d "$work/$run_prefix-XXXX")
pids=()
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  [[ $db == postgres ]] && runuser -u accpg -- "$pgbin/pg_ctl" -D "$run/pg" -m fast stop >/dev/null 2>&1
}
trap cleanup EXIT
if [[ $db == postgres ]]; then
  id accpg >/dev/null 2>&1 || useradd -m accpg
  chown accpg "$run"
  pgport=$(( 30000 + RANDOM % 10000 ))
  runuser -u accpg -- "$pgbin/initdb" -D "$run/pg" -A trust -U accpg --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  runuser -u accpg -- "$pgbin/pg_ctl" -D "$run/pg" -o "-p $pgport -k $run -c listen_addresses=127.0.0.1" \
    -l "$run/pg.log" -w start >/dev/null
fi
pg_url() { runuser -u accpg -- "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U accpg "$1"; echo "accpg@127.0.0.1:$pgport/$1"; }
wait_up() { for _ in $(seq 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; return 1; }
