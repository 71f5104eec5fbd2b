"""SPEC §10 "Guarantees under concurrency": 40 bidders × 25 bids fired at once at one English auction.

Accepted bids form one strictly increasing sequence; no 201 is lost; the winner and price equal the highest
accepted bid; ends_at obeys the countdown rule; nothing is accepted after the close."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants

BIDDERS = 40
BIDS_EACH = 25
COUNTDOWN = 900
REFUSALS = {"bid_too_low", "bid_not_increment_multiple", "already_leading"}


@pytest.mark.slow
async def test_forty_bidders_twenty_five_bids_each(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(
        client,
        db,
        bidders=BIDDERS,
        deposit="1000.00",
        auction={"increment": "100.00", "free_bidding_minutes": 0, "countdown_seconds": COUNTDOWN},
    )
    first_end = datetime.fromisoformat((await h.state(client, case))["ends_at"])
    rng = random.Random(20261127)
    increment = Decimal("100.00")

    async def bidder(who: f.Actor, plan: list[tuple[int, bool]]) -> list[httpx.Response]:
        """One bidder's 25 bids in a row, each a guess at current + k × increment (a few off the grid)."""
        out = []
        for k, off_grid in plan:
            current = (await client.get(case.url)).json()["current_price"]
            amount = Decimal("100000.00") if current is None else Decimal(current) + k * increment
            if off_grid:
                amount += Decimal("50.00")
            out.append(await h.bid(client, case, who, f"{amount:.2f}"))
        return out

    plans = [[(rng.randint(1, 3), rng.random() < 0.05) for _ in range(BIDS_EACH)] for _ in case.bidders]
    results = await asyncio.gather(
        *[bidder(who, plan) for who, plan in zip(case.bidders, plans, strict=True)]
    )
    responses = [r for rs in results for r in rs]
    assert len(responses) == BIDDERS * BIDS_EACH

    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert accepted, "no bid was accepted"
    for r in refused:
        assert r.status_code == 409 and h.code_of(r) in REFUSALS, r.text

    listed = await h.all_bids(client, case)
    # No 201 lost, nothing extra.
    assert {b["id"] for b in listed} == {b["id"] for b in accepted}
    assert len(listed) == len(accepted)
    # One strictly increasing sequence, numbered without gaps.
    ordered = sorted(listed, key=lambda b: b["seq"])
    assert [b["seq"] for b in ordered] == list(range(1, len(ordered) + 1))
    amounts = [Decimal(b["amount"]) for b in ordered]
    assert all(a < b for a, b in itertools.pairwise(amounts))
    assert all((a - Decimal("100000.00")) % increment == 0 for a in amounts)
    # Never the same leader twice in a row.
    assert all(a["bidder_code"] != b["bidder_code"] for a, b in itertools.pairwise(ordered))

    view = await h.state(client, case)
    top = ordered[-1]
    assert view["bid_count"] == len(ordered)
    assert view["current_price"] == top["amount"] and view["leading_bidder_code"] == top["bidder_code"]
    # ends_at = max(first ends_at, every placed_at + countdown).
    expected_end = max(
        [first_end] + [datetime.fromisoformat(b["placed_at"]) + timedelta(seconds=COUNTDOWN) for b in ordered]
    )
    assert datetime.fromisoformat(view["ends_at"]) == expected_end
    for b in accepted:
        assert datetime.fromisoformat(b["ends_at"]) >= datetime.fromisoformat(b["placed_at"]) + timedelta(
            seconds=COUNTDOWN
        )

    # The close: the highest accepted bid wins at its price; nothing is accepted afterwards.
    await t.advance_past(client, view["ends_at"])
    late = await asyncio.gather(*[h.bid(client, case, who, "999999900.00") for who in case.bidders[:10]])
    assert all(r.status_code == 409 and h.code_of(r) == "auction_not_open" for r in late)
    closed = await h.state(client, case)
    assert closed["status"] == "closed" and closed["bid_count"] == len(ordered)
    assert closed["winner_bidder_code"] == top["bidder_code"] and closed["current_price"] == top["amount"]
    deal = (await client.get(f"/api/v1/deals/{closed['deal_id']}", headers=case.op.headers)).json()
    assert deal["price"] == top["amount"]
    assert all(
        datetime.fromisoformat(b["placed_at"]) < datetime.fromisoformat(closed["ends_at"]) for b in ordered
    )
    assert len(await h.all_bids(client, case)) == len(ordered)
    await assert_invariants(db)


async def test_requests_never_hold_two_connections(client: httpx.AsyncClient, db, backend) -> None:  # type: ignore[no-untyped-def]
    """Authentication, the sandbox clock and an unknown bidder are read before the write transaction, in a
    short session of their own, and never while the request holds a connection: on a pool of one (or one
    plus one overflow) connection, concurrent bids by bidders the process does not know yet, and reads,
    all finish. A request holding one connection while waiting for a second would wait forever here."""
    from app.auctions import service
    from app.kit.db import create_database
    from app.main import create_app
    from tests.conftest import make_settings

    case = await h.open_auction(client, db, bidders=6)
    small = create_database(backend.url, pool_size=1)
    try:
        transport = httpx.ASGITransport(app=create_app(make_settings(backend.url), db=small))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as tight:
            service._BIDDERS.clear()

            async def bid(i: int, who: f.Actor) -> int:
                r = await tight.post(
                    f"{case.url}/bids", json={"amount": f"{100000 + 1000 * i:.2f}"}, headers=who.headers
                )
                await tight.get(f"{case.url}/bids", headers=who.headers)
                return r.status_code

            statuses = await asyncio.wait_for(
                asyncio.gather(*(bid(i, who) for i, who in enumerate(case.bidders * 2))), 20
            )
    finally:
        await small.dispose()
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    await assert_invariants(db)
