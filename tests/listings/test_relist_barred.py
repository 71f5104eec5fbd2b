"""Barred bidders (SPEC §17.3; 法释〔2016〕18号 art 24): the buyer of a ``defaulted`` deal on a listing may not
register for, nor offer on, any later listing of its relist chain — 409 ``bidder_barred``, with nothing held,
posted or created — while everyone else may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.registrations import helpers as h
from tests.world import World, org

# The seller is an enterprise: its deals go straight to signing.
pytestmark = pytest.mark.world(seller=org(), defaulter=org(funds="20000.00"), other=org(funds="20000.00"))


async def _deal_of(client: httpx.AsyncClient, buyer: f.Actor, listing_id: str) -> dict[str, Any]:
    deals = (await client.get("/api/v1/deals?role=buyer", headers=buyer.headers)).json()["items"]
    (deal,) = [d for d in deals if d["listing_id"] == listing_id]
    result: dict[str, Any] = deal
    return result


async def _default(client: httpx.AsyncClient, buyer: f.Actor, listing_id: str) -> None:
    """Nobody signs the listing's deal in time: the buyer's default, the listing ``failed``."""
    deal = await _deal_of(client, buyer, listing_id)
    await t.advance_past(client, deal["sign_by"])
    assert (await _deal_of(client, buyer, listing_id))["status"] == "defaulted"
    assert (await h.listing(client, listing_id))["status"] == "failed"


async def _relisted(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, listing_id: str
) -> dict[str, Any]:
    r = await client.post(f"/api/v1/listings/{listing_id}/relist", headers=seller.headers)
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    for actor, verb in ((seller, "submit"), (op, "approve")):
        r = await client.post(f"/api/v1/listings/{new_id}/{verb}", headers=actor.headers)
        assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _ledger(client: httpx.AsyncClient, org: f.Actor) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/organizations/{org.org_id}/ledger?limit=100", headers=org.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_defaulting_buyer_cannot_register_on_any_later_listing_of_the_chain(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, defaulter, other = world
    first = await h.listed(client, op, seller, max_extensions=0)
    await h.registered(client, defaulter, first["id"])
    await t.advance_past(client, first["listing_ends_at"])  # the only registrant: a deal
    await _default(client, defaulter, first["id"])

    second = await _relisted(client, op, seller, first["id"])
    balance, ledger = await t.balance(client, defaulter), await _ledger(client, defaulter)
    r = await h.register(client, defaulter, second["id"], **{"Idempotency-Key": "barred-1"})
    assert (r.status_code, r.json()["code"]) == (409, "bidder_barred"), r.text
    # Nothing held, posted or created.
    assert await t.balance(client, defaulter) == balance
    assert await _ledger(client, defaulter) == ledger
    assert await h.registration_rows(db, second["id"]) == []

    # Nobody else registers: the second listing expires and is relisted in turn; the bar follows the chain.
    await t.advance_past(client, second["listing_ends_at"])
    assert (await h.listing(client, second["id"]))["status"] == "expired"
    third = await _relisted(client, op, seller, second["id"])
    r = await h.register(client, defaulter, third["id"])
    assert (r.status_code, r.json()["code"]) == (409, "bidder_barred"), r.text
    assert await t.balance(client, defaulter) == balance
    assert await h.registration_rows(db, third["id"]) == []

    # Any other buyer takes part as usual.
    registration = await h.registered(client, other, third["id"])
    assert registration["status"] == "qualified"
    await assert_invariants(db)


async def test_a_defaulting_buyer_cannot_offer_on_the_relisted_listing(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, defaulter, other = world
    first = await t.published_listing(client, op, seller, price="100000.00")
    r = await client.post(
        f"/api/v1/listings/{first['id']}/offers", json={"price": "95000.00"}, headers=defaulter.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/offers/{r.json()['id']}/accept", headers=seller.headers)
    assert r.status_code == 200, r.text
    await _default(client, defaulter, first["id"])

    second = await _relisted(client, op, seller, first["id"])
    url = f"/api/v1/listings/{second['id']}/offers"
    r = await client.post(url, json={"price": "90000.00"}, headers=defaulter.headers)
    assert (r.status_code, r.json()["code"]) == (409, "bidder_barred"), r.text
    assert (await client.get(url, headers=defaulter.headers)).json()["items"] == []
    assert (await client.get(url, headers=seller.headers)).json()["items"] == []

    r = await client.post(url, json={"price": "90000.00"}, headers=other.headers)
    assert r.status_code == 201, r.text
    await assert_invariants(db)


async def test_a_buyer_that_did_not_default_is_not_barred(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """A registrant of the failed listing that lost nothing by default (its deal was the seller's failure, or
    it never had a deal) registers for the relisted one."""
    op, seller, defaulter, other = world
    first = await h.listed(client, op, seller, max_extensions=0, min_bidders_for_auction=3)
    await h.registered(client, defaulter, first["id"])
    await h.registered(client, other, first["id"])  # later: refunded when the earlier one gets the deal
    await t.advance_past(client, first["listing_ends_at"])
    await _default(client, defaulter, first["id"])

    second = await _relisted(client, op, seller, first["id"])
    assert (await h.registered(client, other, second["id"]))["status"] == "qualified"
    await assert_invariants(db)
