#!/usr/bin/env bash
# The bid path's stack floor against the practical limit, the way ../shared/bench/perfpair.sh measures bids:
#   bench/floorpair.sh sqlite|postgres [SECONDS] [ROUNDS]
# bare: the shared bare endpoint (Starlette, raw driver); floor: bench/stack_floor.py, the same work written on
# FastAPI and SQLAlchemy's AsyncSession. One server process pinned to core 0, wrk (the shared bidstorm.lua) on
# core 1, scenarios hot (1 auction, 16 bidders, 16 connections) and spread (100 auctions, 64 connections), each
# target run ROUNDS times (default 3) in the order bare floor floor bare ... on fresh databases. Prints one
# JSON line per run, then per scenario the median req/s of each target and "floor/bare". Set beside a
# perfpair.sh run's product/bare, it splits the product's distance from the limit into what the stack costs
# and what the exchange's own work costs.
set -u
proj=$(cd "$(dirname "$0")/.." && pwd)
shared=${PERF_YARDSTICK:-$proj/../shared/bench}
db=${1:?sqlite or postgres}
secs=${2:-10}
rounds=${3:-3}
work=${PERF_WORK:-/tmp/perf}
run_prefix=floor
source "$proj/bench/_servers.sh"

measure() { # target scenario round
  local name="$1_$2_$3" na=1 conns=16 port url python script
  [[ $2 == spread ]] && { na=100; conns=64; }
  if [[ $db == postgres ]]; then url="postgresql://$(pg_url "$name")"; else url="sqlite:///$run/$name.db"; fi
  if [[ $1 == bare ]]; then python=$tv/bin/python script=$shared/bare_bid_server.py
  else python=$pv/bin/python script=$proj/bench/stack_floor.py; fi
  port=$(( 20000 + RANDOM % 10000 ))
  PERF_YARDSTICK=$shared taskset -c 0 "$python" "$script" --db "$url" --port "$port" --auctions "$na" \
    --bidders 16 --out "$run/$name.json" >"$run/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 120); do [[ -f $run/$name.json.wrk ]] && curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
  local out
  out=$(STORM_FILE=$run/$name.json.wrk taskset -c 1 wrk -t2 -c"$conns" -d"${secs}s" -s "$shared/bidstorm.lua" \
    "http://127.0.0.1:$port" 2>/dev/null | tail -1)
  echo "{\"target\": \"$1\", \"scenario\": \"$2\", \"round\": $3, \"db\": \"$db\", ${out#\{}" | tee -a "$run/results.jsonl"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
}

for scen in hot spread; do
  for ((i = 1; i <= rounds; i++)); do
    if ((i % 2)); then measure bare "$scen" "$i"; measure floor "$scen" "$i"
    else measure floor "$scen" "$i"; measure bare "$scen" "$i"; fi
  done
done
python3 - "$run/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
wrong = [r for r in rows if r["other"] or r["errors"] or not r["created"]]
if wrong:
    sys.exit(f"a target answered other than 201/409 or took no bid: {wrong[0]}")
for scen in ("hot", "spread"):
    med = {t: statistics.median(r["rps"] for r in rows if r["scenario"] == scen and r["target"] == t)
           for t in ("bare", "floor")}
    p99 = statistics.median(r["p99_ms"] for r in rows if r["scenario"] == scen and r["target"] == "floor")
    print(f"{scen}: bare {med['bare']:.1f} req/s, floor {med['floor']:.1f} req/s (p99 {p99:.1f} ms), "
          f"floor/bare {med['floor'] / med['bare']:.2f}")
PY
