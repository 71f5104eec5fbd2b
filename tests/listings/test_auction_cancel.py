"""Withdrawing or terminating an auction listing cancels its auction (SPEC §20): the auction reads
``cancelled``, its trail says so, the sweeper never opens or closes it, and no bid is taken."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants

TERMS = {"format": "english", "increment": "1000.00", "free_bidding_minutes": 0, "countdown_seconds": 300}


async def _auction_listing(client: httpx.AsyncClient, db: Any) -> tuple[f.Actor, f.Actor, dict[str, Any]]:
    op = await f.operator(client, db)
    seller = await f.organization(client, kind="university", verified_by=op)
    listing = await t.published_listing(
        client, op, seller, pricing_mode="auction", price="100000.00", deposit="10000.00", auction=TERMS
    )
    assert listing["auction_id"]
    return op, seller, listing


async def _register(client: httpx.AsyncClient, op: f.Actor, listing: dict[str, Any]) -> f.Actor:
    buyer = await f.organization(client, verified_by=op)
    await t.fund(client, op, buyer, "10000.00")
    r = await client.post(f"/api/v1/listings/{listing['id']}/registrations", headers=buyer.headers)
    assert r.status_code == 201, r.text
    return buyer


async def _auction(client: httpx.AsyncClient, listing: dict[str, Any]) -> dict[str, Any]:
    r = await client.get(f"/api/v1/auctions/{listing['auction_id']}")
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _trail(client: httpx.AsyncClient, op: f.Actor, listing: dict[str, Any]) -> list[str]:
    params = {"entity_type": "auction", "entity_id": listing["auction_id"]}
    r = await client.get("/api/v1/audit-events", params=params, headers=op.headers)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


async def test_withdrawal_cancels_the_scheduled_auction(client: httpx.AsyncClient, db) -> None:  # type: ignore[no-untyped-def]
    op, seller, listing = await _auction_listing(client, db)
    assert (await _auction(client, listing))["status"] == "scheduled"
    r = await client.post(f"/api/v1/listings/{listing['id']}/withdraw", headers=seller.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    assert (await _auction(client, listing))["status"] == "cancelled"
    assert await _trail(client, op, listing) == ["scheduled", "cancelled"]
    # The end of the listing period passes: nothing opens it.
    await t.advance_past(client, listing["listing_ends_at"], margin=3600)
    assert (await _auction(client, listing))["status"] == "cancelled"
    r = await client.get(f"/api/v1/listings/{listing['id']}", headers=seller.headers)
    assert r.json()["status"] == "withdrawn"
    assert await _trail(client, op, listing) == ["scheduled", "cancelled"]
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True
    await assert_invariants(db)


async def test_termination_cancels_the_scheduled_auction(client: httpx.AsyncClient, db) -> None:  # type: ignore[no-untyped-def]
    op, _seller, listing = await _auction_listing(client, db)
    buyer = await _register(client, op, listing)
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/terminate", json={"reason": "核查"}, headers=op.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "terminated", r.text
    assert (await _auction(client, listing))["status"] == "cancelled"
    assert await t.balance(client, buyer) == {"available": "10000.00", "held": "0.00"}
    await t.advance_past(client, listing["listing_ends_at"], margin=3600)
    assert (await _auction(client, listing))["status"] == "cancelled"
    assert await _trail(client, op, listing) == ["scheduled", "cancelled"]
    await assert_invariants(db)


async def test_termination_cancels_the_open_auction(client: httpx.AsyncClient, db) -> None:  # type: ignore[no-untyped-def]
    op, _seller, listing = await _auction_listing(client, db)
    b1, b2 = await _register(client, op, listing), await _register(client, op, listing)
    await t.advance_past(client, listing["listing_ends_at"])
    url = f"/api/v1/auctions/{listing['auction_id']}"
    assert (await _auction(client, listing))["status"] == "open"
    r = await client.post(f"{url}/bids", json={"amount": "100000.00"}, headers=b1.headers)
    assert r.status_code == 201, r.text
    ends_at = r.json()["ends_at"]
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/terminate", json={"reason": "核查"}, headers=op.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "terminated", r.text
    assert (await _auction(client, listing))["status"] == "cancelled"
    r = await client.post(f"{url}/bids", json={"amount": "101000.00"}, headers=b2.headers)
    assert r.status_code == 409 and r.json()["code"] == "auction_not_open", r.text
    # Its end passes: the sweeper does not close it (no deal, no winner), the deposits are back.
    await t.advance_past(client, ends_at, margin=3600)
    view = await _auction(client, listing)
    assert view["status"] == "cancelled" and view["deal_id"] is None
    assert await _trail(client, op, listing) == ["scheduled", "opened", "bid_accepted", "cancelled"]
    for buyer in (b1, b2):
        assert await t.balance(client, buyer) == {"available": "10000.00", "held": "0.00"}
    await assert_invariants(db)
