"""The income split at settlement and inventors' payouts (SPEC §18.5): a co-owned assignment pays each owner its
floored share of price − seller fee, the seller the rest; an inventor's part waits on its institution's
payable-to-inventors account until the institution pays it out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.kit.money import format_fen, parse_yuan
from tests import factories as f
from tests.invariants import assert_invariants
from tests.owners import helpers as h
from tests.settlement import helpers as s
from tests.world import org

pytestmark = pytest.mark.world(seller=org(), partner=org(), buyer=org(funds="2000000.00"), other=org())
SHA = "cd" * 32
PRICE = "123457.89"


async def co_owned_deal(
    client: httpx.AsyncClient, db: Database, world: Any, person: str
) -> tuple[s.DealCase, str, str]:
    """The seller (enterprise, managing owner, 63.33%), its partner (26.67%) and an inventor of the seller's
    (10%) sell a patent by negotiation; every consent given; the deal settled."""
    op, seller, partner, buyer, other = world
    p = await f.patent(client, seller)
    p = await h.owners_ok(
        client,
        seller,
        p["id"],
        [h.org_owner(seller, "63.33"), h.org_owner(partner, "26.67"), h.inventor("赵六", person, "10")],
    )
    r = await client.post(
        "/api/v1/listings",
        json={
            "title": "共有专利转让",
            "summary": "三方共有。",
            "patent_ids": [p["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
            "price": PRICE,
        },
        headers=seller.headers,
    )
    assert r.status_code == 201, r.text
    listing_id = r.json()["id"]
    assert (await h.consent(client, partner, f"listings/{listing_id}")).status_code == 201
    r = await h.consent(
        client, op, f"listings/{listing_id}", {"owner_id": h.owner_id(p, person), "document_sha256": SHA}
    )
    assert r.status_code == 201
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=seller.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    offer = await s.n.offer(client, buyer, listing_id, PRICE)
    accepted = await s.n.move(client, seller, offer["id"], "accept")
    case = s.DealCase(op, seller, buyer, other, r.json(), await s.get(client, op, accepted["deal_id"]))
    await s.settled(client, db, case)
    return case, p["id"], h.owner_id(p, person)


async def account(client: httpx.AsyncClient, actor: f.Actor) -> dict[str, int]:
    r = await client.get(f"/api/v1/organizations/{actor.org_id}/account", headers=actor.headers)
    assert r.status_code == 200, r.text
    return {k: parse_yuan(v) for k, v in r.json().items()}


async def test_a_co_owned_settlement_splits_the_net_by_shares(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    op, seller, partner, buyer, _other = world
    before = {a.org_id: await account(client, a) for a in (seller, partner)}
    person = h.id_number(51)
    case, patent_id, _ = await co_owned_deal(client, db, world, person)
    net = parse_yuan(case.deal["price"]) - parse_yuan(case.deal["seller_fee"])
    partner_part = net * 2667 // 10_000
    inventor_part = net * 1000 // 10_000
    seller_part = net - partner_part - inventor_part
    after_seller, after_partner = await account(client, seller), await account(client, partner)
    assert after_partner["available"] - before[partner.org_id]["available"] == partner_part
    assert after_seller["available"] - before[seller.org_id]["available"] == seller_part
    assert after_seller["payable_to_inventors"] == inventor_part
    assert "payable_to_inventors" not in after_partner  # shown once an organization holds inventors' parts
    assert seller_part + partner_part + inventor_part == net
    # The settlement event records each part.
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": case.id}, headers=op.headers
    )
    settled = next(e for e in r.json()["items"] if e["action"] == "settled")
    parts = {(p["kind"], p["organization_id"]): p["amount"] for p in settled["data"]["income_parts"]}
    assert parts == {
        ("organization", seller.org_id): seller_part,
        ("organization", partner.org_id): partner_part,
        ("inventor", seller.org_id): inventor_part,
    }
    # The buyer now owns alone.
    r = await client.get(f"/api/v1/patents/{patent_id}", headers=buyer.headers)
    assert [(o["organization_id"], o["share"]) for o in r.json()["owners"]] == [(buyer.org_id, "100.00")]
    await assert_invariants(db)
    await s.settled_escrows_are_zero(db)


async def test_inventor_payouts(client: httpx.AsyncClient, db: Database, world: Any) -> None:
    _op, seller, partner, _buyer, other = world
    _case, _, inventor_id = await co_owned_deal(client, db, world, h.id_number(61))
    owed = (await account(client, seller))["payable_to_inventors"]
    assert owed > 0
    path = f"/api/v1/organizations/{seller.org_id}/inventor-payouts"

    def body(amount: int, ref: str = "ICBC-INV-1") -> dict[str, str]:
        return {"owner_id": inventor_id, "amount": format_fen(amount), "bank_reference": ref}

    # Only the institution's admin; another organization does not see it.
    r = await client.post(path, json=body(1), headers=other.headers)
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/organizations/{partner.org_id}/inventor-payouts", json=body(1), headers=partner.headers
    )
    assert r.status_code == 404  # not the partner's inventor
    r = await client.post(path, json=body(owed + 1), headers=seller.headers)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    r = await client.post(path, json=body(owed - 1), headers=seller.headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["owner_id"] == inventor_id and out["organization_id"] == seller.org_id
    assert out["amount"] == format_fen(owed - 1) and out["bank_reference"] == "ICBC-INV-1" and out["at"]
    r = await client.post(path, json=body(2, "ICBC-INV-2"), headers=seller.headers)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    r = await client.post(path, json=body(1, "ICBC-INV-3"), headers=seller.headers)
    assert r.status_code == 201
    assert (await account(client, seller))["payable_to_inventors"] == 0
    # The payable money was never the seller's to spend: its available balance did not move with the payouts.
    await assert_invariants(db)


async def test_payouts_are_for_admins_and_need_a_positive_amount(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    _op, seller, *_ = world
    r = await client.post(
        f"/api/v1/organizations/{seller.org_id}/inventor-payouts",
        json={"owner_id": seller.org_id, "amount": "0.00", "bank_reference": "X"},
        headers=seller.headers,
    )
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/organizations/{seller.org_id}/inventor-payouts",
        json={"owner_id": seller.org_id, "amount": "1.00", "bank_reference": "X"},
        headers=seller.headers,
    )
    assert r.status_code == 404  # no such inventor


async def test_a_co_owned_deals_reward_plan_shares_the_sellers_own_part(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    """SPEC §18.5: §12's net income of a co-owned deal is the seller's own part − costs."""
    _op, seller, *_ = world
    case, _, _ = await co_owned_deal(client, db, world, h.id_number(91))
    net = parse_yuan(case.deal["price"]) - parse_yuan(case.deal["seller_fee"])
    seller_part = net - net * 2667 // 10_000 - net * 1000 // 10_000
    costs = 1000_00
    pool = -((-7 * (seller_part - costs)) // 10)  # 70% of the seller's part less costs, rounded up
    staff = -((-pool * 5) // 100)
    plan = {
        "costs": format_fen(costs),
        "allocations": [
            {"name": "张三", "role": "main_contributor", "amount": format_fen(pool - staff)},
            {"name": "李四", "role": "transfer_staff", "amount": format_fen(staff)},
        ],
    }
    r = await client.post(f"/api/v1/deals/{case.id}/reward-plan", json=plan, headers=seller.headers)
    assert r.status_code == 201, r.text
    assert r.json()["net_income"] == format_fen(seller_part - costs)


async def test_any_co_owner_declares_an_open_licence_and_the_fee_is_shared(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    """SPEC §18.5: any organization owner alone licenses non-exclusively (an open licence) and the fee is shared."""
    from tests.licensing import helpers as lic

    op, seller, partner, buyer, _other = world
    p = await lic.patent(client, seller)
    await h.owners_ok(client, seller, p["id"], [h.org_owner(seller, "60"), h.org_owner(partner, "40")])
    # The partner, not the managing owner, declares.
    item = await lic.declared(client, op, partner, p["id"])
    before = {a.org_id: (await account(client, a))["available"] for a in (seller, partner)}
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=buyer.headers)
    assert r.status_code == 201, r.text
    deal = await s.get(client, op, r.json()["deal_id"])
    net = parse_yuan(deal["price"]) - parse_yuan(deal["seller_fee"])
    assert deal["seller_org_id"] == partner.org_id
    assert (await account(client, seller))["available"] - before[seller.org_id] == net * 6000 // 10_000
    assert (await account(client, partner))["available"] - before[
        partner.org_id
    ] == net - net * 6000 // 10_000
    await assert_invariants(db)


async def test_two_payouts_at_once_never_pay_more_than_owed(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    _op, seller, *_ = world
    _case, _, inventor_id = await co_owned_deal(client, db, world, h.id_number(95))
    owed = (await account(client, seller))["payable_to_inventors"]
    path = f"/api/v1/organizations/{seller.org_id}/inventor-payouts"
    amount = owed // 2 + 1  # two of these are more than owed
    responses = await asyncio.gather(
        *(
            client.post(
                path,
                json={"owner_id": inventor_id, "amount": format_fen(amount), "bank_reference": f"RACE-{i}"},
                headers=seller.headers,
            )
            for i in range(2)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert (await account(client, seller))["payable_to_inventors"] == owed - amount
    await assert_invariants(db)
