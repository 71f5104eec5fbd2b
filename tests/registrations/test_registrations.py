"""Registrations and deposits over HTTP (SPEC §7): who may register, when, the deposit hold, review,
withdrawal, visibility, idempotency and concurrency."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests import factories as f
from tests.invariants import assert_invariants
from tests.registrations import helpers as h
from tests.trading import advance_past, balance, fund, published_listing
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), buyer=org(funds="50000.00"))


async def test_registration_holds_the_deposit_and_numbers_bidders(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, buyer = world
    other = await f.organization(client, verified_by=op)
    await fund(client, op, other, "10000.00")
    listing = await h.listed(client, op, uni)

    r = await h.register(client, buyer, listing["id"])
    assert r.status_code == 201, r.text
    first = r.json()
    assert set(first) == {
        "id",
        "listing_id",
        "organization_id",
        "status",
        "bidder_code",
        "deposit",
        "deposit_status",
        "reason",
        "created_at",
    }
    assert first["listing_id"] == listing["id"] and first["organization_id"] == buyer.org_id
    assert (first["status"], first["bidder_code"], first["deposit"], first["deposit_status"]) == (
        "qualified",
        "B01",
        "10000.00",
        "held",
    )
    assert await balance(client, buyer) == {"available": "40000.00", "held": "10000.00"}

    second = await h.registered(client, other, listing["id"])
    assert second["bidder_code"] == "B02"
    assert await balance(client, other) == {"available": "0.00", "held": "10000.00"}
    await assert_invariants(db)


async def test_registration_refusals(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    listing = await h.listed(client, op, uni)

    pending = await f.organization(client)  # not verified
    r = await h.register(client, pending, listing["id"])
    assert (r.status_code, r.json()["code"]) == (403, "organization_not_verified")
    # The seller itself: a function its role may not use (403).
    r = await h.register(client, uni, listing["id"])
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await h.register(client, op, listing["id"])
    assert r.status_code == 403
    r = await h.register(client, buyer, "00000000-0000-0000-0000-000000000001")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")

    negotiated = await published_listing(client, op, uni)
    r = await h.register(client, buyer, negotiated["id"])
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")

    draft = await client.post(
        "/api/v1/listings",
        json={
            "title": "草稿",
            "summary": "草稿",
            "patent_ids": [(await f.patent(client, uni))["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "listed",
            "price": h.PRICE,
            "deposit": h.DEPOSIT,
        },
        headers=uni.headers,
    )
    r = await h.register(client, buyer, draft.json()["id"])
    assert r.status_code == 404  # a draft is private to its seller

    assert (await h.register(client, buyer, listing["id"])).status_code == 201
    r = await h.register(client, buyer, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "already_registered")

    suspended = await h.listed(client, op, uni)
    r = await client.post(
        f"/api/v1/listings/{suspended['id']}/suspend", json={"reason": "核查"}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    r = await h.register(client, buyer, suspended["id"])
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    assert await balance(client, buyer) == {"available": "40000.00", "held": "10000.00"}
    await assert_invariants(db)


async def test_registration_after_the_listing_period_is_refused(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    listing = await h.listed(client, op, uni, max_extensions=0)
    await advance_past(client, listing["listing_ends_at"])
    assert (await h.listing(client, listing["id"]))["status"] == "expired"
    r = await h.register(client, buyer, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    await assert_invariants(db)


async def test_insufficient_funds_leaves_nothing_behind(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _ = world
    poor = await f.organization(client, verified_by=op)
    await fund(client, op, poor, "9999.99")
    listing = await h.listed(client, op, uni)

    r = await h.register(client, poor, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_funds")
    assert await balance(client, poor) == {"available": "9999.99", "held": "0.00"}
    for viewer in (poor, uni, op):
        r = await client.get(f"/api/v1/listings/{listing['id']}/registrations", headers=viewer.headers)
        assert r.status_code == 200 and r.json()["items"] == []
    assert await h.registration_rows(db, listing["id"]) == []

    # Nothing left behind: once funded, the same organization registers as the first bidder.
    await fund(client, op, poor, "0.01")
    assert (await h.registered(client, poor, listing["id"]))["bidder_code"] == "B01"
    assert await balance(client, poor) == {"available": "0.00", "held": "10000.00"}
    await assert_invariants(db)


async def test_visibility_and_anonymity(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    other = await f.organization(client, verified_by=op)
    await fund(client, op, other, "10000.00")
    outsider = await f.organization(client, verified_by=op)
    listing = await h.listed(client, op, uni)
    mine = await h.registered(client, buyer, listing["id"])
    theirs = await h.registered(client, other, listing["id"])

    assert (await h.registration(client, buyer, mine["id"]))["organization_id"] == buyer.org_id
    assert (await h.registration(client, op, mine["id"]))["organization_id"] == buyer.org_id
    # The seller sees the bidder code and status, never the company behind it.
    seen = await h.registration(client, uni, mine["id"])
    assert (seen["organization_id"], seen["bidder_code"], seen["status"]) == (None, "B01", "qualified")
    for stranger, rid in ((outsider, mine["id"]), (other, mine["id"]), (buyer, theirs["id"])):
        r = await client.get(f"/api/v1/registrations/{rid}", headers=stranger.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")

    url = f"/api/v1/listings/{listing['id']}/registrations"
    everything = (await client.get(url, headers=op.headers)).json()["items"]
    assert [(x["bidder_code"], x["organization_id"]) for x in everything] == [
        ("B01", buyer.org_id),
        ("B02", other.org_id),
    ]
    by_seller = (await client.get(url, headers=uni.headers)).json()["items"]
    assert [(x["bidder_code"], x["organization_id"]) for x in by_seller] == [("B01", None), ("B02", None)]
    own = (await client.get(url, headers=buyer.headers)).json()["items"]
    assert [x["id"] for x in own] == [mine["id"]]
    assert (await client.get(url, headers=outsider.headers)).json()["items"] == []
    # Pagination walks the list in registration order.
    page = (await client.get(url, params={"limit": 1}, headers=op.headers)).json()
    assert [x["bidder_code"] for x in page["items"]] == ["B01"] and page["next_cursor"]
    page = (
        await client.get(url, params={"limit": 1, "cursor": page["next_cursor"]}, headers=op.headers)
    ).json()
    assert [x["bidder_code"] for x in page["items"]] == ["B02"] and page["next_cursor"] is None
    r = await client.get(url)
    assert r.status_code == 401
    await assert_invariants(db)


async def test_qualification_review(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    other = await f.organization(client, verified_by=op)
    await fund(client, op, other, "10000.00")
    listing = await h.listed(client, op, uni, requires_qualification_review=True)
    reg = await h.registered(client, buyer, listing["id"])
    rival = await h.registered(client, other, listing["id"])
    assert reg["status"] == rival["status"] == "pending_review"

    for who in (buyer, uni):
        r = await h.act(client, who, reg["id"], "qualify")
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await h.act(client, op, reg["id"], "qualify")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deposit_status"]) == ("qualified", "held")
    r = await h.act(client, op, reg["id"], "qualify")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")

    r = await h.act(client, op, rival["id"], "disqualify", {"reason": "资质不符", "extra": 1})
    assert r.status_code == 422
    r = await h.act(client, op, rival["id"], "disqualify", {"reason": "资质不符"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deposit_status"], r.json()["reason"]) == (
        "disqualified",
        "refunded",
        "资质不符",
    )
    assert await balance(client, other) == {"available": "10000.00", "held": "0.00"}
    r = await h.act(client, op, rival["id"], "disqualify", {"reason": "again"})
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    r = await h.act(client, op, rival["id"], "qualify")
    assert r.status_code == 409
    # Disqualified counts as registered: the unique (listing, organization) rule.
    r = await h.register(client, other, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "already_registered")
    r = await h.act(client, op, "00000000-0000-0000-0000-000000000002", "qualify")
    assert r.status_code == 404
    await assert_invariants(db)


async def test_withdrawal_refunds_during_the_period_only(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    other = await f.organization(client, verified_by=op)
    await fund(client, op, other, "10000.00")
    outsider = await f.organization(client, verified_by=op)
    listing = await h.listed(client, op, uni)
    reg = await h.registered(client, buyer, listing["id"])

    r = await h.act(client, uni, reg["id"], "withdraw")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await h.act(client, outsider, reg["id"], "withdraw")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await h.act(client, buyer, reg["id"], "withdraw")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deposit_status"]) == ("withdrawn", "refunded")
    assert await balance(client, buyer) == {"available": "50000.00", "held": "0.00"}
    r = await h.act(client, buyer, reg["id"], "withdraw")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    r = await h.register(client, buyer, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "already_registered")

    # After the period the deposit follows the outcome: here the only bidder gets the deal.
    stays = await h.registered(client, other, listing["id"])
    await advance_past(client, listing["listing_ends_at"])
    r = await h.act(client, other, stays["id"], "withdraw")
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    assert (await h.registration(client, other, stays["id"]))["deposit_status"] == "held"
    await assert_invariants(db)


async def test_idempotent_registration_replays(client: httpx.AsyncClient, db, world) -> None:
    op, uni, buyer = world
    listing = await h.listed(client, op, uni)
    first = await h.register(client, buyer, listing["id"], **{"Idempotency-Key": "reg-1"})
    assert first.status_code == 201, first.text
    again = await h.register(client, buyer, listing["id"], **{"Idempotency-Key": "reg-1"})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert await balance(client, buyer) == {"available": "40000.00", "held": "10000.00"}
    # Without the key the second attempt is a new request, refused by the one-registration rule.
    r = await h.register(client, buyer, listing["id"])
    assert (r.status_code, r.json()["code"]) == (409, "already_registered")
    await assert_invariants(db)


async def test_concurrent_registrations_never_overdraw(client: httpx.AsyncClient, db, world) -> None:
    """One company with money for exactly 3 deposits registers for 10 listings at once: 3 win, 7 get
    ``insufficient_funds``, nothing is negative and nothing is left behind by the losers."""
    op, uni, _ = world
    company = await f.organization(client, verified_by=op)
    await fund(client, op, company, "30000.00")
    listings = [await h.listed(client, op, uni) for _ in range(10)]

    results = await asyncio.gather(*[h.register(client, company, x["id"]) for x in listings])
    codes = sorted((r.status_code, r.json().get("code")) for r in results)
    assert codes == [(201, None)] * 3 + [(409, "insufficient_funds")] * 7, codes
    assert await balance(client, company) == {"available": "0.00", "held": "30000.00"}
    rows = [row for x in listings for row in await h.registration_rows(db, x["id"])]
    assert len(rows) == 3 and all(row.bidder_code == "B01" for row in rows)
    await assert_invariants(db)


async def test_concurrent_registrations_get_distinct_codes_and_one_each(
    client: httpx.AsyncClient, db, world
) -> None:
    """The listing row is locked while a code is chosen: racing buyers get B01…B05, and one buyer racing
    itself registers once."""
    op, uni, buyer = world
    buyers = []
    for _ in range(4):
        other = await f.organization(client, verified_by=op)
        await fund(client, op, other, "10000.00")
        buyers.append(other)
    listing = await h.listed(client, op, uni)

    results = await asyncio.gather(
        *[h.register(client, b, listing["id"]) for b in buyers],
        *[h.register(client, buyer, listing["id"]) for _ in range(4)],
    )
    created = [r.json() for r in results if r.status_code == 201]
    refused = [r.json()["code"] for r in results if r.status_code != 201]
    assert len(created) == 5 and refused == ["already_registered"] * 3
    assert sorted(x["bidder_code"] for x in created) == ["B01", "B02", "B03", "B04", "B05"]
    assert await balance(client, buyer) == {"available": "40000.00", "held": "10000.00"}
    await assert_invariants(db)
