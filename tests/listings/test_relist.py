"""Relisting (SPEC §17.3): a failed or expired listing relisted once, by its seller, within 30 days of the
instant it ended, as a new draft copying its terms, at no less than 80% of its price; the patents it held are
free again; the links both ways and ``relist_by`` on the resource."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.kit.db import Database
from app.listings.rules import relist_floor
from app.models.listings import Listing
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.registrations import helpers as h
from tests.world import World, org

LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
AUCTION = {
    "format": "english",
    "increment": "1000.00",
    "reserve_price": "150000.00",
    "free_bidding_minutes": 10,
    "countdown_seconds": 120,
}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


pytestmark = pytest.mark.world(seller=org(), buyer=org(funds="50000.00"))


async def relist(
    client: httpx.AsyncClient,
    actor: f.Actor,
    listing_id: str,
    json: dict[str, Any] | None = None,
    *,
    expect: int = 201,
    code: str | None = None,
    **headers: str,
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/listings/{listing_id}/relist", json=json, headers={**actor.headers, **headers}
    )
    assert r.status_code == expect, r.text
    body: dict[str, Any] = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


async def expired_listing(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, **overrides: Any
) -> dict[str, Any]:
    """A listed listing nobody registered for, expired at the end of its period (no extension)."""
    listing = await h.listed(client, op, seller, max_extensions=0, **overrides)
    await t.advance_past(client, listing["listing_ends_at"])
    expired = await h.listing(client, listing["id"])
    assert expired["status"] == "expired"
    return expired


async def listing_row(db: Database, listing_id: str) -> Listing:
    async with db.read() as session:
        row = await session.get(Listing, uuid.UUID(listing_id))
    assert row is not None
    return row


async def test_relist_copies_the_listing_and_links_both_ways(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """An expired auction-mode licence listing: the draft copies every term (licence and auction terms, the
    reserve included), the price and deposit replaced as given, ``extensions_used`` 0; the old listing names
    the new one and keeps its ``relist_by`` (the instant it expired + 30 days)."""
    op, seller, _ = world
    old = await h.auction_listing(
        client,
        op,
        seller,
        transaction_kind="exclusive_license",
        license=LICENSE,
        auction=AUCTION,
        listing_days=7,
        extension_days=3,
        max_extensions=1,
        requires_qualification_review=True,
    )
    await t.advance_past(client, old["listing_ends_at"])  # extended once
    extended = await h.listing(client, old["id"])
    assert extended["extensions_used"] == 1 and extended["relist_by"] is None
    await t.advance_past(client, extended["listing_ends_at"])
    ended = await h.listing(client, old["id"])
    assert ended["status"] == "expired"
    assert _at(ended["relist_by"]) == _at(extended["listing_ends_at"]) + timedelta(days=30)
    assert (ended["previous_listing_id"], ended["next_listing_id"]) == (None, None)

    new = await relist(client, seller, old["id"], {"price": "90000.00", "deposit": "9000.00"})

    assert new["id"] != old["id"] and new["status"] == "draft"
    assert (new["price"], new["deposit"]) == ("90000.00", "9000.00")
    assert new["previous_listing_id"] == old["id"] and new["next_listing_id"] is None
    assert new["relist_by"] is None and new["extensions_used"] == 0
    for field in (
        "title",
        "summary",
        "transaction_kind",
        "pricing_mode",
        "listing_days",
        "extension_days",
        "max_extensions",
        "min_bidders_for_auction",
        "requires_qualification_review",
        "license",
        "auction",
    ):
        assert new[field] == old[field], field
    assert [p["id"] for p in new["patents"]] == [p["id"] for p in old["patents"]]
    assert "reserve_price" not in str(new)
    old_row, new_row = await listing_row(db, old["id"]), await listing_row(db, new["id"])
    assert new_row.auction_terms == old_row.auction_terms
    assert new_row.auction_terms is not None and new_row.auction_terms["reserve_price"] == 15_000_000

    after = await h.listing(client, old["id"])
    assert after["next_listing_id"] == new["id"]
    assert after["relist_by"] == ended["relist_by"]  # linking does not move the window

    # Then §5 as usual: the relisted auction listing is reviewed and gets its own scheduled auction.
    for actor, verb in ((seller, "submit"), (op, "approve")):
        r = await client.post(f"/api/v1/listings/{new['id']}/{verb}", headers=actor.headers)
        assert r.status_code == 200, r.text
    published = r.json()
    assert published["status"] == "published" and published["auction_id"] not in (None, old["auction_id"])
    auction = (await client.get(f"/api/v1/auctions/{published['auction_id']}")).json()
    assert (auction["status"], auction["start_price"]) == ("scheduled", "90000.00")
    await assert_invariants(db, all_resolved=True)


async def test_relist_keeps_price_and_deposit_unless_given(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    old = await expired_listing(client, op, seller)
    new = await relist(client, seller, old["id"])  # no body at all
    assert (new["price"], new["deposit"]) == (old["price"], old["deposit"]) == (h.PRICE, h.DEPOSIT)


async def test_the_patents_of_an_expired_listing_are_free_again(
    client: httpx.AsyncClient, world: World
) -> None:
    """While the listing is active its patent is locked (409 ``patent_locked``) and cannot go into another
    assignment listing; once it expired, the owner may edit it again and the relisted draft goes through
    submission and approval."""
    op, seller, _ = world
    old = await h.listed(client, op, seller, max_extensions=0)
    patent_id = old["patents"][0]["id"]
    r = await client.patch(f"/api/v1/patents/{patent_id}", json={"title": "改"}, headers=seller.headers)
    assert (r.status_code, r.json()["code"]) == (409, "patent_locked")
    await t.advance_past(client, old["listing_ends_at"])
    assert (await h.listing(client, old["id"]))["status"] == "expired"

    r = await client.patch(
        f"/api/v1/patents/{patent_id}", json={"title": "一种改进的隔膜"}, headers=seller.headers
    )
    assert r.status_code == 200, r.text
    new = await relist(client, seller, old["id"])
    r = await client.post(f"/api/v1/listings/{new['id']}/submit", headers=seller.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/listings/{new['id']}/approve", headers=op.headers)
    assert (r.status_code, r.json()["status"]) == (200, "published")


async def test_a_failed_auction_is_relisted_within_30_days_of_its_close(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """An auction-mode listing whose auction closes without a bid is ``failed``: its window runs from the
    auction's close."""
    op, seller, buyer = world
    listing = await h.auction_listing(client, op, seller, auction=AUCTION)
    await h.registered(client, buyer, listing["id"])
    await t.advance_past(client, listing["listing_ends_at"])
    auction = (await client.get(f"/api/v1/auctions/{listing['auction_id']}")).json()
    assert auction["status"] == "open"
    await t.advance_past(client, auction["ends_at"])
    failed = await h.listing(client, listing["id"])
    assert failed["status"] == "failed"
    assert _at(failed["relist_by"]) == _at(auction["ends_at"]) + timedelta(days=30)

    new = await relist(client, seller, listing["id"])
    assert new["previous_listing_id"] == listing["id"]
    assert (await h.listing(client, listing["id"]))["relist_by"] == failed["relist_by"]
    await assert_invariants(db, all_resolved=True)


async def test_the_window_closes_30_days_after_the_end(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    first = await expired_listing(client, op, seller)
    second = await expired_listing(client, op, seller)
    await t.advance_past(client, _at(first["relist_by"]) - timedelta(minutes=1))
    await relist(client, seller, first["id"])  # a minute before the end: still open

    await t.advance_past(client, second["relist_by"])
    await relist(client, seller, second["id"], expect=409, code="relist_window_closed")
    assert (await h.listing(client, second["id"]))["next_listing_id"] is None


async def test_once_per_listing(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    old = await expired_listing(client, op, seller)
    new = await relist(client, seller, old["id"])
    await relist(client, seller, old["id"], expect=409, code="already_relisted")
    # The newer listing is relisted in its turn only once it failed or expired.
    await relist(client, seller, new["id"], expect=409, code="invalid_state")


@pytest.mark.parametrize("state", ["draft", "published", "withdrawn"])
async def test_only_failed_or_expired_listings(client: httpx.AsyncClient, world: World, state: str) -> None:
    op, seller, _ = world
    if state == "draft":
        patent = await f.patent(client, seller)
        r = await client.post(
            "/api/v1/listings",
            json={
                "title": "草稿",
                "summary": "",
                "patent_ids": [patent["id"]],
                "transaction_kind": "assignment",
                "pricing_mode": "negotiated",
            },
            headers=seller.headers,
        )
        listing = r.json()
    else:
        listing = await h.listed(client, op, seller)
        if state == "withdrawn":
            r = await client.post(f"/api/v1/listings/{listing['id']}/withdraw", headers=seller.headers)
            assert r.status_code == 200, r.text
    assert listing["relist_by"] is None
    await relist(client, seller, listing["id"], expect=409, code="invalid_state")


async def test_only_the_seller_relists(client: httpx.AsyncClient, world: World) -> None:
    op, seller, buyer = world
    old = await expired_listing(client, op, seller)
    await relist(client, buyer, old["id"], expect=403, code="forbidden")
    await relist(client, op, old["id"], expect=403, code="forbidden")
    r = await client.post(f"/api/v1/listings/{old['id']}/relist")
    assert r.status_code == 401
    # Another organization's draft stays private (404), relistable or not.
    patent = await f.patent(client, seller)
    r = await client.post(
        "/api/v1/listings",
        json={
            "title": "草稿",
            "summary": "",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
        },
        headers=seller.headers,
    )
    await relist(client, buyer, r.json()["id"], expect=404, code="not_found")
    await relist(client, seller, str(uuid.uuid4()), expect=404, code="not_found")


async def test_floor_is_80_percent_rounded_up_to_the_fen(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """100,000.01 yuan → the floor is 80,000.008 rounded up: 80,000.01. Checked at relist, PATCH and submit."""
    assert relist_floor(10_000_001) == 8_000_001 and relist_floor(10_000_000) == 8_000_000
    op, seller, _ = world
    old = await expired_listing(client, op, seller, price="100000.01", deposit="10000.00")
    body = await relist(client, seller, old["id"], {"price": "80000.00"}, expect=422)
    assert body["code"] == "relist_price_too_low"
    assert body["errors"][0]["loc"] == ["body", "price"]
    assert (await h.listing(client, old["id"]))["next_listing_id"] is None  # nothing made

    new = await relist(client, seller, old["id"], {"price": "80000.01"})
    assert new["price"] == "80000.01"
    r = await client.patch(
        f"/api/v1/listings/{new['id']}", json={"price": "80000.00"}, headers=seller.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, "relist_price_too_low")
    r = await client.patch(
        f"/api/v1/listings/{new['id']}",
        json={"price": "95000.00", "title": "重新挂牌"},
        headers=seller.headers,
    )
    assert (r.status_code, r.json()["price"]) == (200, "95000.00")

    # A draft whose price is below the floor however it got there is refused at submission.
    async with db.transaction() as session:
        await session.execute(
            update(Listing).where(Listing.id == uuid.UUID(new["id"])).values(price=7_000_000)
        )
    r = await client.post(f"/api/v1/listings/{new['id']}/submit", headers=seller.headers)
    assert (r.status_code, r.json()["code"]) == (422, "relist_price_too_low")


async def test_negotiated_listing_without_a_price_has_no_floor(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, _ = world
    listing = await t.published_listing(client, op, seller, price=None)
    # Make it failed as a buyer's default would: the floor only exists when the old listing had a price.
    async with db.transaction() as session:
        await session.execute(
            update(Listing)
            .where(Listing.id == uuid.UUID(listing["id"]))
            .values(status="failed", ended_at=await t.now(client))
        )
    new = await relist(client, seller, listing["id"], {"price": "1.00"})
    assert new["price"] == "1.00"


async def test_patents_and_transaction_kind_are_fixed(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    old = await expired_listing(client, op, seller)
    new = await relist(client, seller, old["id"])
    other = await f.patent(client, seller)
    url = f"/api/v1/listings/{new['id']}"
    for change, field in (
        ({"patent_ids": [other["id"]]}, "patent_ids"),
        ({"patent_ids": [old["patents"][0]["id"], other["id"]]}, "patent_ids"),
        ({"transaction_kind": "nonexclusive_license", "license": LICENSE}, "transaction_kind"),
    ):
        r = await client.patch(url, json=change, headers=seller.headers)
        assert (r.status_code, r.json()["code"]) == (422, "relist_terms_fixed"), r.text
        assert r.json()["errors"][0]["loc"] == ["body", field]
    # The same values are no change.
    r = await client.patch(
        url,
        json={"patent_ids": [old["patents"][0]["id"]], "transaction_kind": "assignment"},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text


async def test_deposit_rule_is_checked_again(client: httpx.AsyncClient, world: World) -> None:
    """The old deposit of 10,000 is more than 30% of a new price of 32,000 (the floor of 40,000)."""
    op, seller, _ = world
    old = await expired_listing(client, op, seller, price="40000.00", deposit="10000.00")
    body = await relist(client, seller, old["id"], {"price": "32000.00"}, expect=422, code="invalid_deposit")
    assert body["errors"][0]["loc"] == ["body", "deposit"]
    new = await relist(client, seller, old["id"], {"price": "32000.00", "deposit": "9600.00"})
    assert (new["price"], new["deposit"]) == ("32000.00", "9600.00")


async def test_idempotency_key_replays_the_relist(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    old = await expired_listing(client, op, seller)
    headers = {**seller.headers, "Idempotency-Key": "relist-1"}
    url = f"/api/v1/listings/{old['id']}/relist"
    first = await client.post(url, json={"price": "95000.00"}, headers=headers)
    again = await client.post(url, json={"price": "95000.00"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await client.post(url, json={"price": "96000.00"}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


async def test_two_relists_at_once_make_one_listing(client: httpx.AsyncClient, world: World) -> None:
    op, seller, _ = world
    old = await expired_listing(client, op, seller)
    url = f"/api/v1/listings/{old['id']}/relist"
    responses = await asyncio.gather(*(client.post(url, headers=seller.headers) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409], [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_relisted"}
    (made,) = [r.json() for r in responses if r.status_code == 201]
    assert (await h.listing(client, old["id"]))["next_listing_id"] == made["id"]
