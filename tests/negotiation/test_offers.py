"""Negotiated pricing over HTTP (SPEC §8): offers, the thread rule, counters, acceptance into a deal,
rejection, withdrawal, visibility and idempotency. Every scenario ends with the invariants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.deals.fees import load_schedule
from app.kit.money import format_fen, parse_yuan
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.negotiation import helpers as h
from tests.world import World

LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}


async def audit_actions(client: httpx.AsyncClient, op: f.Actor, offer_id: str) -> list[str]:
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "offer", "entity_id": offer_id}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


async def test_make_offer(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"], "450000.00", message="可以谈")
    assert offer["status"] == "open" and offer["made_by"] == "buyer"
    assert offer["listing_id"] == listing["id"] and offer["buyer_org_id"] == world.buyer.org_id
    assert offer["price"] == "450000.00" and offer["message"] == "可以谈"
    assert offer["expires_at"] is None and offer["previous_offer_id"] is None and offer["deal_id"] is None
    assert offer["created_at"]
    assert await h.get_offer(client, world.buyer, offer["id"]) == offer
    assert await audit_actions(client, world.op, offer["id"]) == ["made"]
    await assert_invariants(db)


async def test_make_offer_with_expiry(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    expires = (await t.now(client)) + timedelta(days=2)
    offer = await h.offer(client, world.buyer, listing["id"], expires_at=expires.isoformat())
    assert datetime.fromisoformat(offer["expires_at"]) == expires
    await assert_invariants(db)


@pytest.mark.parametrize(
    "body",
    [
        {"price": "0.00"},
        {"price": "-1.00"},
        {"price": "1.001"},
        {"price": 100},
        {"price": "abc"},
        {},
        {"price": "1.00", "message": "长" * 2001},
        {"price": "1.00", "unknown": 1},
        {"price": "1.00", "expires_at": "2020-01-01T00:00:00+00:00"},
        {"price": "1.00", "expires_at": "2999-01-01T00:00:00"},  # no offset
        {"price": "1.00", "expires_at": "soon"},
    ],
)
async def test_offer_validation(client: httpx.AsyncClient, db, world: World, body: dict[str, Any]) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    r = await client.post(f"/api/v1/listings/{listing['id']}/offers", json=body, headers=world.buyer.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"]
    assert (await h.offers_of(client, world.uni, listing["id"]))["items"] == []


async def test_message_of_2000_characters_is_accepted(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"], "1.00", message="长" * 2000)
    assert len(offer["message"]) == 2000


async def test_who_may_make_offers(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    url = f"/api/v1/listings/{listing['id']}/offers"
    body = {"price": "1000.00"}
    r = await client.post(url, json=body)
    assert r.status_code == 401
    r = await client.post(url, json=body, headers=world.op.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post(url, json=body, headers=world.uni.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    pending = await f.organization(client)
    r = await client.post(url, json=body, headers=pending.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post(
        "/api/v1/listings/00000000-0000-0000-0000-000000000000/offers", json=body, headers=world.buyer.headers
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    await assert_invariants(db)


async def test_offers_only_on_published_negotiated_listings(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listed = await t.published_listing(
        client, world.op, world.uni, pricing_mode="listed", price="100000.00", deposit="10000.00"
    )
    r = await client.post(
        f"/api/v1/listings/{listed['id']}/offers", json={"price": "1.00"}, headers=world.buyer.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    # A draft is invisible to buyers: 404.
    patent = await f.patent(client, world.uni)
    r = await client.post(
        "/api/v1/listings",
        json={
            "title": "草稿",
            "summary": "草稿",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
        },
        headers=world.uni.headers,
    )
    draft = r.json()
    r = await client.post(
        f"/api/v1/listings/{draft['id']}/offers", json={"price": "1.00"}, headers=world.buyer.headers
    )
    assert r.status_code == 404

    # Suspended: no offers meanwhile (SPEC §5).
    listing = await t.published_listing(client, world.op, world.uni)
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/suspend", json={"reason": "核查"}, headers=world.op.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/offers", json={"price": "1.00"}, headers=world.buyer.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await assert_invariants(db)


async def test_one_open_offer_per_thread(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    first = await h.offer(client, world.buyer, listing["id"], "400000.00")
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/offers", json={"price": "410000.00"}, headers=world.buyer.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "offer_already_open"
    # Another buyer has its own thread.
    await h.offer(client, world.other, listing["id"], "420000.00")
    # The seller's counter is the thread's open move: the buyer answers it instead of offering anew.
    counter = await h.move(client, world.uni, first["id"], "counter", {"price": "480000.00"})
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/offers", json={"price": "410000.00"}, headers=world.buyer.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "offer_already_open"
    # Once nothing is open in the thread, the buyer may offer again.
    await h.move(client, world.buyer, counter["id"], "reject")
    again = await h.offer(client, world.buyer, listing["id"], "430000.00")
    assert again["previous_offer_id"] is None
    await assert_invariants(db)


async def test_counter_chain(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    first = await h.offer(client, world.buyer, listing["id"], "400000.00")

    # Only the receiver (the seller) counters a buyer's offer.
    await h.move(client, world.buyer, first["id"], "counter", {"price": "1.00"}, expect=403, code="forbidden")
    await h.move(client, world.op, first["id"], "counter", {"price": "1.00"}, expect=403, code="forbidden")
    await h.move(client, world.outsider, first["id"], "counter", {"price": "1.00"}, expect=404)
    await h.move(client, world.uni, first["id"], "counter", {"price": "0"}, expect=422)
    await h.move(client, world.uni, first["id"], "counter", {"price": "1.00", "x": 1}, expect=422)

    second = await h.move(
        client, world.uni, first["id"], "counter", {"price": "480000.00", "message": "最低"}
    )
    assert second["made_by"] == "seller" and second["status"] == "open"
    assert second["previous_offer_id"] == first["id"] and second["buyer_org_id"] == world.buyer.org_id
    assert second["price"] == "480000.00" and second["message"] == "最低"
    assert (await h.get_offer(client, world.buyer, first["id"]))["status"] == "countered"
    # A countered offer takes no more moves.
    await h.move(
        client, world.uni, first["id"], "counter", {"price": "1.00"}, expect=409, code="invalid_state"
    )
    await h.move(client, world.uni, first["id"], "accept", expect=409, code="invalid_state")

    # Now the buyer receives: the seller may not counter or accept its own counter.
    await h.move(client, world.uni, second["id"], "counter", {"price": "1.00"}, expect=403, code="forbidden")
    await h.move(client, world.uni, second["id"], "accept", expect=403, code="forbidden")
    third = await h.move(client, world.buyer, second["id"], "counter", {"price": "460000.00"})
    assert third["made_by"] == "buyer" and third["previous_offer_id"] == second["id"]
    assert (await h.get_offer(client, world.uni, second["id"]))["status"] == "countered"

    accepted = await h.move(client, world.uni, third["id"], "accept")
    assert accepted["status"] == "accepted" and accepted["deal_id"]
    deal = await h.deal(client, world.buyer, accepted["deal_id"])
    assert deal["price"] == "460000.00"
    thread = await h.offers_of(client, world.buyer, listing["id"])
    assert [(o["id"], o["status"]) for o in thread["items"]] == [
        (third["id"], "accepted"),
        (second["id"], "countered"),
        (first["id"], "countered"),
    ]
    assert await audit_actions(client, world.op, first["id"]) == ["made", "countered"]
    assert await audit_actions(client, world.op, third["id"]) == ["made", "accepted"]
    await assert_invariants(db)


async def test_accept_makes_a_public_notice_deal(
    client: httpx.AsyncClient, db, world: World, app: FastAPI
) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"], "450000.00")
    other = await h.offer(client, world.other, listing["id"], "300000.00")

    # Only the receiver accepts.
    await h.move(client, world.buyer, offer["id"], "accept", expect=403, code="forbidden")
    await h.move(client, world.op, offer["id"], "accept", expect=403, code="forbidden")
    await h.move(client, world.outsider, offer["id"], "accept", expect=404, code="not_found")

    accepted = await h.move(client, world.uni, offer["id"], "accept")
    assert accepted["status"] == "accepted" and accepted["id"] == offer["id"]
    deal = await h.deal(client, world.uni, accepted["deal_id"])
    buyer_fee, seller_fee = load_schedule().fees(parse_yuan("450000.00"))
    assert deal["source"] == "offer" and deal["listing_id"] == listing["id"]
    assert deal["buyer_org_id"] == world.buyer.org_id and deal["seller_org_id"] == world.uni.org_id
    assert deal["price"] == "450000.00"
    assert (deal["buyer_fee"], deal["seller_fee"]) == (format_fen(buyer_fee), format_fen(seller_fee))
    assert deal["amount_due"] == format_fen(parse_yuan("450000.00") + buyer_fee)
    # A public-institution seller: 15 calendar days of public notice first (SPEC §8).
    assert deal["status"] == "public_notice" and deal["sign_by"] is None
    created = datetime.fromisoformat(deal["created_at"])
    assert datetime.fromisoformat(deal["notice_ends_at"]) - created == timedelta(days=15)

    # An exclusive kind: the listing is under contract and every other open offer closed.
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "under_contract"
    assert (await h.get_offer(client, world.other, other["id"]))["status"] == "closed"
    assert await audit_actions(client, world.op, other["id"]) == ["made", "closed"]
    await h.move(client, world.uni, other["id"], "accept", expect=409, code="invalid_state")
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/offers", json={"price": "1.00"}, headers=world.outsider.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    # Accepted is final.
    await h.move(client, world.uni, offer["id"], "accept", expect=409, code="invalid_state")
    await h.move(client, world.uni, offer["id"], "reject", expect=409, code="invalid_state")
    await h.move(client, world.buyer, offer["id"], "withdraw", expect=409, code="invalid_state")
    # ... and it binds the listing: the seller can no longer withdraw it.
    r = await client.post(f"/api/v1/listings/{listing['id']}/withdraw", headers=world.uni.headers)
    assert r.status_code == 409
    await assert_invariants(db)


async def test_company_seller_deal_awaits_signatures(
    client: httpx.AsyncClient, db, world: World, app: FastAPI
) -> None:
    company = await f.organization(client, verified_by=world.op)
    listing = await t.published_listing(
        client, world.op, company, transaction_kind="exclusive_license", license=LICENSE
    )
    offer = await h.offer(client, world.buyer, listing["id"], "123456.78")
    accepted = await h.move(client, company, offer["id"], "accept")
    deal = await h.deal(client, world.buyer, accepted["deal_id"])
    assert deal["status"] == "awaiting_signatures" and deal["notice_ends_at"] is None
    assert deal["price"] == "123456.78" and deal["source"] == "offer"
    created = datetime.fromisoformat(deal["created_at"])
    assert datetime.fromisoformat(deal["sign_by"]) == app.state.calendar.add_working_days(created, 5)
    assert (await h.listing(client, company, listing["id"]))["status"] == "under_contract"
    await assert_invariants(db)


async def test_buyer_accepts_the_sellers_counter(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(
        client, world.op, world.uni, transaction_kind="sole_license", license=LICENSE
    )
    offer = await h.offer(client, world.buyer, listing["id"], "400000.00")
    counter = await h.move(client, world.uni, offer["id"], "counter", {"price": "470000.00"})
    await h.move(client, world.uni, counter["id"], "accept", expect=403, code="forbidden")
    accepted = await h.move(client, world.buyer, counter["id"], "accept")
    assert accepted["status"] == "accepted" and accepted["made_by"] == "seller"
    deal = await h.deal(client, world.uni, accepted["deal_id"])
    assert deal["price"] == "470000.00" and deal["buyer_org_id"] == world.buyer.org_id
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "under_contract"
    await assert_invariants(db)


async def test_nonexclusive_license_listing_stays_open(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(
        client, world.op, world.uni, transaction_kind="nonexclusive_license", license=LICENSE
    )
    first = await h.offer(client, world.buyer, listing["id"], "100000.00")
    second = await h.offer(client, world.other, listing["id"], "90000.00")
    accepted = await h.move(client, world.uni, first["id"], "accept")
    assert accepted["deal_id"]
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "published"
    assert (await h.get_offer(client, world.other, second["id"]))["status"] == "open"
    # The other buyer still makes a deal, and a newcomer may still offer.
    accepted2 = await h.move(client, world.uni, second["id"], "accept")
    assert accepted2["deal_id"] and accepted2["deal_id"] != accepted["deal_id"]
    assert (await h.deal(client, world.other, accepted2["deal_id"]))["price"] == "90000.00"
    await h.offer(client, world.outsider, listing["id"], "80000.00")
    # The first buyer's thread is free again (its offer was accepted): it may license again.
    await h.offer(client, world.buyer, listing["id"], "80000.00")
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "published"
    await assert_invariants(db)


async def test_reject_and_withdraw(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    offer = await h.offer(client, world.buyer, listing["id"])
    # Reject is the receiver's, withdraw the maker's.
    await h.move(client, world.buyer, offer["id"], "reject", expect=403, code="forbidden")
    await h.move(client, world.uni, offer["id"], "withdraw", expect=403, code="forbidden")
    await h.move(client, world.op, offer["id"], "reject", expect=403, code="forbidden")
    await h.move(client, world.outsider, offer["id"], "withdraw", expect=404, code="not_found")
    rejected = await h.move(client, world.uni, offer["id"], "reject")
    assert rejected["status"] == "rejected"
    await h.move(client, world.uni, offer["id"], "reject", expect=409, code="invalid_state")
    await h.move(client, world.buyer, offer["id"], "withdraw", expect=409, code="invalid_state")
    await h.move(
        client, world.uni, offer["id"], "counter", {"price": "1.00"}, expect=409, code="invalid_state"
    )

    again = await h.offer(client, world.buyer, listing["id"])
    counter = await h.move(client, world.uni, again["id"], "counter", {"price": "490000.00"})
    await h.move(client, world.buyer, counter["id"], "withdraw", expect=403, code="forbidden")
    withdrawn = await h.move(client, world.uni, counter["id"], "withdraw")
    assert withdrawn["status"] == "withdrawn" and withdrawn["made_by"] == "seller"
    await h.move(client, world.buyer, counter["id"], "accept", expect=409, code="invalid_state")
    assert await audit_actions(client, world.op, offer["id"]) == ["made", "rejected"]
    assert await audit_actions(client, world.op, counter["id"]) == ["made", "withdrawn"]
    assert (await h.listing(client, world.uni, listing["id"]))["status"] == "published"
    await assert_invariants(db)


async def test_visibility(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    mine = await h.offer(client, world.buyer, listing["id"], "1000.00")
    theirs = await h.offer(client, world.other, listing["id"], "2000.00")

    def ids(page: dict[str, Any]) -> set[str]:
        return {o["id"] for o in page["items"]}

    assert ids(await h.offers_of(client, world.uni, listing["id"])) == {mine["id"], theirs["id"]}
    assert ids(await h.offers_of(client, world.op, listing["id"])) == {mine["id"], theirs["id"]}
    assert ids(await h.offers_of(client, world.buyer, listing["id"])) == {mine["id"]}
    assert ids(await h.offers_of(client, world.other, listing["id"])) == {theirs["id"]}
    # A verified outsider has no thread on this public listing: an empty list.
    assert await h.offers_of(client, world.outsider, listing["id"]) == {"items": [], "next_cursor": None}
    r = await client.get(f"/api/v1/listings/{listing['id']}/offers")
    assert r.status_code == 401

    # The offer itself: its two parties and operators; anyone else 404.
    await h.get_offer(client, world.buyer, mine["id"])
    await h.get_offer(client, world.uni, mine["id"])
    await h.get_offer(client, world.op, mine["id"])
    await h.get_offer(client, world.other, mine["id"], expect=404)
    await h.get_offer(client, world.outsider, mine["id"], expect=404)
    await h.get_offer(client, world.buyer, "00000000-0000-0000-0000-000000000000", expect=404)

    # Pages, newest first.
    page1 = await h.offers_of(client, world.uni, listing["id"], limit=1)
    assert [o["id"] for o in page1["items"]] == [theirs["id"]] and page1["next_cursor"]
    page2 = await h.offers_of(client, world.uni, listing["id"], limit=1, cursor=page1["next_cursor"])
    assert [o["id"] for o in page2["items"]] == [mine["id"]] and page2["next_cursor"] is None
    await h.offers_of(client, world.uni, listing["id"], cursor="bogus", expect=422)
    # Filter by status.
    await h.move(client, world.uni, mine["id"], "reject")
    assert ids(await h.offers_of(client, world.uni, listing["id"], status="open")) == {theirs["id"]}
    assert ids(await h.offers_of(client, world.uni, listing["id"], status="rejected")) == {mine["id"]}

    # A listing the caller may not see (a draft of someone else): 404.
    patent = await f.patent(client, world.uni)
    r = await client.post(
        "/api/v1/listings",
        json={
            "title": "草稿",
            "summary": "草稿",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
        },
        headers=world.uni.headers,
    )
    draft = r.json()
    await h.offers_of(client, world.buyer, draft["id"], expect=404)
    assert (await h.offers_of(client, world.uni, draft["id"]))["items"] == []
    await assert_invariants(db)


async def test_idempotent_offer_creation(client: httpx.AsyncClient, db, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.uni)
    key = {"Idempotency-Key": "offer-1"}
    url = f"/api/v1/listings/{listing['id']}/offers"
    body = {"price": "450000.00", "message": "首次报价"}
    r1 = await client.post(url, json=body, headers={**world.buyer.headers, **key})
    assert r1.status_code == 201, r1.text
    r2 = await client.post(url, json=body, headers={**world.buyer.headers, **key})
    assert r2.status_code == 201 and r2.headers["Idempotent-Replayed"] == "true"
    assert r2.json() == r1.json()
    r3 = await client.post(url, json={**body, "price": "1.00"}, headers={**world.buyer.headers, **key})
    assert r3.status_code == 422 and r3.json()["code"] == "idempotency_key_reused"
    assert len((await h.offers_of(client, world.uni, listing["id"]))["items"]) == 1

    # Acceptance is idempotent too: a retry replays the first result, it makes no second deal.
    offer_id = r1.json()["id"]
    accept = f"/api/v1/offers/{offer_id}/accept"
    a1 = await client.post(accept, headers={**world.uni.headers, "Idempotency-Key": "accept-1"})
    a2 = await client.post(accept, headers={**world.uni.headers, "Idempotency-Key": "accept-1"})
    assert a1.status_code == a2.status_code == 200 and a2.headers["Idempotent-Replayed"] == "true"
    assert a1.json() == a2.json()
    r = await client.get("/api/v1/deals", headers=world.uni.headers)
    assert len(r.json()["items"]) == 1
    await assert_invariants(db)
