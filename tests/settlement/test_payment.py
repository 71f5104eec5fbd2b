"""Paying a deal (SPEC §11): the deposit applied and the rest into escrow in one transaction; insufficient
funds leave nothing behind; only the buyer pays; the payment deadline defaults the deal (SPEC §7)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from app.models.ledger import EntryKind, JournalEntry
from tests import trading as t
from tests.invariants import assert_invariants
from tests.settlement import helpers as h


async def _entries(db, kind: EntryKind) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).where(JournalEntry.kind == kind)) or 0)


async def test_pay_without_deposit(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    deal = await h.awaiting_payment(client, db, case)
    assert deal["deposit_applied"] == "0.00"
    assert h.yuan(deal["amount_due"]) == h.yuan(deal["price"]) + h.yuan(deal["buyer_fee"])
    await h.fund_amount_due(client, case)

    r = await h.pay(client, case.buyer, case.id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "paid" and body["paid_at"] is not None
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.escrow_balance(db, case.id) == h.yuan(deal["amount_due"])
    assert (await h.get(client, case.seller, case.id))["status"] == "paid"
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": case.id}, headers=case.op.headers
    )
    assert [e["action"] for e in r.json()["items"]][-1] == "paid"
    await assert_invariants(db, all_resolved=True)


async def test_pay_applies_the_held_deposit(client: httpx.AsyncClient, db) -> None:
    case = await h.listed_deal(client, db, price="100000.00", deposit="10000.00")
    deal = await h.awaiting_payment(client, db, case)
    assert deal["deposit_applied"] == "10000.00"
    assert h.yuan(deal["amount_due"]) == h.yuan("90000.00") + h.yuan(deal["buyer_fee"])
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "10000.00"}
    await h.fund_amount_due(client, case)

    r = await h.pay(client, case.buyer, case.id)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid"
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.escrow_balance(db, case.id) == h.yuan("100000.00") + h.yuan(deal["buyer_fee"])
    await assert_invariants(db, all_resolved=True)


async def test_insufficient_funds_leaves_nothing_behind(client: httpx.AsyncClient, db) -> None:
    case = await h.listed_deal(client, db)
    deal = await h.awaiting_payment(client, db, case)
    short = h.money(h.yuan(deal["amount_due"]) - 1)
    await t.fund(client, case.op, case.buyer, short)

    r = await h.pay(client, case.buyer, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "insufficient_funds")
    assert (await h.get(client, case.buyer, case.id))["status"] == "awaiting_payment"
    assert await t.balance(client, case.buyer) == {"available": short, "held": "10000.00"}
    assert await h.escrow_balance(db, case.id) == 0
    assert await _entries(db, EntryKind.deposit_apply) == 0
    assert await _entries(db, EntryKind.deal_payment) == 0
    await assert_invariants(db)

    # Topped up by one fen, the same payment goes through.
    await t.fund(client, case.op, case.buyer, "0.01")
    r = await h.pay(client, case.buyer, case.id)
    assert r.status_code == 200, r.text
    await assert_invariants(db, all_resolved=True)


async def test_only_the_buyer_pays(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    await h.awaiting_payment(client, db, case)
    await h.fund_amount_due(client, case)
    r = await h.pay(client, case.seller, case.id)
    assert (r.status_code, h.code_of(r)) == (403, "forbidden")
    r = await h.pay(client, case.op, case.id)
    assert (r.status_code, h.code_of(r)) == (403, "forbidden")
    r = await h.pay(client, case.outsider, case.id)
    assert (r.status_code, h.code_of(r)) == (404, "not_found")
    r = await client.post(f"/api/v1/deals/{case.id}/pay")
    assert r.status_code == 401
    assert (await h.get(client, case.buyer, case.id))["status"] == "awaiting_payment"
    await assert_invariants(db)


async def test_pay_needs_awaiting_payment(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    assert case.deal["status"] == "awaiting_signatures"
    await t.fund(client, case.op, case.buyer, case.deal["amount_due"])
    r = await h.pay(client, case.buyer, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")
    await h.awaiting_payment(client, db, case)
    assert (await h.pay(client, case.buyer, case.id)).status_code == 200
    r = await h.pay(client, case.buyer, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    await assert_invariants(db)


async def test_payment_is_idempotent(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    await h.awaiting_payment(client, db, case)
    await h.fund_amount_due(client, case)
    await t.fund(client, case.op, case.buyer, "1000.00")  # a second charge would succeed: it must not happen
    first = await h.pay(client, case.buyer, case.id, **{"Idempotency-Key": "pay-1"})
    again = await h.pay(client, case.buyer, case.id, **{"Idempotency-Key": "pay-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert await t.balance(client, case.buyer) == {"available": "1000.00", "held": "0.00"}
    await assert_invariants(db)


async def test_two_concurrent_payments_pay_once(client: httpx.AsyncClient, db) -> None:
    case = await h.listed_deal(client, db)
    deal = await h.awaiting_payment(client, db, case)
    await t.fund(client, case.op, case.buyer, h.money(2 * h.yuan(deal["amount_due"])))
    results = await asyncio.gather(*(h.pay(client, case.buyer, case.id) for _ in range(2)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    assert [h.code_of(r) for r in results if r.status_code == 409] == ["invalid_state"]
    assert await t.balance(client, case.buyer) == {"available": deal["amount_due"], "held": "0.00"}
    assert await _entries(db, EntryKind.deal_payment) == 1
    assert await _entries(db, EntryKind.deposit_apply) == 1
    await assert_invariants(db, all_resolved=True)


async def test_unpaid_deal_defaults_at_pay_by(client: httpx.AsyncClient, db) -> None:
    """No payment by ``pay_by``: the deal defaults, the deposit goes to the seller, the listing fails."""
    case = await h.listed_deal(client, db, price="100000.00", deposit="10000.00")
    deal = await h.awaiting_payment(client, db, case)
    await h.fund_amount_due(client, case)
    seller_before = h.yuan((await t.balance(client, case.seller))["available"])

    await t.advance_past(client, deal["pay_by"])
    after = await h.get(client, case.buyer, case.id)
    assert after["status"] == "defaulted"
    assert await t.balance(client, case.buyer) == {"available": deal["amount_due"], "held": "0.00"}
    seller_after = h.yuan((await t.balance(client, case.seller))["available"])
    assert seller_after - seller_before == h.yuan("10000.00")
    r = await client.get(f"/api/v1/listings/{case.listing['id']}")
    assert r.json()["status"] == "failed"
    r = await h.pay(client, case.buyer, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": case.id}, headers=case.op.headers
    )
    events = r.json()["items"]
    assert events[-1]["action"] == "defaulted" and events[-1]["actor"] == "system"
    assert h.at(events[-1]["at"]) == h.at(deal["pay_by"])
    await assert_invariants(db, all_resolved=True)


async def test_payment_after_the_deadline_is_refused(client: httpx.AsyncClient, db) -> None:
    """Paying past ``pay_by`` before the sweeper ran is refused as well (the guard checks the time)."""
    from tests.auctions.helpers import move_clock_only

    case = await h.offer_deal(client, db)
    deal = await h.awaiting_payment(client, db, case)
    await h.fund_amount_due(client, case)
    gap = (h.at(deal["pay_by"]) - await t.now(client)).total_seconds() + 1
    await move_clock_only(db, gap)
    r = await h.pay(client, case.buyer, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")
    await t.advance(client, 0.001)
    assert (await h.get(client, case.buyer, case.id))["status"] == "defaulted"
    await assert_invariants(db, all_resolved=True)
