"""Close storm: a thousand English auctions ending at the same instant, closed by the sweepers.

    python bench/close_storm.py [--database-url URL] [--auctions 1000] [--workers 2]

Without ``--database-url`` the database is a fresh SQLite file under a temporary directory; a PostgreSQL URL
is an admin URL: a scratch database ``bench_close_<pid>`` is created next to it and dropped at the end.

Setup (not timed, ``_setup.build_market``): 30 funded bidder organizations; N English auctions opened at the
same instant with free bidding 60 minutes and countdown 300 s, so all of them end at the same instant; 3
qualified registrants each (deposits held). Through the real server (``uvicorn app.asgi:app --workers 2``,
sandbox): two bids per auction during free bidding (no extension), except that every tenth auction gets
no bid and every tenth more has a reserve above its bids. Expected: 80 % closed with a winner and a deal
(2 deposits refunded, the winner's still held), 20 % failed (3 deposits refunded).

Timed: ``POST /api/v1/sandbox/clock`` past that instant (the worker that takes it runs the sweeper until
idle, closing the due auctions in batches of ``app.auctions.closing.CLOSE_BATCH`` per transaction; the other
worker's own sweeper loop joins in within its 1 s interval), then polling the database
until every auction is closed or failed, every loser's deposit refunded and every winner has a deal. Then
the trial balance (``GET /api/v1/ledger/trial-balance`` as an operator) must be balanced. Prints the wall
times, the outcome counts, and how the CPU time of the two workers was shared during the storm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup as s

BIDDERS = 30
GOAL_SECONDS = 10.0


def plans(n: int) -> list[s.AuctionPlan]:
    out = []
    for j in range(n):
        reserve = 100_000_00 + 10 * 100_00 if j % 10 == 8 else None
        out.append(
            s.AuctionPlan(
                registrants=[j % BIDDERS, (j + 1) % BIDDERS, (j + 2) % BIDDERS],
                free_bidding_minutes=60,
                countdown_seconds=300,
                reserve=reserve,
            )
        )
    return out


async def place_bids(server: s.Server, market: s.Market, concurrency: int = 16) -> int:
    tokens = {b.index: b.token for b in market.bidders}
    queue: asyncio.Queue[s.AuctionInfo] = asyncio.Queue()
    for k, info in enumerate(market.auctions):
        if k % 10 != 9:
            queue.put_nowait(info)
    placed = 0

    async def worker() -> None:
        nonlocal placed
        async with s.connection(server.base) as conn:
            while not queue.empty():
                info = queue.get_nowait()
                first, second = list(info.registrations)[:2]
                for who, amount in ((first, info.start_price), (second, info.start_price + info.increment)):
                    status, body = await conn.request(
                        "POST",
                        f"/api/v1/auctions/{info.id}/bids",
                        {"amount": s.yuan(amount)},
                        {"Authorization": f"Bearer {tokens[who]}"},
                    )
                    assert status == 201, body
                    placed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return placed


async def outcome(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from app.kit.db import create_database
    from app.models.trading import Auction, Deal, Registration

    db = create_database(url, pool_size=1)
    try:
        async with db.read() as session:
            statuses = dict(
                (await session.execute(select(Auction.status, func.count()).group_by(Auction.status))).all()
            )
            deposits = dict(
                (
                    await session.execute(
                        select(Registration.deposit_status, func.count()).group_by(
                            Registration.deposit_status
                        )
                    )
                ).all()
            )
            # a held deposit is fine only for the winner of a closed auction
            stray = await session.scalar(
                select(func.count())
                .select_from(Registration)
                .join(Auction, Auction.listing_id == Registration.listing_id)
                .where(
                    Registration.deposit_status == "held",
                    (Auction.winner_registration_id.is_(None))
                    | (Auction.winner_registration_id != Registration.id),
                )
            )
            deals = await session.scalar(
                select(func.count())
                .select_from(Deal)
                .where(Deal.auction_id.is_not(None), Deal.source == "auction")
            )
            closed_without_deal = await session.scalar(
                select(func.count())
                .select_from(Auction)
                .where(Auction.status == "closed", Auction.deal_id.is_(None))
            )
    finally:
        await db.dispose()
    return {
        **{f"auctions {k}": v for k, v in statuses.items()},
        **{f"deposits {k}": v for k, v in deposits.items()},
        "stray held deposits": stray or 0,
        "deals": deals or 0,
        "closed without deal": closed_without_deal or 0,
    }


def done(counts: dict[str, int]) -> bool:
    return (
        counts.get("auctions open", 0) == 0
        and counts["stray held deposits"] == 0
        and counts["closed without deal"] == 0
        and counts["deals"] == counts.get("auctions closed", 0)
    )


async def storm(server: s.Server, market: s.Market, url: str) -> None:
    op = {"Authorization": f"Bearer {market.operator_token}"}
    async with s.connection(server.base, limit=600) as conn:
        status, body = await conn.request("GET", "/api/v1/sandbox/clock")
        now = datetime.fromisoformat(json.loads(body)["now"])
        ends_at = market.auctions[0].ends_at
        assert all(a.ends_at == ends_at for a in market.auctions), "every auction ends at the same instant"
        before = await outcome(url)
        assert before.get("auctions open") == len(market.auctions), before
        gap = s.seconds_until(ends_at, now) + 1.0
        cpu0 = {pid: s.cpu_seconds(pid) for pid in server.workers}
        t0 = time.perf_counter()
        status, body = await conn.request(
            "POST", "/api/v1/sandbox/clock", {"advance_seconds": gap}, headers=op
        )
        answered = time.perf_counter() - t0
        assert status == 200, body
        counts = await outcome(url)
        while not done(counts) and time.perf_counter() - t0 < 300:
            await asyncio.sleep(0.05)
            counts = await outcome(url)
        finished = time.perf_counter() - t0
        cpu = {pid: s.cpu_seconds(pid) - cpu0[pid] for pid in server.workers}
        status, body = await conn.request("GET", "/api/v1/ledger/trial-balance", headers=op)
        balance = json.loads(body)
    n = len(market.auctions)
    print(f"\nclose storm ({s.backend_of(url)}): {n} English auctions ending at {ends_at.isoformat()}")
    print(f"  clock advanced by {gap:.0f}s; POST /sandbox/clock answered after {answered:.2f}s")
    print(
        f"  everything closed, refunded and dealt after {finished:.2f}s  (goal: within {GOAL_SECONDS:.0f}s)"
    )
    print(f"  {n / finished:.0f} auctions closed per second")
    for key, value in sorted(counts.items()):
        print(f"    {key:28} {value}")
    print(f"  complete: {done(counts)}; trial balance: balanced={balance.get('balanced')} (HTTP {status})")
    total = sum(cpu.values()) or 1.0
    shares = ", ".join(f"pid {pid}: {sec:.1f}s CPU ({sec / total:.0%})" for pid, sec in cpu.items())
    print(f"  work shared by the workers (CPU during the storm): {shares}")
    print(f"  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes share them)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="postgresql+asyncpg:// admin URL (default: a temp SQLite file)"
    )
    parser.add_argument("--auctions", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with s.fresh_database(args.database_url, "close") as url:
        print(f"close storm on {s.backend_of(url)}: {args.auctions} auctions, {args.workers} server workers")
        market = asyncio.run(s.build_market(url, bidders=BIDDERS, plans=plans(args.auctions)))
        with tempfile.TemporaryDirectory(prefix="bench-close-log-") as tmp:
            log = Path(tmp) / "server.log"
            with s.uvicorn_server("app.asgi:app", s.server_env(url), workers=args.workers, log=log) as server:
                t0 = time.perf_counter()
                placed = asyncio.run(place_bids(server, market))
                print(f"  setup: {placed} bids placed through the API in {time.perf_counter() - t0:.1f}s")
                asyncio.run(storm(server, market, url))
            errors = Counter()
            for line in log.read_text(errors="replace").splitlines():
                if '"level": "error"' in line or "Traceback" in line:
                    cause = re.search(r"(deadlock detected|[A-Za-z]+Error: [^\\]{0,60})", line)
                    errors[cause.group(1) if cause else line[:80]] += 1
            print(f"  server error log: {sum(errors.values())} errors {dict(errors.most_common(5))}")


if __name__ == "__main__":
    main()
