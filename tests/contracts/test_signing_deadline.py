"""The signing deadline (SPEC §11): a buyer who has not signed by ``sign_by`` defaults (deposit forfeited to
the seller, listing failed); a seller who has not signed cancels the deal (deposit refunded, a negotiated
listing back to published, a listed one failed). Both unsigned counts as the buyer's default."""

from __future__ import annotations

from datetime import datetime

import httpx

from app.kit.money import parse_yuan
from tests import trading as t
from tests.contracts import helpers as h
from tests.invariants import assert_invariants
from tests.world import World


async def test_buyer_without_signature_defaults(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.listed_deal(client, world)
    seller_before = parse_yuan((await h.balance(client, world.company))["available"])
    assert parse_yuan((await h.balance(client, world.buyer))["held"]) == parse_yuan("10000.00")
    await h.sign(client, world.company, deal["contract_id"])  # only the seller signs
    await t.advance_past(client, deal["sign_by"])

    ended = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert ended["status"] == "defaulted"
    assert parse_yuan((await h.balance(client, world.buyer))["held"]) == 0
    assert parse_yuan((await h.balance(client, world.company))["available"]) == seller_before + 1_000_000
    assert await h.listing_status(client, listing["id"]) == "failed"
    assert (await h.contract(client, world.buyer, deal["contract_id"]))["status"] == "void"
    await h.sign(client, world.buyer, deal["contract_id"], expect=409, code="invalid_state")
    await assert_invariants(db, all_resolved=True)


async def test_nobody_signed_is_the_buyers_default(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.listed_deal(client, world)
    await t.advance_past(client, deal["sign_by"])
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))["status"] == "defaulted"
    assert await h.listing_status(client, listing["id"]) == "failed"
    await assert_invariants(db, all_resolved=True)


async def test_seller_without_signature_cancels_and_refunds(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing, deal = await h.listed_deal(client, world)
    buyer_before = await h.balance(client, world.buyer)
    await h.sign(client, world.buyer, deal["contract_id"])
    await t.advance_past(client, deal["sign_by"])

    ended = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert ended["status"] == "cancelled"
    after = await h.balance(client, world.buyer)
    assert parse_yuan(after["held"]) == 0
    assert parse_yuan(after["available"]) == parse_yuan(buyer_before["available"]) + 1_000_000
    assert await h.listing_status(client, listing["id"]) == "failed"  # listed mode
    assert (await h.contract(client, world.company, deal["contract_id"]))["status"] == "void"
    await assert_invariants(db, all_resolved=True)


async def test_seller_without_signature_reopens_a_negotiated_listing(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing, deal = await h.offer_deal(client, world, world.company)
    await h.sign(client, world.buyer, deal["contract_id"])
    await t.advance_past(client, deal["sign_by"])
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))["status"] == "cancelled"
    assert await h.listing_status(client, listing["id"]) == "published"
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "deal", "entity_id": deal["id"]},
        headers=world.op.headers,
    )
    events = r.json()["items"]
    assert [e["action"] for e in events] == ["created", "contract_signed", "cancelled"]
    assert events[-1]["actor"] == "system"
    assert datetime.fromisoformat(events[-1]["at"]) == datetime.fromisoformat(deal["sign_by"])
    await assert_invariants(db)


async def test_signed_in_time_is_not_touched(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.offer_deal(client, world, world.company)
    await t.advance(client, 3600)  # so that pay_by falls an hour after sign_by
    await h.sign(client, world.buyer, deal["contract_id"])
    await h.sign(client, world.company, deal["contract_id"])
    await t.advance_past(client, deal["sign_by"])
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))["status"] == "awaiting_payment"
    assert await h.listing_status(client, listing["id"]) == "under_contract"
    await assert_invariants(db)
