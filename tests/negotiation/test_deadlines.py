"""Offer expiry and the end of a negotiated listing's period (SPEC §8, §9 extension rule), through the sandbox
clock (which processes every deadline that fell due) and before any sweep (lazy reads, refusal at the end)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update

from app.models.listings import Listing
from tests import trading as t
from tests.invariants import assert_invariants
from tests.negotiation import helpers as h
from tests.world import World


async def audit_events(client: httpx.AsyncClient, world: World, offer_id: str) -> list[tuple[str, str, str]]:
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "offer", "entity_id": offer_id},
        headers=world.op.headers,
    )
    assert r.status_code == 200, r.text
    return [(e["action"], e["actor"], e["at"]) for e in r.json()["items"]]


async def test_offer_expires_at_its_time(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    expires = (await t.now(client)) + timedelta(hours=1)
    offer = await h.offer(client, world.buyer, listing["id"], expires_at=expires.isoformat())
    counter_me = await h.offer(
        client, world.other, listing["id"], expires_at=(expires + timedelta(days=1)).isoformat()
    )
    await t.advance(client, 2 * 3600)
    seen = await h.get_offer(client, world.buyer, offer["id"])
    assert seen["status"] == "expired"
    assert (await h.get_offer(client, world.other, counter_me["id"]))["status"] == "open"
    [_made, expired] = await audit_events(client, world, offer["id"])
    assert expired[0] == "expired" and expired[1] == "system"
    assert datetime.fromisoformat(expired[2]) == expires

    await h.move(client, world.uni, offer["id"], "accept", expect=409, code="offer_expired")
    await h.move(
        client, world.uni, offer["id"], "counter", {"price": "1.00"}, expect=409, code="offer_expired"
    )
    await h.move(client, world.uni, offer["id"], "reject", expect=409, code="offer_expired")
    await h.move(client, world.buyer, offer["id"], "withdraw", expect=409, code="offer_expired")
    # The thread is free again.
    await h.offer(client, world.buyer, listing["id"], "460000.00")
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "published"
    await assert_invariants(db)


async def test_lapsed_offer_is_expired_before_any_sweep(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    expires = (await t.now(client)) + timedelta(seconds=1)
    offer = await h.offer(client, world.buyer, listing["id"], expires_at=expires.isoformat())
    await asyncio.sleep(1.2)  # the business clock runs at real speed; nothing sweeps in tests
    assert (await h.get_offer(client, world.uni, offer["id"]))["status"] == "expired"
    page = await h.offers_of(client, world.uni, listing["id"], status="expired")
    assert [o["id"] for o in page["items"]] == [offer["id"]]
    assert (await h.offers_of(client, world.uni, listing["id"], status="open"))["items"] == []
    await h.move(client, world.uni, offer["id"], "accept", expect=409, code="offer_expired")
    # A new offer in the thread expires the lapsed one on the spot, as of its own time.
    await h.offer(client, world.buyer, listing["id"], "460000.00")
    events = await audit_events(client, world, offer["id"])
    assert [(a, actor) for a, actor, _ in events] == [
        ("made", f"user:{world.buyer.id}"),
        ("expired", "system"),
    ]
    assert datetime.fromisoformat(events[1][2]) == expires
    await assert_invariants(db)


async def test_counter_with_expiry(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"])
    now = await t.now(client)
    await h.move(
        client,
        world.uni,
        offer["id"],
        "counter",
        {"price": "1.00", "expires_at": (now - timedelta(minutes=1)).isoformat()},
        expect=422,
    )
    counter = await h.move(
        client,
        world.uni,
        offer["id"],
        "counter",
        {"price": "490000.00", "expires_at": (now + timedelta(hours=3)).isoformat()},
    )
    await t.advance(client, 4 * 3600)
    assert (await h.get_offer(client, world.buyer, counter["id"]))["status"] == "expired"
    await h.move(client, world.buyer, counter["id"], "accept", expect=409, code="offer_expired")
    await assert_invariants(db)


async def test_listing_end_extends_then_expires_with_its_offers(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    first_end = datetime.fromisoformat(listing["listing_ends_at"])
    open_ended = await h.offer(client, world.buyer, listing["id"])
    timed = await h.offer(
        client, world.other, listing["id"], expires_at=(first_end + timedelta(hours=1)).isoformat()
    )

    await t.advance_past(client, first_end)
    extended = await h.listing(client, world.uni, listing["id"])
    assert extended["status"] == "published" and extended["extensions_used"] == 1
    second_end = datetime.fromisoformat(extended["listing_ends_at"])
    assert second_end > first_end
    assert (await h.get_offer(client, world.buyer, open_ended["id"]))["status"] == "open"
    assert (await h.get_offer(client, world.other, timed["id"]))["status"] == "open"

    await t.advance_past(client, second_end)
    ended = await h.listing(client, world.uni, listing["id"])
    assert ended["status"] == "expired" and ended["listing_ends_at"] == extended["listing_ends_at"]
    assert (await h.get_offer(client, world.buyer, open_ended["id"]))["status"] == "expired"
    assert (await h.get_offer(client, world.other, timed["id"]))["status"] == "expired"
    [_, expired] = await audit_events(client, world, open_ended["id"])
    assert expired[:2] == ("expired", "system") and datetime.fromisoformat(expired[2]) == second_end
    # The timed offer lapsed at its own time, before the listing ended.
    [_, lapsed] = await audit_events(client, world, timed["id"])
    assert datetime.fromisoformat(lapsed[2]) == first_end + timedelta(hours=1)

    await h.offer(client, world.outsider, listing["id"], expect=409)
    await h.move(client, world.uni, open_ended["id"], "accept", expect=409, code="offer_expired")
    await assert_invariants(db)


async def test_nothing_is_taken_after_the_listing_end_even_before_the_sweep(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"])
    # The period ends a moment ago and no sweep has run yet.
    async with db.transaction() as session:
        await session.execute(
            update(Listing)
            .where(Listing.id == uuid.UUID(listing["id"]))
            .values(listing_ends_at=(await t.now(client)) - timedelta(seconds=1))
        )
    await h.move(client, world.uni, offer["id"], "accept", expect=409, code="invalid_state")
    await h.move(
        client, world.uni, offer["id"], "counter", {"price": "1.00"}, expect=409, code="invalid_state"
    )
    await h.offer(client, world.other, listing["id"], expect=409)
    # Withdrawing is still possible: it binds nobody.
    await h.move(client, world.buyer, offer["id"], "withdraw")
    await assert_invariants(db)
