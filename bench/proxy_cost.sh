#!/usr/bin/env bash
# What proxies, watchers and webhooks add to a bid (SPEC §17), in one run, the way ../shared/bench/perfpair.sh
# measures bids:
#   bench/proxy_cost.sh sqlite|postgres [SECONDS]
# One product server process pinned to core 0 (the test environment with the sandbox clock, as
# bench/perfpair.sh runs it) serves the requests; wrk (the shared bidstorm.lua, 16 connections), the webhook
# receiver and a second product process that delivers the webhooks run on core 1.
# Two auctions on the same server: "plain", the yardstick's hot scenario (16 bidders), and "proxied", the same
# plus 10 proxies (one of them answers every accepted bid with one increment more, so each bid transaction also
# writes the automatic bid, its live and audit events and an outbid notice), 50 watchers, and a webhook per
# bidder organization subscribed to `outbid` (a delivery row per notice, attempted by the server's worker).
# The storms alternate plain, proxied, plain, proxied, each on auctions of its own; prints one JSON line each, then
# "extra cost per request=X% per accepted bid=Y%" (plain rps ÷ proxied rps − 1, from the sums of both runs).
set -u
proj=$(cd "$(dirname "$0")/.." && pwd)
shared=${PERF_YARDSTICK:-$proj/../shared/bench}
db=${1:?sqlite or postgres}
secs=${2:-10}
work=${PERF_WORK:-/tmp/perf}
run_prefix=proxy
source "$proj/bench/_servers.sh"
if [[ $db == postgres ]]; then
  dburl="postgresql+asyncpg://$(pg_url proxy_cost)"
else
  dburl="sqlite+aiosqlite:///$run/product.db"
fi

rport=$(( 20000 + RANDOM % 10000 ))
taskset -c 1 "$tv/bin/python" "$proj/bench/_proxy_setup.py" receive "$rport" >"$run/receiver.log" 2>&1 &
pids+=($!)
port=$(( 20000 + RANDOM % 10000 ))
export EXCHANGE_DATABASE_URL=$dburl EXCHANGE_SANDBOX=true EXCHANGE_ENV=test \
  EXCHANGE_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
(cd "$proj" && "$pv/bin/python" -m app migrate >"$run/migrate.log" 2>&1 \
  && "$pv/bin/python" -m app create-operator --email ops@perf.test --password operator-pass-perf >/dev/null 2>&1)
# The measured process serves requests only; a second process on core 1 delivers the webhooks (with the same
# database), so that the figures are the bid transaction's, outbid notices and delivery rows included.
(cd "$proj" && EXCHANGE_WEBHOOK_WORKER=false exec taskset -c 0 "$pv/bin/python" -m app serve --host 127.0.0.1 \
  --port "$port" --workers 1 >"$run/product.log" 2>&1) &
pids+=($!); server=$!
(cd "$proj" && exec taskset -c 1 "$pv/bin/python" -m app serve --host 127.0.0.1 --port $((port + 1)) --workers 1 \
  >"$run/deliverer.log" 2>&1) &
pids+=($!)
wait_up "http://127.0.0.1:$port/healthz" || { tail -5 "$run/product.log"; echo "product did not start"; exit 1; }
# An auction of each kind for each round (bidstorm.lua's amounts start again at the start price every run), all
# made before the clock moves past their listing periods: the plain ones first (the yardstick's set-up, which moves
# the clock once), then the proxied ones (once more).
"$tv/bin/python" "$shared/bidstorm.py" --base "http://127.0.0.1:$port" --op-email ops@perf.test \
  --op-password operator-pass-perf --auctions 2 --bidders 16 --setup-only "$run/plain.wrk" \
  || { echo "setup failed"; exit 1; }
for round in 1 2; do
  { cut -d, -f"$round" <"$run/plain.wrk" | head -1; sed -n 2p "$run/plain.wrk"; } >"$run/plain$round.wrk"
done
PERF_YARDSTICK=$shared "$tv/bin/python" "$proj/bench/_proxy_setup.py" setup "http://127.0.0.1:$port" \
  "$run/proxied" "http://127.0.0.1:$rport/hook" 2 || { echo "setup failed"; exit 1; }

storm() { # scenario wrkfile
  local out
  # PROFILE=FILE: py-spy (raw, folded stacks) samples the server during the last proxied storm.
  if [[ -n ${PROFILE:-} && $1 == proxied && $round == 2 ]]; then
    "$tv/bin/py-spy" record -p "$server" -d "$secs" -r 250 -f raw -o "$PROFILE" >/dev/null 2>&1 &
  fi
  out=$(STORM_FILE=$2 taskset -c 1 wrk -t2 -c16 -d"${secs}s" -s "$shared/bidstorm.lua" "http://127.0.0.1:$port" 2>/dev/null | tail -1)
  echo "{\"scenario\": \"$1\", \"db\": \"$db\", ${out#\{}"
}
field() { grep -oE "\"$1\": [0-9.]+" <<<"$2" | grep -oE '[0-9.]+$'; }
declare -A rps=([plain]=0 [proxied]=0) created=([plain]=0 [proxied]=0)
for round in 1 2; do
  for scen in plain proxied; do
    line=$(storm "$scen" "$run/$scen$round.wrk"); echo "$line"
    rps[$scen]=$(python3 -c "print(${rps[$scen]} + $(field rps "$line"))")
    created[$scen]=$(python3 -c "print(${created[$scen]} + $(field created_per_s "$line"))")
  done
done
auction=$(head -1 "$run/proxied2.wrk")
curl -s "http://127.0.0.1:$port/api/v1/auctions/$auction" | python3 -c \
  "import json, sys; s = json.load(sys.stdin); print(f'proxied auction after the storms: {s[\"bid_count\"]} bids, price {s[\"current_price\"]}')"
python3 -c "import sys; a = [float(x) for x in sys.argv[1:]]; print('extra cost per request=%.0f%% per accepted bid=%.0f%%' % ((a[0] / a[1] - 1) * 100, (a[2] / a[3] - 1) * 100))" \
  "${rps[plain]}" "${rps[proxied]}" "${created[plain]}" "${created[proxied]}"
