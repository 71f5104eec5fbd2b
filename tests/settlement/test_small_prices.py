"""SPEC §20 "State and money": each side's fee is capped at the deal price. A deal priced below the schedule's
minimum fee pays the price as fee at most, the seller's net is never negative, and such a deal is paid and
settled like any other (nothing stays in escrow)."""

from __future__ import annotations

import httpx

from app.deals.fees import load_schedule
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as lic
from tests.settlement import helpers as h

FEES = load_schedule()


async def test_negotiated_deal_below_the_minimum_fee_settles(client: httpx.AsyncClient, db) -> None:
    price = h.yuan("1.00")
    assert FEES.buyer.minimum > price and FEES.seller.minimum > price  # the case the rule is about
    case = await h.offer_deal(client, db, price="1.00")
    assert (case.deal["price"], case.deal["buyer_fee"], case.deal["seller_fee"]) == ("1.00", "1.00", "1.00")
    assert case.deal["amount_due"] == "2.00"

    deal = await h.settled(client, db, case)
    assert deal["status"] == "settled"
    # The seller's net is the price less its (capped) fee: zero, not negative.
    assert await t.balance(client, case.seller) == {"available": "0.00", "held": "0.00"}
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.fee_income(db) == 2 * price
    assert await h.escrow_balance(db, case.id) == 0
    r = await client.get("/api/v1/ledger/trial-balance", headers=case.op.headers)
    assert r.status_code == 200, r.text
    assert r.json()["balanced"] is True and r.json()["total"] == "0.00"
    await assert_invariants(db, all_resolved=True)


async def test_listed_deal_at_a_tiny_price_applies_the_deposit_and_settles(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.listed_deal(client, db, price="10.00", deposit="3.00")
    assert (case.deal["buyer_fee"], case.deal["seller_fee"]) == ("10.00", "10.00")
    assert case.deal["amount_due"] == "17.00"  # price − deposit + buyer fee
    deal = await h.settled(client, db, case)
    assert deal["status"] == "settled"
    assert await t.balance(client, case.seller) == {"available": "0.00", "held": "0.00"}
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.fee_income(db) == h.yuan("20.00")
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)


async def test_open_licence_with_a_tiny_lump_sum_caps_both_fees(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, kind="university", verified_by=op)
    licensee = await f.organization(client, verified_by=op)
    item = await lic.declared(client, op, owner, lump_sum="1.00")
    await t.fund(client, op, licensee, "2.00")  # the lump sum and a buyer fee capped at it: nothing more

    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=licensee.headers)
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]
    deal = await h.get(client, op, deal_id)
    assert deal["status"] == "settled"
    assert (deal["price"], deal["buyer_fee"], deal["seller_fee"]) == ("1.00", "1.00", "1.00")
    assert await t.balance(client, licensee) == {"available": "0.00", "held": "0.00"}
    assert await t.balance(client, owner) == {"available": "0.00", "held": "0.00"}
    assert await h.escrow_balance(db, deal_id) == 0
    assert await h.fee_income(db) == h.yuan("2.00")
    await assert_invariants(db)
