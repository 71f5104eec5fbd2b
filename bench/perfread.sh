#!/usr/bin/env bash
# Reads against the practical limit, in one run, the way ../shared/bench/perfpair.sh measures bids:
#   bench/perfread.sh sqlite|postgres [SECONDS]
# One server process pinned to core 0, wrk (16 connections) pinned to core 1. Targets:
#   bare    GET /api/v1/auctions/{id} of the shared bare endpoint (../shared/bench/bare_bid_server.py)
#   product GET /api/v1/auctions/{id} (the auction that perfpair's "hot" scenario sets up, 16 bidders),
#           GET /api/v1/listings?limit=20 and GET /healthz, served in production mode (the set-up runs with
#           the sandbox clock, in the test environment; the server is then restarted without it)
# Prints one JSON line per target and route, then "ratio auction=R" (product ÷ bare, GET /auctions/{id}).
# Uses (or makes) the same virtual environments as perfpair.sh, under $PERF_WORK.
set -u
proj=$(cd "$(dirname "$0")/.." && pwd)
shared=${PERF_YARDSTICK:-$proj/../shared/bench}
db=${1:?sqlite or postgres}
secs=${2:-10}
work=${PERF_WORK:-/tmp/perf}
lua=$proj/bench/wrk/get.lua
run_prefix=read
source "$proj/bench/_servers.sh"
get() { # target route url path [wrkfile]
  local out
  out=$(STORM_FILE=${5:-} GET_PATH=$4 taskset -c 1 wrk -t2 -c16 -d"${secs}s" -s "$lua" "$3" 2>/dev/null | tail -1)
  echo "{\"target\": \"$1\", \"route\": \"$2\", \"db\": \"$db\", ${out#\{}"
}
rps() { grep -oE '"rps": [0-9.]+' <<<"$1" | grep -oE '[0-9.]+$'; }

port=$(( 20000 + RANDOM % 10000 ))
if [[ $db == postgres ]]; then bdb="postgresql://$(pg_url bare_read)"; else bdb="sqlite:///$run/bare.db"; fi
taskset -c 0 "$tv/bin/python" "$shared/bare_bid_server.py" --db "$bdb" --port "$port" --auctions 1 --bidders 16 \
  --out "$run/bare.json" >"$run/bare.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do [[ -f $run/bare.json.wrk ]] && curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
line=$(get bare "/auctions/{id}" "http://127.0.0.1:$port" "/api/v1/auctions/{auction}" "$run/bare.json.wrk"); echo "$line"
bare=$(rps "$line")

port=$(( 20000 + RANDOM % 10000 ))
if [[ $db == postgres ]]; then pdb="postgresql+asyncpg://$(pg_url product_read)"; else pdb="sqlite+aiosqlite:///$run/product.db"; fi
# The test environment, as bench/perfpair.sh runs it: production refuses the sandbox clock the set-up needs.
export EXCHANGE_DATABASE_URL=$pdb EXCHANGE_SANDBOX=true EXCHANGE_ENV=test \
  EXCHANGE_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
(cd "$proj" && "$pv/bin/python" -m app migrate >"$run/migrate.log" 2>&1 \
  && "$pv/bin/python" -m app create-operator --email ops@perf.test --password operator-pass-perf >/dev/null 2>&1)
(cd "$proj" && exec taskset -c 0 "$pv/bin/python" -m app serve --host 127.0.0.1 --port "$port" --workers 1 \
  >"$run/product.log" 2>&1) &
pids+=($!)
wait_up "http://127.0.0.1:$port/healthz" || { tail -5 "$run/product.log"; echo "product did not start"; exit 1; }
"$tv/bin/python" "$shared/bidstorm.py" --base "http://127.0.0.1:$port" --op-email ops@perf.test \
  --op-password operator-pass-perf --auctions 1 --bidders 16 --setup-only "$run/product.wrk" || { echo "setup failed"; exit 1; }
# Reads are measured as production serves them: the set-up needed the sandbox clock, the reads do not (with it
# on, every anonymous read also reads the clock's offset). Same database, same port, a production server.
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
for _ in $(seq 40); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" || break; sleep 0.25; done
(cd "$proj" && EXCHANGE_SANDBOX=false EXCHANGE_ENV=production EXCHANGE_PUBLIC_URL="http://127.0.0.1:$port" \
  exec taskset -c 0 "$pv/bin/python" -m app serve --host 127.0.0.1 --port "$port" --workers 1 \
  >>"$run/product.log" 2>&1) &
pids+=($!)
wait_up "http://127.0.0.1:$port/healthz" || { tail -5 "$run/product.log"; echo "production server did not start"; exit 1; }
line=$(get product "/auctions/{id}" "http://127.0.0.1:$port" "/api/v1/auctions/{auction}" "$run/product.wrk"); echo "$line"
product=$(rps "$line")
get product "/listings?limit=20" "http://127.0.0.1:$port" "/api/v1/listings?limit=20"
get product "/healthz" "http://127.0.0.1:$port" "/healthz"
python3 -c "import sys; print('ratio auction=%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$product" "$bare"
