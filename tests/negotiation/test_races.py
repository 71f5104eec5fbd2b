"""Races (SPEC §8 "exactly one acceptance can win a race"): concurrent requests through the ASGI client; on
PostgreSQL the pool gives each its own connection and transaction, on SQLite BEGIN IMMEDIATE serialises them."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from app.models.trading import Deal, Offer
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.negotiation import helpers as h
from tests.world import World

BUYERS = 20


async def test_twenty_acceptances_on_one_exclusive_listing(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    buyers = [await f.organization(client, verified_by=world.op) for _ in range(BUYERS)]
    offers = [
        await h.offer(client, buyer, listing["id"], f"{400000 + i}.00") for i, buyer in enumerate(buyers)
    ]

    responses = await asyncio.gather(
        *(client.post(f"/api/v1/offers/{o['id']}/accept", headers=world.uni.headers) for o in offers)
    )
    won = [r for r in responses if r.status_code == 200]
    lost = [r for r in responses if r.status_code != 200]
    assert len(won) == 1, [r.text for r in responses]
    assert len(lost) == BUYERS - 1
    assert all(r.status_code == 409 and r.json()["code"] == "invalid_state" for r in lost), [
        r.text for r in lost
    ]
    winner = won[0].json()
    assert winner["status"] == "accepted" and winner["deal_id"]

    async with db.read() as session:
        deals = (await session.scalars(select(Deal).where(Deal.listing_id == uuid.UUID(listing["id"])))).all()
        statuses = dict(
            (
                await session.execute(
                    select(Offer.status, func.count())
                    .where(Offer.listing_id == uuid.UUID(listing["id"]))
                    .group_by(Offer.status)
                )
            ).all()
        )
    assert len(deals) == 1 and str(deals[0].id) == winner["deal_id"]
    assert str(deals[0].offer_id) == winner["id"] and deals[0].price == int(winner["price"][:-3]) * 100
    assert statuses == {"accepted": 1, "closed": BUYERS - 1}
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "under_contract"
    await assert_invariants(db)


async def test_one_offer_accepted_twice_at_once(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(
        client,
        world.op,
        world.uni,
        transaction_kind="nonexclusive_license",
        license={"term_months": 12, "territory": "浙江", "field_of_use": "储能"},
    )
    offer = await h.offer(client, world.buyer, listing["id"])
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/offers/{offer['id']}/accept", headers=world.uni.headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Deal))
    assert count == 1
    await assert_invariants(db)


async def test_concurrent_offers_in_one_thread(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/listings/{listing['id']}/offers",
                json={"price": f"{100000 + i}.00"},
                headers=world.buyer.headers,
            )
            for i in range(8)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7, [r.text for r in responses]
    assert all(r.json()["code"] == "offer_already_open" for r in responses if r.status_code == 409)
    assert len((await h.offers_of(client, world.uni, listing["id"]))["items"]) == 1
    await assert_invariants(db)


async def test_counter_races_acceptance_of_another_thread(
    client: httpx.AsyncClient, db, world: World
) -> None:
    """A counter in one thread and an acceptance in another on an exclusive listing: whichever order they
    take, no open offer is left on a listing under contract."""
    listing = await t.published_listing(client, world.op, world.uni)
    a = await h.offer(client, world.buyer, listing["id"])
    b = await h.offer(client, world.other, listing["id"])
    await asyncio.gather(
        client.post(f"/api/v1/offers/{a['id']}/accept", headers=world.uni.headers),
        client.post(
            f"/api/v1/offers/{b['id']}/counter", json={"price": "480000.00"}, headers=world.uni.headers
        ),
    )
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "under_contract"
    assert (await h.offers_of(client, world.uni, listing["id"], status="open"))["items"] == []
    await assert_invariants(db)
