"""Patents as equity (SPEC §18.2) end to end through the API: every pricing mode to ``completed``, the money (only
the two fees leave the buyer, the seller's balances never change, turnover counts the price), the
completion steps and their overdue flags (nothing unwinds)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests import trading as t
from tests.equity import helpers as e
from tests.invariants import assert_invariants
from tests.settlement import helpers as h
from tests.world import World, org

pytestmark = pytest.mark.world(uni=org("university"), company=org(), hospital=org("hospital"), other=org())


async def _complete(client: httpx.AsyncClient, world: World, deal: dict) -> dict:
    """From settlement: the transfer registered, the equity registration recorded → completed."""
    op, uni, company = world.op, world.uni, world.company
    assert deal["status"] == "settled"
    completion = deal["equity"]["completion"]
    due = (e.settled_day(deal) + timedelta(days=60)).isoformat()
    assert completion["assignment"] == {"due_on": due, "done_on": None, "overdue": False}
    assert completion["equity_registration"]["due_on"] == due
    today = await e.today(client)
    await e.register_transfer(client, op, uni, deal["id"], today)
    deal = await h.get(client, op, deal["id"])
    assert deal["status"] == "settled"
    assert deal["equity"]["completion"]["assignment"]["done_on"] == today.isoformat()
    r = await e.register_equity(client, company, deal["id"], today)
    assert r.status_code == 200, r.text
    deal = r.json()
    assert deal["status"] == "completed" and deal["completed_at"] is not None
    step = deal["equity"]["completion"]["equity_registration"]
    assert step["registration_number"] == "330100000123456" and step["registered_on"] == today.isoformat()
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": deal["id"]}, headers=op.headers
    )
    actions = [x["action"] for x in r.json()["items"]]
    for action in (
        "equity_terms_recorded",
        "valuation_recorded",
        "equity_registration_recorded",
        "completed",
    ):
        assert action in actions, actions
    assert actions[-1] == "completed"
    return deal


async def test_negotiated_with_public_notice_to_completed(
    client: httpx.AsyncClient, db, world: World
) -> None:
    op, uni, company = world.op, world.uni, world.company
    deal = await e.negotiated_deal(client, op, uni, company, price="1000000.00")
    assert deal["transaction_kind"] == "equity_contribution" and deal["status"] == "public_notice"
    assert deal["cash_price"] == "0.00" and deal["price"] == "1000000.00"
    equity = deal["equity"]
    assert equity["investee"]["organization_id"] == company.org_id
    assert equity["registered_capital"] is None and equity["completion"] is None
    assert h.yuan(deal["amount_due"]) == h.yuan(deal["buyer_fee"]) + h.yuan(deal["seller_fee"])
    await e.agree(client, uni, company, deal)  # during the notice
    deal = await e.past_notice(client, op, deal)
    assert deal["equity"]["equity_percent"] == "15.00"
    assert deal["equity"]["contributors"] == [
        {"owner_id": uni.org_id, "name": deal["equity"]["contributors"][0]["name"], "equity_percent": "15.00"}
    ]
    before = await t.balance(client, company)
    deal = await e.sign_pay_settle(client, op, uni, company, deal)
    fees = h.yuan(deal["buyer_fee"]) + h.yuan(deal["seller_fee"])
    assert (
        await t.balance(client, company) == before
    )  # funded with exactly the two fees (sign_pay_settle), which left
    assert await e.untouched(client, uni)
    assert await h.fee_income(db) == fees
    assert await h.escrow_balance(db, deal["id"]) == 0
    for patent in (await client.get(f"/api/v1/listings/{deal['listing_id']}")).json()["patents"]:
        r = await client.get(f"/api/v1/patents/{patent['id']}", headers=company.headers)
        assert r.json()["owner_org_id"] == company.org_id
    r = await client.get("/api/v1/stats/turnover", params={"group_by": "transaction_kind"})
    (item,) = [i for i in r.json()["items"] if i["key"] == "equity_contribution"]
    assert item["amount"] == "1000000.00" and item["deals"] == 1
    await _complete(client, world, deal)
    assert await e.untouched(client, uni)
    await assert_invariants(db, all_resolved=True)


async def test_listed_with_a_deposit_to_completed(client: httpx.AsyncClient, db, world: World) -> None:
    op, uni, company = world.op, world.uni, world.company
    deal = await e.listed_deal(client, db, op, uni, company, price="1000000.00", deposit="50000.00")
    assert deal["status"] == "awaiting_signatures" and deal["source"] == "listing"
    fees = h.yuan(deal["buyer_fee"]) + h.yuan(deal["seller_fee"])
    assert h.yuan(deal["amount_due"]) == max(fees - h.yuan("50000.00"), 0)
    await e.agree(client, uni, company, deal)
    deal = await e.sign_pay_settle(client, op, uni, company, deal)
    # The deposit paid the fees; the rest came back: exactly the two fees left the buyer.
    assert h.yuan((await t.balance(client, company))["available"]) == h.yuan("50000.00") - fees
    assert await e.untouched(client, uni)
    await _complete(client, world, deal)
    await assert_invariants(db, all_resolved=True)


async def test_auction_to_completed(client: httpx.AsyncClient, db, world: World) -> None:
    from tests.auctions import helpers as a

    case = await a.open_auction(
        client, db, bidders=1, transaction_kind="equity_contribution", price="100000.00"
    )
    bidder = case.bidders[0]
    r = await a.bid(client, case, bidder, "100000.00")
    assert r.status_code in (200, 201), r.text
    auction = await a.state(client, case)
    await t.advance_past(client, auction["ends_at"])
    auction = await a.state(client, case)
    deal = await h.get(client, case.op, auction["deal_id"])
    assert deal["source"] == "auction" and deal["transaction_kind"] == "equity_contribution"
    assert deal["equity"]["investee"]["organization_id"] == bidder.org_id
    assert deal["cash_price"] == "0.00"
    r = await e.terms(client, bidder, deal["id"], registered_capital="50000.00", equity_percent="5")
    assert r.status_code == 200, r.text
    r = await e.valuation(
        client,
        case.seller,
        deal["id"],
        {"report": e.report(value="100000.00", base_date=await e.today(client))},
    )
    assert r.status_code == 200, r.text
    deal = await e.sign_pay_settle(
        client, case.op, case.seller, bidder, await h.get(client, case.op, deal["id"])
    )
    assert await e.untouched(client, case.seller)
    today = await e.today(client)
    await e.register_transfer(client, case.op, case.seller, deal["id"], today)
    r = await e.register_equity(client, case.op, deal["id"], today)  # an operator may record it too
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    await assert_invariants(db, all_resolved=True)


async def test_overdue_steps_are_flagged_once_and_nothing_unwinds(
    client: httpx.AsyncClient, db, world: World
) -> None:
    deal = await e.past_notice(
        client, world.op, await e.negotiated_deal(client, world.op, world.uni, world.company)
    )
    op, uni, company = world.op, world.uni, world.company
    await e.agree(client, uni, company, deal)
    deal = await e.sign_pay_settle(client, op, uni, company, await h.get(client, op, deal["id"]))
    due = deal["equity"]["completion"]["assignment"]["due_on"]
    await e.register_equity(client, company, deal["id"], e.settled_day(deal))
    await t.advance(client, 59 * 86400)
    deal = await h.get(client, op, deal["id"])
    assert deal["equity"]["completion"]["assignment"]["overdue"] is False
    await t.advance(client, 3 * 86400)  # past 00:00 Shanghai after due_on
    deal = await h.get(client, op, deal["id"])
    completion = deal["equity"]["completion"]
    assert deal["status"] == "settled"
    assert completion["assignment"]["overdue"] is True
    assert completion["equity_registration"]["overdue"] is False  # done in time
    await t.advance(client, 10 * 86400)
    for party in (uni, company):
        r = await client.get("/api/v1/notifications", headers=party.headers, params={"limit": 100})
        notices = [x for x in r.json()["items"] if x["kind"] == "equity_completion_overdue"]
        assert [x["data"] for x in notices] == [{"deal_id": deal["id"], "step": "assignment", "due_on": due}]
    # Still completes once the transfer is registered.
    await e.register_transfer(client, op, uni, deal["id"], await e.today(client))
    deal = await h.get(client, op, deal["id"])
    assert deal["status"] == "completed"
    assert deal["equity"]["completion"]["assignment"]["overdue"] is True
