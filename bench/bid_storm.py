"""Bid storm: many bidders on English auctions, through the real server, against a bare baseline.

    python bench/bid_storm.py [--database-url URL] [--workers 2] [--duration 20] [--generators 2]

Without ``--database-url`` the database is a fresh SQLite file under a temporary directory; a PostgreSQL URL
is an admin URL (e.g. ``$(bash scripts/postgres.sh url)``): a scratch database ``bench_bids_<pid>`` is created
next to it and dropped at the end. Setup (not timed, ``_setup.build_market``): 64 bidder organizations, each
signed in and funded; one English auction with all 64 registered, and 1,000 English auctions with 4
registrants each (2 of bidders 0–15 and 2 of bidders 16–63, so with 16 bidders every auction still has two
rivals); every registration qualified, its deposit held; every auction open, in its countdown (free bidding
0 minutes, countdown 3,600 s, so each accepted bid moves ``ends_at``: the app writes a ``bid`` and an
``extended`` event).

Then the app (``uvicorn app.asgi:app --workers N``, production clock (no sandbox), EXCHANGE_ENV=test, fast password hashing) and
the baseline (``bench/baseline_bid_app.py`` under the same uvicorn, worker count and database) each get six
scenarios: 16 and 64 concurrent bidders on the one auction, and 16 and 64 spread over the 1,000 auctions, as
fast as they can (closed loop: throughput); then 64 bidders on the one auction and over the 1,000 auctions
at a fixed offered rate (``--paced-rate`` bids/s in all, Poisson arrivals, open loop: latency under load).

A bidder is a coroutine with its own keep-alive connection, in one of ``--generators`` processes separate
from the server. It reads the auction (GET) when it does not know the price, bids the current price plus
one increment (the start price first), learns the new price from its own 201, and re-reads after a 409
(``bid_too_low``: someone was faster). A bidder that leads waits to be outbid: on the single auction it
re-reads every 10 ms; over many auctions it goes to another auction and trusts that it still leads for
0.5 s. A paced bidder instead wakes at its random arrival times, reads the auction and bids one increment
above it unless it leads. (A closed loop at saturation measures its own queue: 64 bidders always waiting on
a server doing N requests/s see about 64/N s each, whatever the server; the p99 goal is judged on the paced
scenarios, at a rate both servers can carry.) A 409 is a normal outcome; errors are 5xx, timeouts and connection failures. After a warm-up, the
window of ``--duration`` seconds counts requests/s (GET + POST), bids/s, accepted bids/s (201), p50/p99
of the bid POSTs and of the GETs, errors, the peak RSS (VmHWM) of each server worker so far, and the CPU
used by the server workers and by the load generators (the machine may have 2 cores for all of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup as s

MULTI = 1000
SINGLE_BIDDERS = 64
TARGETS = {"app": ("app.asgi:app", s.ROOT), "baseline": ("baseline_bid_app:app", s.ROOT / "bench")}
GOALS = "goals: app ≥ 0.5 × baseline throughput, p99 < 100 ms at 64 bidders, 0 errors, < 250 MB per worker"


# --- the load generator (runs in its own processes) ----------------------------------------------------------


def generate(cfg: dict[str, Any]) -> dict[str, Any]:
    """One generator process: its bidders until the end of the window; returns counts and latencies."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result: dict[str, Any] = runner(_generate(cfg))
    return result


async def _generate(cfg: dict[str, Any]) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "post_ms": [],
        "get_ms": [],
        "accepted": 0,
        "conflicts": Counter(),
        "errors": Counter(),
        "other": Counter(),
    }
    delay = cfg["t_start"] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu0 = time.process_time()
    await asyncio.gather(*(_bidder(cfg, b, stats) for b in cfg["bidders"]))
    stats["cpu"] = time.process_time() - cpu0
    return stats


async def _bidder(cfg: dict[str, Any], bidder: dict[str, Any], stats: dict[str, Any]) -> None:
    t0, t1 = cfg["t_start"] + cfg["warmup"], cfg["t_start"] + cfg["warmup"] + cfg["duration"]
    baseline, single = cfg["mode"] == "baseline", cfg["single"]
    headers = {} if baseline else {"Authorization": f"Bearer {bidder['token']}"}
    auctions = bidder["auctions"]
    rng = random.Random(bidder["seed"])
    known: dict[str, tuple[int | None, bool, float]] = {}  # auction -> (price, I lead, since)
    conn = s.HttpConn("127.0.0.1", cfg["port"], timeout=10.0)

    async def call(method: str, path: str, body: Any = None) -> tuple[int, bytes] | None:
        started = time.time()
        try:
            status, data = await conn.request(method, path, body, headers)
        except s.HttpError as exc:
            if t0 <= started < t1:
                stats["errors"][exc.args[0].split(":")[0]] += 1
            await asyncio.sleep(0.01)
            return None
        if t0 <= started < t1:
            stats["post_ms" if method == "POST" else "get_ms"].append((time.time() - started) * 1000)
            if status >= 500:
                stats["errors"][f"HTTP {status}"] += 1
            elif status == 201:
                stats["accepted"] += 1
            elif status == 409:
                stats["conflicts"][json.loads(data).get("code")] += 1
            elif status != 200:
                stats["other"][f"HTTP {status} {data[:120]!r}"] += 1
        return status, data

    try:
        if cfg["rate"]:
            await _paced(cfg, auctions, rng, t1, call, baseline, single)
            return
        while time.time() < t1:
            aid, reg, code, start_price, increment = auctions[0] if single else rng.choice(auctions)
            price, leading, since = known.get(aid, (None, False, 0.0))
            if aid not in known or (leading and (single or time.time() - since > 0.5)):
                if leading and single:
                    await asyncio.sleep(0.01)  # the leader waits to be outbid
                answer = await call("GET", f"/api/v1/auctions/{aid}")
                if answer is None or answer[0] != 200:
                    continue
                state = json.loads(answer[1])
                price, leading = s.fen(state["current_price"]), state["leading_bidder_code"] == code
                known[aid] = (price, leading, time.time())
            if leading:
                continue
            amount = start_price if price is None else price + increment
            body: dict[str, Any] = {"amount": s.yuan(amount)}
            if baseline:
                body |= {"registration_id": reg, "bidder_code": code}
            answer = await call("POST", f"/api/v1/auctions/{aid}/bids", body)
            if answer is None:
                known.pop(aid, None)
            elif answer[0] == 201:
                known[aid] = (amount, True, time.time())
            elif answer[0] == 409 and json.loads(answer[1]).get("code") == "already_leading":
                known[aid] = (price, True, time.time())
            else:
                known.pop(aid, None)  # outbid meanwhile (or worse): read it again
    finally:
        await conn.close()


async def _paced(
    cfg: dict[str, Any],
    auctions: list[Any],
    rng: random.Random,
    t1: float,
    call: Any,
    baseline: bool,
    single: bool,
) -> None:
    """Open loop: this bidder's bids arrive at random (Poisson) times, ``rate`` per second in all, whether
    or not the server keeps up; each is a GET of the auction and a bid one increment above what it shows."""
    mean_gap = cfg["bidders_total"] / cfg["rate"]
    due = time.time() + rng.uniform(0, mean_gap)
    while True:
        due += rng.expovariate(1 / mean_gap)
        if due >= t1:
            return
        await asyncio.sleep(max(0.0, due - time.time()))
        aid, reg, code, start_price, increment = auctions[0] if single else rng.choice(auctions)
        answer = await call("GET", f"/api/v1/auctions/{aid}")
        if answer is None or answer[0] != 200:
            continue
        state = json.loads(answer[1])
        if state["leading_bidder_code"] == code:
            continue  # leads already: nothing to do this time
        price = s.fen(state["current_price"]) if state["current_price"] else None
        body: dict[str, Any] = {"amount": s.yuan(start_price if price is None else price + increment)}
        if baseline:
            body |= {"registration_id": reg, "bidder_code": code}
        await call("POST", f"/api/v1/auctions/{aid}/bids", body)


# --- one scenario against one server -------------------------------------------------------------------------


@dataclass
class Result:
    requests: float
    bids: float
    accepted: float
    post_p50: float
    post_p99: float
    get_p50: float
    get_p99: float
    errors: Counter[str]
    conflicts: Counter[str]
    other: Counter[str]
    rss_mb: list[float]
    conflicts_per_s: float
    server_cpu: list[float]  # share of one core, per worker
    gen_cpu: float


def run_scenario(
    pool: ProcessPoolExecutor,
    server: s.Server,
    market: s.Market,
    *,
    mode: str,
    single: bool,
    bidders: int,
    args: argparse.Namespace,
    rate: float = 0.0,
) -> Result:
    people = market.bidders[:bidders]
    if single:
        own = {b.index: [market.auctions[0]] for b in people}
    else:
        own = {b.index: [] for b in people}
        for info in market.auctions[1:]:
            for i in info.registrations:
                if i in own:
                    own[i].append(info)
    specs = [
        {
            "token": b.token,
            "seed": b.index * 7919 + bidders,
            "auctions": [(a.id, *a.registrations[b.index], a.start_price, a.increment) for a in own[b.index]],
        }
        for b in people
    ]
    t_start = time.time() + 1.5
    configs = [
        {
            "port": server.port,
            "mode": mode,
            "single": single,
            "rate": rate,
            "bidders_total": bidders,
            "t_start": t_start,
            "warmup": args.warmup,
            "duration": args.duration,
            "bidders": specs[g :: args.generators],
        }
        for g in range(args.generators)
    ]
    futures = [pool.submit(generate, cfg) for cfg in configs]
    time.sleep(max(0.0, t_start + args.warmup - time.time()))
    cpu0 = [s.cpu_seconds(pid) for pid in server.workers]
    time.sleep(max(0.0, t_start + args.warmup + args.duration - time.time()))
    cpu1 = [s.cpu_seconds(pid) for pid in server.workers]
    parts = [f.result(timeout=args.duration + 120) for f in futures]
    post = [x for p in parts for x in p["post_ms"]]
    get = [x for p in parts for x in p["get_ms"]]
    total: dict[str, Counter[str]] = {k: Counter() for k in ("errors", "conflicts", "other")}
    for p in parts:
        for k in total:
            total[k].update(p[k])
    return Result(
        requests=(len(post) + len(get)) / args.duration,
        bids=len(post) / args.duration,
        accepted=sum(p["accepted"] for p in parts) / args.duration,
        post_p50=s.percentile(post, 50),
        post_p99=s.percentile(post, 99),
        get_p50=s.percentile(get, 50),
        get_p99=s.percentile(get, 99),
        errors=total["errors"],
        conflicts=total["conflicts"],
        other=total["other"],
        rss_mb=[s.peak_rss_mb(pid) for pid in server.workers],
        conflicts_per_s=sum(total["conflicts"].values()) / args.duration,
        server_cpu=[(b - a) / args.duration for a, b in zip(cpu0, cpu1, strict=True)],
        gen_cpu=sum(p["cpu"] for p in parts) / (args.warmup + args.duration),
    )


# --- the report ----------------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def print_table(title: str, results: dict[str, Result]) -> None:
    app, base = results.get("app"), results.get("baseline")
    cols = [(name, r) for name, r in (("app", app), ("baseline", base)) if r is not None]
    print(f"\n{title}")
    print(f"  {'':34}" + "".join(f"{name:>18}" for name, _ in cols))

    def row(label: str, fmt: Any) -> None:
        print(f"  {label:34}" + "".join(f"{fmt(r):>18}" for _, r in cols))

    row("requests/s (GET + POST)", lambda r: f"{r.requests:.0f}")
    row("bids/s (POST)", lambda r: f"{r.bids:.0f}")
    row("accepted bids/s (201)", lambda r: f"{r.accepted:.0f}")
    row("bid POST p50 / p99 (ms)", lambda r: f"{r.post_p50:.1f} / {r.post_p99:.1f}")
    row("GET p50 / p99 (ms)", lambda r: f"{r.get_p50:.1f} / {r.get_p99:.1f}")
    row("errors (5xx, timeouts, conn.)", lambda r: f"{sum(r.errors.values())}")
    row("409s/s (outbid, already leading)", lambda r: f"{r.conflicts_per_s:.0f}")
    row("peak RSS per worker (MB)", lambda r: " / ".join(f"{m:.0f}" for m in r.rss_mb))
    row("server CPU per worker (cores)", lambda r: " / ".join(f"{c:.2f}" for c in r.server_cpu))
    row("load generator CPU (cores)", lambda r: f"{r.gen_cpu:.2f}")
    if app and base:
        print(
            f"  ratio app/baseline: requests/s {_ratio(app.requests, base.requests)}, "
            f"accepted/s {_ratio(app.accepted, base.accepted)}"
        )
    for name, r in cols:
        if r.errors:
            print(f"  {name} errors: {dict(r.errors)}")
        if r.other:
            print(f"  {name} other answers: {dict(r.other.most_common(3))}")
        print(f"  {name} 409 codes: {dict(r.conflicts)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="postgresql+asyncpg:// admin URL (default: a temp SQLite file)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each window")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--only", choices=["app", "baseline"], help="run one side only")
    parser.add_argument(
        "--scenarios", default="1,2,3,4,5,6", help="which of the six scenarios to run (1-based, e.g. 3,4)"
    )
    parser.add_argument(
        "--paced-rate", type=float, default=150.0, help="bids/s offered in all by the paced scenarios 5 and 6"
    )
    args = parser.parse_args()

    paced = f"paced at {args.paced_rate:.0f} bids/s"
    scenarios = [
        ("1 auction, 16 bidders", True, 16, 0.0),
        ("1 auction, 64 bidders", True, 64, 0.0),
        (f"{MULTI} auctions, 16 bidders", False, 16, 0.0),
        (f"{MULTI} auctions, 64 bidders", False, 64, 0.0),
        (f"1 auction, 64 bidders {paced}", True, 64, args.paced_rate),
        (f"{MULTI} auctions, 64 bidders {paced}", False, 64, args.paced_rate),
    ]
    scenarios = [scenarios[int(i) - 1] for i in args.scenarios.split(",")]
    modes = [args.only] if args.only else ["app", "baseline"]
    results: dict[str, dict[str, Result]] = {name: {} for name, _, _, _ in scenarios}
    with s.fresh_database(args.database_url, "bids") as url:
        backend = s.backend_of(url)
        print(
            f"bid storm on {backend}: {args.workers} server workers, {args.generators} load generator "
            f"processes, {args.duration:.0f}s per scenario after {args.warmup:.0f}s warm-up; "
            f"{os.cpu_count()} CPUs, load average before setup {os.getloadavg()[0]:.1f}"
        )
        plans = [s.AuctionPlan(registrants=list(range(SINGLE_BIDDERS)))]
        for j in range(MULTI):
            a = j % 16
            b = (a + 1 + (j // 16) % 15) % 16
            plans.append(s.AuctionPlan(registrants=[a, b, 16 + j % 48, 16 + (j + 24) % 48]))
        market = asyncio.run(s.build_market(url, bidders=SINGLE_BIDDERS, plans=plans))
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.generators, mp_context=ctx) as pool:
            list(pool.map(time.sleep, [0.0] * args.generators))  # start the generator processes now
            for mode in modes:
                target, app_dir = TARGETS[mode]
                env = s.server_env(url, sandbox=False, BENCH_DATABASE_URL=url)
                with s.uvicorn_server(target, env, workers=args.workers, app_dir=app_dir) as server:
                    for name, single, n, rate in scenarios:
                        r = run_scenario(
                            pool, server, market, mode=mode, single=single, bidders=n, args=args, rate=rate
                        )
                        results[name][mode] = r
                        print(
                            f"  {mode:8} {name:26} {r.requests:6.0f} req/s {r.accepted:6.0f} accepted/s "
                            f"p99 {r.post_p99:6.1f} ms errors {sum(r.errors.values())}"
                        )
    for name, _, _, _ in scenarios:
        print_table(f"{name} ({backend})", results[name])
    print(f"\n{GOALS}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share the CPUs)")


if __name__ == "__main__":
    main()
