"""Dutch auctions (SPEC §10 荷兰式): the clock price falls by steps to the floor; the first acceptance wins
at the current price and closes the auction; reaching ends_at without one fails it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants

DUTCH = {
    "format": "dutch",
    "decrement": "5000.00",
    "step_seconds": 60,
    "floor_price": "80000.00",
}


async def accept(client: httpx.AsyncClient, case: h.AuctionCase, who, **headers: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.post(f"{case.url}/accept", headers={**who.headers, **headers})


async def test_clock_price_and_first_acceptance_wins(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=3, auction=DUTCH)
    b1, b2, b3 = case.bidders
    view = await h.state(client, case)
    starts = datetime.fromisoformat(view["starts_at"])
    # Four steps to the floor; ends one step after the price first reaches it.
    assert datetime.fromisoformat(view["ends_at"]) == starts + timedelta(seconds=5 * 60)
    assert view["current_price"] == "100000.00"
    await t.advance(client, 61)
    assert (await h.state(client, case))["current_price"] == "95000.00"
    await t.advance(client, 120)
    assert (await h.state(client, case))["current_price"] == "85000.00"
    # English-style bids are not how a Dutch auction is won.
    assert h.code_of(await h.bid(client, case, b1, "85000.00")) == "invalid_state"
    r = await accept(client, case, b2, **{"Idempotency-Key": "a1"})
    assert r.status_code == 200, r.text
    won = r.json()
    assert won["status"] == "closed" and won["current_price"] == "85000.00"
    assert won["winner_bidder_code"] == "B02" and won["deal_id"]
    replay = await accept(client, case, b2, **{"Idempotency-Key": "a1"})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    for who in (b1, b3):
        r = await accept(client, case, who)
        assert r.status_code == 409 and h.code_of(r) == "auction_closed"
    deal = (await client.get(f"/api/v1/deals/{won['deal_id']}", headers=b2.headers)).json()
    assert deal["price"] == "85000.00" and deal["source"] == "auction"
    assert await t.balance(client, b1) == {"available": "10000.00", "held": "0.00"}
    assert await t.balance(client, b2) == {"available": "0.00", "held": "10000.00"}
    bids = await h.all_bids(client, case)
    assert [(b["bidder_code"], b["amount"]) for b in bids] == [("B02", "85000.00")]
    # The closed auction keeps showing the winning price, not the clock.
    await t.advance(client, 600)
    assert (await h.state(client, case))["current_price"] == "85000.00"
    # The close is the exchange's act: the seller reads it in the auction's trail, not the acceptance, which
    # names the bidder's user (SPEC §20).
    trail = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "auction", "entity_id": case.id},
        headers=case.seller.headers,
    )
    actions = [e["action"] for e in trail.json()["items"]]
    assert "closed" in actions and "bid_accepted" not in actions
    assert all(e["actor"] == "system" for e in trail.json()["items"] if e["action"] == "closed")
    await assert_invariants(db)


async def test_concurrent_acceptances_one_winner(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, bidders=6, auction=DUTCH)
    responses = await asyncio.gather(*[accept(client, case, who) for who in case.bidders])
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == 1
    assert all(h.code_of(r) == "auction_closed" for r in responses if r.status_code != 200)
    view = await h.state(client, case)
    assert view["bid_count"] == 1 and view["winner_bidder_code"] == ok[0].json()["winner_bidder_code"]
    await assert_invariants(db)


async def test_not_open_and_failure_at_ends_at(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db, auction=DUTCH, opened=False)
    r = await accept(client, case, case.bidders[0])
    assert r.status_code == 409 and h.code_of(r) == "auction_not_open"
    await h.start(client, db, case)
    view = await h.state(client, case)
    await t.advance(client, 4 * 60 + 1)
    assert (await h.state(client, case))["current_price"] == "80000.00"  # the floor
    await t.advance_past(client, view["ends_at"])
    view = await h.state(client, case)
    assert view["status"] == "failed" and view["bid_count"] == 0
    r = await accept(client, case, case.bidders[0])
    assert r.status_code == 409 and h.code_of(r) == "auction_closed"
    for b in case.bidders:
        assert await t.balance(client, b) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db, all_resolved=True)


async def test_accept_is_only_for_dutch_auctions(client: httpx.AsyncClient, db) -> None:
    case = await h.open_auction(client, db)
    r = await accept(client, case, case.bidders[0])
    assert r.status_code == 409 and h.code_of(r) == "invalid_state"
    r = await accept(client, case, case.seller)
    assert r.status_code == 403 and h.code_of(r) == "not_qualified"
