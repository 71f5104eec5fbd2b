"""The whole path through the public API: registrations, the listing end opening the auction, bids, the
close. Also the catch-up case: one clock jump past both the listing end and the auction's end closes the
auction as of its stored ends_at."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from app.models.trading import Auction
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.invariants import assert_invariants


async def _registered(
    client: httpx.AsyncClient, db, n: int, **listing: Any
) -> tuple[dict[str, Any], list[f.Actor], f.Actor]:  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    seller = await f.organization(client, kind="university", verified_by=op)
    item = await t.published_listing(client, op, seller, price="100000.00", deposit="10000.00", **listing)
    buyers = []
    for _ in range(n):
        buyer = await f.organization(client, verified_by=op)
        await t.fund(client, op, buyer, "10000.00")
        r = await client.post(f"/api/v1/listings/{item['id']}/registrations", headers=buyer.headers)
        assert r.status_code == 201, r.text
        buyers.append(buyer)
    return item, buyers, seller


async def test_registered_bidders_win_through_the_api(client: httpx.AsyncClient, db) -> None:
    listing, (b1, b2), _ = await _registered(
        client,
        db,
        2,
        pricing_mode="auction",
        auction={
            "format": "english",
            "increment": "1000.00",
            "free_bidding_minutes": 0,
            "countdown_seconds": 300,
        },
    )
    await t.advance_past(client, listing["listing_ends_at"])
    url = f"/api/v1/auctions/{listing['auction_id']}"
    assert (await client.get(url)).json()["status"] == "open"
    assert (
        await client.post(f"{url}/bids", json={"amount": "100000.00"}, headers=b1.headers)
    ).status_code == 201
    r = await client.post(f"{url}/bids", json={"amount": "105000.00"}, headers=b2.headers)
    assert r.status_code == 201, r.text
    await t.advance_past(client, r.json()["ends_at"])
    view = (await client.get(url)).json()
    assert view["status"] == "closed" and view["current_price"] == "105000.00" and view["deal_id"]
    assert await t.balance(client, b1) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db)


async def test_catch_up_closes_at_the_stored_ends_at(client: httpx.AsyncClient, db) -> None:
    listing, _, _ = await _registered(
        client,
        db,
        2,
        pricing_mode="auction",
        auction={
            "format": "english",
            "increment": "1000.00",
            "free_bidding_minutes": 5,
            "countdown_seconds": 300,
        },
    )
    # One jump far past the listing end and the auction's first ends_at (an auction "opened late").
    await t.advance_past(client, listing["listing_ends_at"], margin=7 * 24 * 3600)
    view = (await client.get(f"/api/v1/auctions/{listing['auction_id']}")).json()
    assert view["status"] == "failed" and view["starts_at"].startswith(listing["listing_ends_at"][:16])
    async with db.read() as session:
        auction = await session.scalar(select(Auction).where(Auction.id == uuid.UUID(listing["auction_id"])))
        assert auction is not None and auction.closed_at == auction.ends_at
    await assert_invariants(db, all_resolved=True)


async def test_listed_trading_auction_without_bids_forfeits(client: httpx.AsyncClient, db) -> None:
    listing, buyers, seller = await _registered(
        client, db, 2, pricing_mode="listed", auction={"format": "english", "increment": "1000.00"}
    )
    await t.advance_past(client, listing["listing_ends_at"], margin=3600)
    item = (await client.get(f"/api/v1/listings/{listing['id']}")).json()
    assert item["status"] == "failed"
    view = (await client.get(f"/api/v1/auctions/{item['auction_id']}")).json()
    assert view["status"] == "failed" and view["bid_count"] == 0
    for buyer in buyers:
        assert await t.balance(client, buyer) == {"available": "0.00", "held": "0.00"}
    assert (await t.balance(client, seller))["available"] == "20000.00"
    events = await h.read_events(await client.get(f"/api/v1/auctions/{item['auction_id']}/events"))
    assert [e["event"] for e in events] == ["failed"]
    await assert_invariants(db, all_resolved=True)
