#!/usr/bin/env bash
# Two versions of the exchange through the bid-path yardstick, interleaved, so the host's drift falls on both:
#   bench/ab.sh sqlite|postgres BEFORE AFTER [ROUNDS] [SECONDS]
# BEFORE and AFTER: git revisions of this repository (checked out in temporary worktrees) or directories
# holding a checkout. Runs this checkout's bench/perfpair.sh against each version (PERF_CHECKOUT), in the
# order AFTER BEFORE BEFORE AFTER AFTER BEFORE ... (ROUNDS runs of each, default 3; SECONDS per wrk run,
# default 10), and prints each run's product req/s and ratio to the bare endpoint of the same run, then per
# scenario the median ratio of each version and AFTER / BEFORE, and the bids taken (201) per second. One run's
# ratio moves by 10-20% on a 2-core host with other work on it: compare medians, never a single pair. A
# change that moves the mix of taken and refused bids moves req/s for that alone (a refusal costs less): the
# bids taken per second tell it apart, and the server's CPU time per request (bench/perfpair.sh) moves far less
# with the host than req/s. PERF_KEYED=1 (bench/perfpair.sh) measures bids sent with Idempotency-Keys, and
# PERF_WRK_THREADS=1 with the same mix of taken and refused bids in every run.
set -eu
proj=$(cd "$(dirname "$0")/.." && pwd)
db=${1:?sqlite or postgres}
before=${2:?BEFORE: a revision or a directory}
after=${3:?AFTER: a revision or a directory}
rounds=${4:-3}
secs=${5:-10}
work_prefix=ab
source "$proj/bench/_versions.sh"
n=0
for which in "${order[@]}"; do
  n=$((n + 1))
  if [[ $which == before ]]; then dir=$dir_before; else dir=$dir_after; fi
  out="$work/$n-$which.txt"
  PERF_CHECKOUT=$dir bash "$proj/bench/perfpair.sh" "$db" "$secs" >"$out" 2>&1 || { tail -5 "$out"; exit 1; }
  echo "run $n ($which): $(grep -c '"target"' "$out") lines, $(tail -1 "$out")"
done
python3 - "$work" <<'EOF'
import json, pathlib, statistics, sys

runs = sorted(pathlib.Path(sys.argv[1]).glob("*-*.txt"), key=lambda p: int(p.name.split("-")[0]))
ratios, taken, cpu = {}, {}, {}
for path in runs:
    which = path.stem.split("-", 1)[1]
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.startswith("{")]
    bare = {l["scenario"]: l["rps"] for l in lines if l["target"] == "bare"}
    for l in lines:
        if l["target"] != "product":
            continue
        ratio = l["rps"] / bare[l["scenario"]]
        ratios.setdefault((l["scenario"], which), []).append(ratio)
        taken.setdefault((l["scenario"], which), []).append(l["created_per_s"])
        cpu.setdefault((l["scenario"], which), []).append(l.get("cpu_us_per_request", float("nan")))
        print(f'{path.stem:>10} {l["scenario"]:>6}: {l["rps"]:7.1f} req/s (bare {bare[l["scenario"]]:7.1f}), '
              f'ratio {ratio:.3f}, p99 {l["p99_ms"]:.0f} ms, bids taken {l["created_per_s"]:.0f}/s, '
              f'server CPU {l.get("cpu_us_per_request", float("nan")):.0f} µs/request')
for scenario in ("hot", "spread"):
    b, a = (statistics.median(ratios.get((scenario, w), [float("nan")])) for w in ("before", "after"))
    tb, ta = (statistics.median(taken.get((scenario, w), [float("nan")])) for w in ("before", "after"))
    cb, ca = (statistics.median(cpu.get((scenario, w), [float("nan")])) for w in ("before", "after"))
    print(f"{scenario}: median ratio before {b:.3f}, after {a:.3f}, after/before {a / b:.2f}; "
          f"bids taken per second before {tb:.0f}, after {ta:.0f}; "
          f"server CPU per request before {cb:.0f} µs, after {ca:.0f} µs, after/before {ca / cb:.2f}")
EOF
