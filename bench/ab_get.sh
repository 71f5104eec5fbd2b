#!/usr/bin/env bash
# Two versions of the exchange on one GET that needs no data (/healthz, say), interleaved, with what a server
# spends on each request, not only how many it answers:
#   bench/ab_get.sh BEFORE AFTER [PATH] [ROUNDS] [SECONDS]
# BEFORE and AFTER: git revisions (checked out in temporary worktrees) or checkout directories. Each run starts
# the version's server (`python -m app serve --workers 1`, production mode, a fresh SQLite file) pinned to core
# 0, warms it up for 2 s, then drives PATH (default /healthz) with wrk (16 connections) pinned to core 1 for
# SECONDS (default 8), in the order AFTER BEFORE BEFORE AFTER ... (ROUNDS of each, default 6). Per run: req/s,
# the server process's CPU per request (utime + stime from /proc) and its write system calls per request
# (syscw from /proc: the response's writes and the log's). Then the medians of each version and AFTER / BEFORE.
# The server's CPU per request moves with the host as its req/s does; the write calls per request do not.
# Uses this checkout's virtual environment (.venv) for both versions: their dependencies must be the same.
set -eu
proj=$(cd "$(dirname "$0")/.." && pwd)
before=${1:?BEFORE: a revision or a directory}
after=${2:?AFTER: a revision or a directory}
path=${3:-/healthz}
rounds=${4:-6}
secs=${5:-8}
python=$proj/.venv/bin/python
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 2; }
server=
on_exit() { if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; fi; }
work_prefix=ab-get
source "$proj/bench/_versions.sh"

counters() { # pid -> "cpu_ticks write_calls"
  echo "$(awk '{print $14 + $15}' "/proc/$1/stat") $(awk '/^syscw/ {print $2}' "/proc/$1/io")"
}

measure() { # which dir n
  local db=$work/$3.db port=$((20000 + RANDOM % 10000)) out c0 c1
  export EXCHANGE_DATABASE_URL="sqlite+aiosqlite:///$db" EXCHANGE_ENV=production EXCHANGE_SANDBOX=false \
    EXCHANGE_PUBLIC_URL="http://127.0.0.1:$port" EXCHANGE_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
  (cd "$2" && "$python" -m app migrate >"$work/$3.log" 2>&1)
  (cd "$2" && exec taskset -c 0 "$python" -m app serve --host 127.0.0.1 --port "$port" --workers 1 \
    >>"$work/$3.log" 2>&1) &
  server=$!
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.25; done
  taskset -c 1 wrk -t2 -c16 -d2s "http://127.0.0.1:$port$path" >/dev/null 2>&1
  c0=$(counters "$server")
  out=$(taskset -c 1 wrk -t2 -c16 -d"${secs}s" "http://127.0.0.1:$port$path" 2>/dev/null)
  c1=$(counters "$server")
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  python3 - "$1" "$c0" "$c1" "$(getconf CLK_TCK)" "$out" <<'EOF'
import json, re, sys
which, c0, c1, tck, out = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5]
requests = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
cpu = (float(c1[0]) - float(c0[0])) / tck / requests * 1e6
writes = (int(c1[1]) - int(c0[1])) / requests
print(json.dumps({"version": which, "rps": rps, "cpu_us_per_request": round(cpu, 1), "writes_per_request": round(writes, 3)}))
EOF
}

n=0
for which in "${order[@]}"; do
  n=$((n + 1))
  if [[ $which == before ]]; then dir=$dir_before; else dir=$dir_after; fi
  measure "$which" "$dir" "$n" | tee -a "$work/runs.jsonl"
done
python3 - "$work/runs.jsonl" "$path" <<'EOF'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1])]
keys = ("rps", "cpu_us_per_request", "writes_per_request")
median = {w: {k: statistics.median(r[k] for r in runs if r["version"] == w) for k in keys} for w in ("before", "after")}
for k in keys:
    b, a = median["before"][k], median["after"][k]
    print(f"GET {sys.argv[2]} {k}: median before {b:g}, after {a:g}, after / before {a / b:.3f}")
EOF
