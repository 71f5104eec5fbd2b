"""Priority holders (优先购买权, SPEC §17.2, designation part): operators confirm a qualified registrant of a
listed or English-auction listing, with a rank, during the listing period; the designation shows the bidder
code, never the organization; a listed listing resolved to a deal without an auction goes to the holder of the
lowest rank number, then the earliest registration, before any other registrant (SPEC §9)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.models.trading import Registration, RegistrationStatus
from app.registrations.priority import by_priority, ranks
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.registrations import helpers as h
from tests.world import World, org, orgs

pytestmark = pytest.mark.world(seller=org("university"), buyers=orgs(3, funds="20000.00"))


def holders_url(listing_id: str) -> str:
    return f"/api/v1/listings/{listing_id}/priority-holders"


async def designate(
    client: httpx.AsyncClient,
    actor: f.Actor,
    listing_id: str,
    registration_id: str,
    rank: int = 1,
    *,
    basis: str = "co_owner",
    expect: int = 201,
    code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {"registration_id": registration_id, "rank": rank, "basis": basis, **extra}
    r = await client.post(holders_url(listing_id), json=body, headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    if code is not None:
        assert result["code"] == code, result
    return result


async def holders(
    client: httpx.AsyncClient, listing_id: str, actor: f.Actor | None = None
) -> list[dict[str, Any]]:
    r = await client.get(holders_url(listing_id), headers=actor.headers if actor else None)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _names_nobody(text: str, *orgs: f.Actor) -> None:
    for who in orgs:
        assert who.org is not None
        for value in (who.org_id, who.org["name"], who.org["credit_code"], who.id, who.email):
            assert str(value) not in text, value


async def test_designation_shows_the_bidder_code_only(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, (buyer, other, _) = world
    listing = await h.listed(client, op, seller)
    reg = await h.registered(client, buyer, listing["id"])
    holder = await designate(
        client, op, listing["id"], reg["id"], 2, basis="licensee", note="现有普通许可被许可人"
    )

    assert set(holder) == {
        "id",
        "listing_id",
        "registration_id",
        "bidder_code",
        "rank",
        "basis",
        "note",
        "created_at",
    }
    assert (holder["listing_id"], holder["registration_id"], holder["bidder_code"]) == (
        listing["id"],
        reg["id"],
        reg["bidder_code"],
    )
    assert (holder["rank"], holder["basis"], holder["note"]) == (2, "licensee", "现有普通许可被许可人")
    # Whoever may see the listing reads it — the public, the seller, another bidder — and nobody learns who.
    for reader in (None, seller, other, buyer, op):
        assert await holders(client, listing["id"], reader) == [holder]
    _names_nobody(json.dumps(holder, ensure_ascii=False), buyer)
    # The audit event sits on the listing's chain, readable by the seller, naming the bidder code only.
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "listing", "entity_id": listing["id"]},
        headers=seller.headers,
    )
    assert r.status_code == 200, r.text
    (event,) = [e for e in r.json()["items"] if e["action"] == "priority_holder_designated"]
    assert event["data"]["bidder_code"] == reg["bidder_code"] and event["data"]["rank"] == 2
    _names_nobody(json.dumps(event, ensure_ascii=False), buyer)

    async with db.read() as session:
        assert await ranks(session, uuid.UUID(listing["id"])) == {uuid.UUID(reg["id"]): 2}
    await assert_invariants(db)


async def test_only_operators_designate_and_remove(client: httpx.AsyncClient, world: World) -> None:
    op, seller, (buyer, *_) = world
    listing = await h.listed(client, op, seller)
    reg = await h.registered(client, buyer, listing["id"])
    for actor in (seller, buyer):
        await designate(client, actor, listing["id"], reg["id"], expect=403, code="forbidden")
    holder = await designate(client, op, listing["id"], reg["id"])
    for actor in (seller, buyer):
        r = await client.delete(f"/api/v1/priority-holders/{holder['id']}", headers=actor.headers)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.delete(f"/api/v1/priority-holders/{holder['id']}")
    assert r.status_code == 401
    assert len(await holders(client, listing["id"])) == 1


@pytest.mark.parametrize(
    "terms",
    [
        {"pricing_mode": "negotiated", "price": "100000.00"},
        {
            "pricing_mode": "auction",
            "price": h.PRICE,
            "deposit": h.DEPOSIT,
            "auction": {"format": "sealed", "increment": "1000.00"},
        },
        {
            "pricing_mode": "auction",
            "price": h.PRICE,
            "deposit": h.DEPOSIT,
            "auction": {
                "format": "dutch",
                "increment": "1000.00",
                "decrement": "1000.00",
                "step_seconds": 60,
                "floor_price": "50000.00",
            },
        },
    ],
    ids=["negotiated", "sealed", "dutch"],
)
async def test_format_not_supported(client: httpx.AsyncClient, world: World, terms: dict[str, Any]) -> None:
    op, seller, (buyer, *_) = world
    listing = await t.published_listing(client, op, seller, **terms)
    registration_id = str(uuid.uuid4())
    if terms["pricing_mode"] == "auction":
        registration_id = (await h.registered(client, buyer, listing["id"]))["id"]
    await designate(client, op, listing["id"], registration_id, expect=409, code="format_not_supported")


async def test_english_auction_listing_takes_holders(client: httpx.AsyncClient, world: World) -> None:
    op, seller, (buyer, *_) = world
    listing = await h.auction_listing(client, op, seller)
    reg = await h.registered(client, buyer, listing["id"])
    assert (await designate(client, op, listing["id"], reg["id"], 3))["rank"] == 3


async def test_registration_must_be_a_qualified_one_of_this_listing(
    client: httpx.AsyncClient, world: World
) -> None:
    op, seller, (buyer, other, third) = world
    listing = await h.listed(client, op, seller, requires_qualification_review=True)
    elsewhere = await h.listed(client, op, seller)
    foreign = await h.registered(client, buyer, elsewhere["id"])
    await designate(client, op, listing["id"], foreign["id"], expect=404, code="not_found")
    await designate(client, op, listing["id"], str(uuid.uuid4()), expect=404, code="not_found")
    await designate(client, op, str(uuid.uuid4()), foreign["id"], expect=404, code="not_found")

    pending = await h.registered(client, buyer, listing["id"])
    assert pending["status"] == "pending_review"
    await designate(client, op, listing["id"], pending["id"], expect=409, code="invalid_state")
    withdrawn = await h.registered(client, other, listing["id"])
    assert (await h.act(client, other, withdrawn["id"], "withdraw")).status_code == 200
    await designate(client, op, listing["id"], withdrawn["id"], expect=409, code="invalid_state")

    qualified = await h.registered(client, third, listing["id"])
    assert (await h.act(client, op, qualified["id"], "qualify")).status_code == 200
    await designate(client, op, listing["id"], qualified["id"])
    await designate(client, op, listing["id"], qualified["id"], 2, expect=409, code="already_designated")


@pytest.mark.parametrize("rank", [0, 10, 1.5])
async def test_rank_is_1_to_9(client: httpx.AsyncClient, world: World, rank: Any) -> None:
    op, seller, (buyer, *_) = world
    listing = await h.listed(client, op, seller)
    reg = await h.registered(client, buyer, listing["id"])
    await designate(client, op, listing["id"], reg["id"], rank, expect=422)
    await designate(client, op, listing["id"], reg["id"], 1, basis="friend", expect=422)


async def test_a_holder_withdrawn_or_disqualified_loses_the_right(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, (buyer, other, _) = world
    listing = await h.listed(client, op, seller)
    a = await h.registered(client, buyer, listing["id"])
    b = await h.registered(client, other, listing["id"])
    await designate(client, op, listing["id"], a["id"], 1)
    await designate(client, op, listing["id"], b["id"], 2)
    assert (await h.act(client, buyer, a["id"], "withdraw")).status_code == 200
    r = await h.act(client, op, b["id"], "disqualify", {"reason": "资料不全"})
    assert r.status_code == 200, r.text
    assert await holders(client, listing["id"]) == []
    async with db.read() as session:
        assert await ranks(session, uuid.UUID(listing["id"])) == {}


async def test_designation_and_removal_only_in_the_listing_period(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, (buyer, other, third) = world
    listing = await h.listed(client, op, seller)
    a = await h.registered(client, buyer, listing["id"])
    b = await h.registered(client, other, listing["id"])
    c = await h.registered(client, third, listing["id"])
    kept = await designate(client, op, listing["id"], a["id"], 1)
    removed = await designate(client, op, listing["id"], b["id"], 1)
    r = await client.delete(f"/api/v1/priority-holders/{removed['id']}", headers=op.headers)
    assert r.status_code == 204, r.text
    assert [x["id"] for x in await holders(client, listing["id"])] == [kept["id"]]
    r = await client.delete(f"/api/v1/priority-holders/{removed['id']}", headers=op.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "listing", "entity_id": listing["id"]},
        headers=op.headers,
    )
    (event,) = [e for e in r.json()["items"] if e["action"] == "priority_holder_removed"]
    assert (event["data"]["priority_holder_id"], event["data"]["bidder_code"]) == (
        removed["id"],
        b["bidder_code"],
    )

    await t.advance_past(client, listing["listing_ends_at"])  # three registrants: the auction opens
    assert (await h.listing(client, listing["id"]))["status"] == "in_auction"
    await designate(client, op, listing["id"], c["id"], 1, expect=409, code="invalid_state")
    r = await client.delete(f"/api/v1/priority-holders/{kept['id']}", headers=op.headers)
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    assert [x["id"] for x in await holders(client, listing["id"])] == [kept["id"]]
    await assert_invariants(db)


async def test_idempotency_key_replays_the_designation(client: httpx.AsyncClient, world: World) -> None:
    op, seller, (buyer, *_) = world
    listing = await h.listed(client, op, seller)
    reg = await h.registered(client, buyer, listing["id"])
    body = {"registration_id": reg["id"], "rank": 1, "basis": "co_owner"}
    headers = {**op.headers, "Idempotency-Key": "designate-1"}
    first = await client.post(holders_url(listing["id"]), json=body, headers=headers)
    again = await client.post(holders_url(listing["id"]), json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert len(await holders(client, listing["id"])) == 1


# --- SPEC §9 with holders ---------------------------------------------------------------------------------


def test_by_priority_orders_holders_by_rank_then_registration() -> None:
    regs = [
        Registration(id=uuid.uuid4(), status=RegistrationStatus.qualified, bidder_code=f"B0{i}")
        for i in range(1, 6)
    ]
    b1, b2, b3, b4, b5 = regs
    assert by_priority(regs, {}) == regs
    assert by_priority(regs, {b4.id: 2, b2.id: 2, b5.id: 1}) == [b5, b2, b4, b1, b3]


@pytest.mark.parametrize(
    ("ranks_by_position", "winner_position"),
    [
        ({}, 0),  # no holder: the earliest registrant (§9 unchanged)
        ({2: 1}, 2),  # the only holder, registered last
        ({1: 2, 2: 1}, 2),  # the lowest rank number
        ({1: 1, 2: 1}, 1),  # equal ranks: the earlier registration
    ],
)
async def test_a_deal_without_an_auction_goes_to_the_first_holder(
    client: httpx.AsyncClient,
    db: Database,
    world: World,
    ranks_by_position: dict[int, int],
    winner_position: int,
) -> None:
    """Three qualified registrants, a threshold of four: a deal at the listed price, no auction."""
    op, seller, buyers = world
    listing = await h.listed(client, op, seller, min_bidders_for_auction=4)
    regs = [await h.registered(client, buyer, listing["id"]) for buyer in buyers]
    for position, rank in ranks_by_position.items():
        await designate(client, op, listing["id"], regs[position]["id"], rank)
    await t.advance_past(client, listing["listing_ends_at"])

    (deal,) = await h.deals_of_listing(db, listing["id"])
    assert str(deal.buyer_org_id) == buyers[winner_position].org_id
    assert str(deal.registration_id) == regs[winner_position]["id"]
    for position, reg in enumerate(regs):
        status = (await h.registration(client, buyers[position], reg["id"]))["deposit_status"]
        assert status == ("held" if position == winner_position else "refunded")
    await assert_invariants(db)
