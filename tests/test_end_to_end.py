"""From listing to certificate through the public API, once per pricing mode and per transaction kind:
listing, offer / registration / auction, contract signed by both parties, payment, settlement, certificate.
Each ends with the books balanced, every deposit resolved once, every settled escrow at zero, the patents'
owners right and every audit chain verified."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.settlement.rules import is_valid_certificate_number
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.settlement import helpers as h

LICENSE = {"term_months": 24, "territory": "浙江省", "field_of_use": "储能"}
ENGLISH = {"format": "english", "increment": "1000.00", "free_bidding_minutes": 0, "countdown_seconds": 300}


async def _deal_of(client: httpx.AsyncClient, op: f.Actor, buyer: f.Actor, listing_id: str) -> dict[str, Any]:
    r = await client.get("/api/v1/deals", params={"role": "buyer"}, headers=buyer.headers)
    (deal,) = [d for d in r.json()["items"] if d["listing_id"] == listing_id]
    return await h.get(client, op, deal["id"])


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("negotiated", "assignment"),
        ("listed", "exclusive_license"),
        ("auction", "sole_license"),
        ("negotiated", "nonexclusive_license"),
    ],
)
async def test_listing_to_certificate(client: httpx.AsyncClient, db, mode: str, kind: str) -> None:
    op = await f.operator(client, db)
    seller = await f.organization(client, kind="enterprise", verified_by=op)
    buyer = await f.organization(client, verified_by=op)
    rival = await f.organization(client, verified_by=op)
    terms: dict[str, Any] = {"transaction_kind": kind, "license": LICENSE if kind != "assignment" else None}
    if mode != "negotiated":
        terms.update(pricing_mode=mode, price="100000.00", deposit="10000.00")
    if mode == "auction":
        terms["auction"] = ENGLISH
    listing = await t.published_listing(client, op, seller, price=terms.pop("price", "300000.00"), **terms)
    patent_ids = [p["id"] for p in listing["patents"]]

    if mode == "negotiated":
        r = await client.post(
            f"/api/v1/listings/{listing['id']}/offers", json={"price": "280000.00"}, headers=buyer.headers
        )
        assert r.status_code == 201, r.text
        r = await client.post(f"/api/v1/offers/{r.json()['id']}/accept", headers=seller.headers)
        assert r.status_code == 200, r.text
    else:
        bidders = [buyer] if mode == "listed" else [buyer, rival]
        for who in bidders:
            await t.fund(client, op, who, "10000.00")
            r = await client.post(f"/api/v1/listings/{listing['id']}/registrations", headers=who.headers)
            assert r.status_code == 201, r.text
        await t.advance_past(client, listing["listing_ends_at"])
        if mode == "auction":
            url = f"/api/v1/auctions/{listing['auction_id']}"
            assert (await client.get(url)).json()["status"] == "open"
            r = await client.post(f"{url}/bids", json={"amount": "100000.00"}, headers=rival.headers)
            assert r.status_code == 201, r.text
            r = await client.post(f"{url}/bids", json={"amount": "110000.00"}, headers=buyer.headers)
            assert r.status_code == 201, r.text
            await t.advance_past(client, r.json()["ends_at"])
            assert (await client.get(url)).json()["status"] == "closed"
            assert await t.balance(client, rival) == {"available": "10000.00", "held": "0.00"}

    deal = await _deal_of(client, op, buyer, listing["id"])
    case = h.DealCase(op, seller, buyer, rival, listing, deal)
    deal = await h.settled(client, db, case)
    assert deal["status"] == "settled" and is_valid_certificate_number(deal["certificate_number"])
    price, buyer_fee, seller_fee = (h.yuan(deal[k]) for k in ("price", "buyer_fee", "seller_fee"))
    expected_price = {"negotiated": "280000.00", "listed": "100000.00", "auction": "110000.00"}[mode]
    assert deal["price"] == expected_price
    assert await t.balance(client, seller) == {"available": h.money(price - seller_fee), "held": "0.00"}
    assert await t.balance(client, buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.fee_income(db) == buyer_fee + seller_fee

    cert = (await client.get(f"/api/v1/certificates/{deal['certificate_number']}")).json()
    assert cert["price"] == expected_price and cert["transaction_kind"] == kind
    assert sorted(p["id"] for p in cert["patents"]) == sorted(patent_ids)
    owner = buyer if kind == "assignment" else seller
    for patent_id in patent_ids:
        r = await client.get(f"/api/v1/patents/{patent_id}", headers=owner.headers)
        assert r.status_code == 200 and r.json()["owner_org_id"] == owner.org_id
    status = (await client.get(f"/api/v1/listings/{listing['id']}")).json()["status"]
    assert status == ("published" if kind == "nonexclusive_license" else "sold")

    r = await client.get("/api/v1/ledger/trial-balance", headers=op.headers)
    assert r.json()["balanced"] is True
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)
