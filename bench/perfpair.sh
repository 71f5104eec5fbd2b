#!/usr/bin/env bash
# The shared bid-path yardstick (../shared/bench/perfpair.sh, its README), run against this checkout.
#   bench/perfpair.sh sqlite|postgres [SECONDS]
# PERF_CHECKOUT: the checkout to measure, if not this one (bench/ab.sh compares two versions this way).
# PERF_KEYED=1: every bid the product is sent carries its own Idempotency-Key, as the auction room's page
# sends them (the bare endpoint ignores it: it stays the limit of a bid).
# PERF_WRK_THREADS=1: wrk drives the connections from one thread instead of two. With two, each thread's
# amounts rise on their own, and how many bids are refused (the other thread's amounts already higher)
# drifts from run to run with the threads' relative pace: from a few percent to half. With one, every bid
# bids more than the last, and nearly all are taken: the same mix in every run, to compare versions by.
# One change, made in a copy: the product runs with EXCHANGE_ENV=test instead of production, because
# production refuses the sandbox clock the set-up needs (SPEC §20). Nothing on the request path reads
# the environment's name (app/config.py only validates settings with it), so the figures are production's.
set -eu
proj=$(cd "${PERF_CHECKOUT:-$(dirname "$0")/..}" && pwd)
shared=${PERF_YARDSTICK:-$(cd "$(dirname "$0")/.." && pwd)/../shared/bench}
[[ -f $shared/perfpair.sh ]] || { echo "the yardstick is missing: $shared/perfpair.sh (set PERF_YARDSTICK)"; exit 2; }
copy=$(mktemp -d "${TMPDIR:-/tmp}/yardstick-XXXX")
trap 'rm -rf "$copy"' EXIT
cp "$shared"/* "$copy"/
sed -i 's/EXCHANGE_ENV=production/EXCHANGE_ENV=test/' "$copy/perfpair.sh"
grep -q 'EXCHANGE_ENV=test' "$copy/perfpair.sh" || { echo "the yardstick changed: patch not applied"; exit 2; }
if [[ ${PERF_KEYED:-0} == 1 ]]; then
  sed -i 's|\["Content-Type"\] = "application/json" }|["Content-Type"] = "application/json", ["Idempotency-Key"] = "k" .. id .. "-" .. counter }|' \
    "$copy/bidstorm.lua"
  grep -q 'Idempotency-Key' "$copy/bidstorm.lua" || { echo "the yardstick changed: keyed patch not applied"; exit 2; }
fi
# The product's line also gets the server process's CPU time per request during the storm (user and system,
# from /proc): it moves far less with the host's other load than req/s does.
storm_line='  line=$(storm product "$scen" "http://127.0.0.1:$port" "$run/prod_$scen.wrk" "$conns"); echo "$line"'
grep -qF "$storm_line" "$copy/perfpair.sh" || { echo "the yardstick changed: CPU patch not applied"; exit 2; }
cpu_lines=$(cat <<'LINES'
  cpu0=$(awk '{print $14 + $15}' /proc/$ppid_/stat)
  line=$(storm product "$scen" "http://127.0.0.1:$port" "$run/prod_$scen.wrk" "$conns")
  cpu1=$(awk '{print $14 + $15}' /proc/$ppid_/stat)
  n=$(grep -oE '"requests": [0-9]+' <<<"$line" | grep -oE '[0-9]+$')
  line="${line%\}}, \"cpu_us_per_request\": $(( (cpu1 - cpu0) * 1000000 / $(getconf CLK_TCK) / n ))}"; echo "$line"
LINES
)
python3 -c 'import sys; p, o, n = sys.argv[1:]; t = open(p).read(); open(p, "w").write(t.replace(o, n))' \
  "$copy/perfpair.sh" "$storm_line" "$cpu_lines"
if [[ ${PERF_WRK_THREADS:-2} != 2 ]]; then
  sed -i "s/wrk -t2 /wrk -t${PERF_WRK_THREADS} /" "$copy/perfpair.sh"
  grep -q "wrk -t${PERF_WRK_THREADS} " "$copy/perfpair.sh" || { echo "the yardstick changed: threads patch not applied"; exit 2; }
fi
cd "$proj"
bash "$copy/perfpair.sh" "$@"
