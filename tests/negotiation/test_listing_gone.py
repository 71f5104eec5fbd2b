"""Open offers close when their listing is withdrawn or terminated."""

from __future__ import annotations

import httpx

from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants


async def test_terminating_a_listing_closes_its_open_offers(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    seller = await f.organization(client, verified_by=op)
    buyer = await f.organization(client, verified_by=op)
    listing = await t.published_listing(client, op, seller)
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/offers", json={"price": "400000.00"}, headers=buyer.headers
    )
    assert r.status_code == 201, r.text
    offer_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/listings/{listing['id']}/terminate", json={"reason": "权属争议"}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    offer = (await client.get(f"/api/v1/offers/{offer_id}", headers=buyer.headers)).json()
    assert offer["status"] == "closed"
    r = await client.post(f"/api/v1/offers/{offer_id}/accept", headers=seller.headers)
    assert r.status_code == 409
    await assert_invariants(db)
