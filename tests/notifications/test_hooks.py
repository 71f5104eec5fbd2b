"""The notifications other domains send (SPEC §17.4), each to exactly its recipients with exactly its data, in
the transaction of the change: offers, deals entering signing and payment, objections, licence records,
relisting. A refused request leaves none."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from app.kit.db import Database
from app.notifications import service as notifications
from tests import factories as f
from tests import trading as t
from tests.negotiation import helpers as n
from tests.notifications import helpers as h
from tests.registrations import helpers as r
from tests.settlement import helpers as s
from tests.world import World

API = "/api/v1"


async def test_offers_tell_the_party_that_answers(client: httpx.AsyncClient, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    lid = listing["id"]
    offer = await n.offer(client, world.buyer, lid, "450000.00")
    received = {world.seller.org_id: [{"offer_id": offer["id"], "listing_id": lid, "price": "450000.00"}]}
    assert await h.received(client, world.orgs, "offer_received") == received

    # Refused: a second open offer in the thread (409), the seller's own offer (403), an unknown listing.
    await n.offer(client, world.buyer, lid, "460000.00", expect=409)
    await n.offer(client, world.seller, lid, expect=403)
    assert await h.received(client, world.orgs, "offer_received") == received

    counter = await n.move(client, world.seller, offer["id"], "counter", {"price": "480000.00"})
    to_buyer = {"offer_id": counter["id"], "listing_id": lid, "price": "480000.00"}
    assert await h.received(client, world.orgs, "offer_countered") == {world.buyer.org_id: [to_buyer]}
    back = await n.move(client, world.buyer, counter["id"], "counter", {"price": "470000.00"})
    to_seller = {"offer_id": back["id"], "listing_id": lid, "price": "470000.00"}
    assert await h.received(client, world.orgs, "offer_countered") == {
        world.buyer.org_id: [to_buyer],
        world.seller.org_id: [to_seller],
    }
    # Countering an offer one made oneself is refused: nothing sent.
    await n.move(client, world.buyer, back["id"], "counter", {"price": "1.00"}, expect=403)
    assert len(await h.inbox(client, world.seller, "offer_countered")) == 1

    accepted = await n.move(client, world.seller, back["id"], "accept")
    assert await h.received(client, world.orgs, "offer_accepted") == {
        world.buyer.org_id: [{"offer_id": back["id"], "listing_id": lid, "deal_id": accepted["deal_id"]}]
    }
    await n.move(client, world.seller, back["id"], "accept", expect=409)  # a second acceptance: nothing
    assert len(await h.inbox(client, world.buyer, "offer_accepted")) == 1
    assert offer["id"] != back["id"] and await h.inbox(client, world.other) == []


async def test_an_accepted_counter_tells_the_seller_who_made_it(
    client: httpx.AsyncClient, world: World
) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    offer = await n.offer(client, world.buyer, listing["id"], "450000.00")
    counter = await n.move(client, world.seller, offer["id"], "counter", {"price": "490000.00"})
    accepted = await n.move(client, world.buyer, counter["id"], "accept")
    assert await h.received(client, world.orgs, "offer_accepted") == {
        world.seller.org_id: [
            {"offer_id": counter["id"], "listing_id": listing["id"], "deal_id": accepted["deal_id"]}
        ]
    }


async def test_signing_and_payment_due(client: httpx.AsyncClient, db: Database, world: World) -> None:
    case = await s.offer_deal(
        client, db, actors=(world.op, world.seller, world.buyer, world.outsider), price="300000.00"
    )
    deal = case.deal
    assert deal["status"] == "awaiting_signatures"
    signing = {"deal_id": deal["id"], "sign_by": deal["sign_by"]}
    assert await h.received(client, world.orgs, "deal_signing_due") == {
        world.seller.org_id: [signing],
        world.buyer.org_id: [signing],
    }
    (note,) = await h.inbox(client, world.buyer, "deal_signing_due")
    assert note["created_at"] == deal["created_at"]

    await s.sign(client, world.seller, deal["contract_id"])
    assert await h.received(client, world.orgs, "payment_due") == {}  # one signature is not enough
    await s.sign(client, world.buyer, deal["contract_id"])
    deal = await s.get(client, world.buyer, deal["id"])
    assert deal["status"] == "awaiting_payment"
    assert await h.received(client, world.orgs, "payment_due") == {
        world.buyer.org_id: [
            {"deal_id": deal["id"], "amount_due": deal["amount_due"], "pay_by": deal["pay_by"]}
        ]
    }


async def test_objections_and_the_end_of_the_notice(client: httpx.AsyncClient, world: World) -> None:
    uni = await f.organization(client, kind="university", verified_by=world.op)
    orgs = [*world.orgs, uni]
    listing = await t.published_listing(client, world.op, uni)
    offer = await n.offer(client, world.buyer, listing["id"], "500000.00")
    accepted = await n.move(client, uni, offer["id"], "accept")
    deal = await n.deal(client, world.buyer, accepted["deal_id"])
    assert deal["status"] == "public_notice"
    assert await h.received(client, orgs, "deal_signing_due") == {}  # not yet: the notice runs first

    r1 = await client.post(
        f"{API}/deals/{deal['id']}/objections",
        json={"reason": "价格明显偏低"},
        headers=world.outsider.headers,
    )
    assert r1.status_code == 201, r1.text
    filed = {"deal_id": deal["id"], "objection_id": r1.json()["id"]}
    assert await h.received(client, orgs, "objection_filed") == {
        uni.org_id: [filed],
        world.buyer.org_id: [filed],
    }
    # A second pending objection of the same organization is refused: nothing more.
    again = await client.post(
        f"{API}/deals/{deal['id']}/objections", json={"reason": "再次"}, headers=world.outsider.headers
    )
    assert again.status_code == 409
    # The seller's own staff object: the buyer is told, the seller is not told of what it did itself.
    r2 = await client.post(
        f"{API}/deals/{deal['id']}/objections", json={"reason": "内部公示异议"}, headers=uni.headers
    )
    assert r2.status_code == 201, r2.text
    own = {"deal_id": deal["id"], "objection_id": r2.json()["id"]}
    assert await h.received(client, orgs, "objection_filed") == {
        uni.org_id: [filed],
        world.buyer.org_id: [own, filed],
    }

    for objection in (r1.json(), r2.json()):
        d = await client.post(
            f"{API}/objections/{objection['id']}/dismiss", json={"note": "不成立"}, headers=world.op.headers
        )
        assert d.status_code == 200, d.text
    await t.advance_past(client, deal["notice_ends_at"])
    deal = await n.deal(client, world.buyer, deal["id"])
    assert deal["status"] == "awaiting_signatures"
    signing = {"deal_id": deal["id"], "sign_by": deal["sign_by"]}
    assert await h.received(client, orgs, "deal_signing_due") == {
        uni.org_id: [signing],
        world.buyer.org_id: [signing],
    }
    (note,) = await h.inbox(client, uni, "deal_signing_due")
    assert note["created_at"] == deal["notice_ends_at"]  # the sweeper's change, as of its due time


async def test_a_licence_record_tells_both_parties_to_file_it(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    case = await s.offer_deal(
        client, db, kind="nonexclusive_license", actors=(world.op, world.seller, world.buyer, world.outsider)
    )
    await s.settled(client, db, case)
    r = await client.get(f"{API}/licences", headers=world.buyer.headers)
    (licence,) = r.json()["items"]
    due = {"licence_id": licence["id"], "deal_id": case.id, "filing_due": licence["filing_due"]}
    assert await h.received(client, world.orgs, "licence_filing_due") == {
        world.buyer.org_id: [due],
        world.seller.org_id: [due],
    }


async def test_watchers_of_a_relisted_listing_are_told_when_the_new_one_is_published(
    client: httpx.AsyncClient, world: World
) -> None:
    old = await r.listed(client, world.op, world.seller, max_extensions=0)
    for watcher in (world.buyer, world.other):
        w = await client.post(f"{API}/watchlist/{old['id']}", headers=watcher.headers)
        assert w.status_code == 201, w.text
    await t.advance_past(client, old["listing_ends_at"])
    assert await h.received(client, world.orgs, "listing_updated") == {
        o.org_id: [{"listing_id": old["id"], "status": "expired"}] for o in (world.buyer, world.other)
    }
    relisted = await client.post(f"{API}/listings/{old['id']}/relist", json={}, headers=world.seller.headers)
    assert relisted.status_code == 201, relisted.text
    new = relisted.json()
    unwatched = await client.delete(f"{API}/watchlist/{old['id']}", headers=world.other.headers)
    assert unwatched.status_code == 204
    submitted = await client.post(f"{API}/listings/{new['id']}/submit", headers=world.seller.headers)
    assert submitted.status_code == 200, submitted.text
    assert await h.received(client, world.orgs, "listing_relisted") == {}  # not before it is published
    approved = await client.post(f"{API}/listings/{new['id']}/approve", headers=world.op.headers)
    assert approved.status_code == 200, approved.text
    assert await h.received(client, world.orgs, "listing_relisted") == {
        world.buyer.org_id: [{"listing_id": new["id"], "previous_listing_id": old["id"]}]
    }


async def test_a_batch_of_deals_and_listings_is_told_as_one_by_one(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """The forms a batch of closing auctions uses: a deal's column values instead of its row, and the new
    statuses of many listings at once."""
    listing = await t.published_listing(client, world.op, world.seller)
    watched = await client.post(f"{API}/watchlist/{listing['id']}", headers=world.buyer.headers)
    assert watched.status_code == 201
    at = await t.now(client)
    deal = {
        "id": uuid.uuid4(),
        "buyer_org_id": uuid.UUID(world.buyer.org_id),
        "seller_org_id": uuid.UUID(world.seller.org_id),
        "sign_by": at + timedelta(days=7),
    }
    async with db.transaction() as session:
        await notifications.deal_signing_due(session, deal, at=at)
        await notifications.listing_statuses_changed(
            session, {uuid.UUID(listing["id"]): "failed", uuid.uuid4(): "failed"}, at=at
        )
    signing = {
        "deal_id": str(deal["id"]),
        "sign_by": (at + timedelta(days=7)).isoformat().replace("+00:00", "Z"),
    }
    assert await h.received(client, world.orgs, "deal_signing_due") == {
        world.buyer.org_id: [signing],
        world.seller.org_id: [signing],
    }
    assert await h.received(client, world.orgs, "listing_updated") == {
        world.buyer.org_id: [{"listing_id": listing["id"], "status": "failed"}]
    }
