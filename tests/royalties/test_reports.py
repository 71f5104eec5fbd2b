"""Royalty reports over HTTP (SPEC §18.4): a royalty-bearing open licence taken, its periods' reports created by
the sweeper through the sandbox clock, filed, paid into escrow and settled, overdue flags, who reads them."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.deadlines import sweeper
from app.deals.fees import load_schedule
from app.kit.db import create_database
from app.kit.money import format_fen, parse_yuan
from app.models.ledger import EntryKind, JournalEntry
from app.models.royalties import RoyaltyReport
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as lic
from tests.notifications.helpers import inbox
from tests.royalties import helpers as h
from tests.world import org

FEES = load_schedule()

pytestmark = pytest.mark.world(uni=org("university"), company=org(funds="200000.00"), other=org(), poor=org())


def _months(start: date, count: int) -> list[str]:
    keys, year, month = [], start.year, start.month
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = year + month // 12, month % 12 + 1
    return keys


async def test_open_licence_with_royalty_carries_its_terms(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, other, _ = world
    case = await h.royalty_licence(
        client, db, op, uni, company, fee_type="lump_sum_plus_royalty", period=None
    )
    assert case.declaration["royalty_period"] == "quarter"  # the default
    r = await client.get(f"/api/v1/licence-records/{case.licence_id}", headers=company.headers)
    assert r.status_code == 200, r.text
    assert r.json()["royalty"] == {"rate": "0.05", "base": "许可产品净销售额", "period": "quarter"}
    monthly = await h.royalty_licence(client, db, op, uni, other, period="month")
    assert monthly.declaration["royalty_period"] == "month"
    r = await client.get(f"/api/v1/licence-records/{monthly.licence_id}", headers=uni.headers)
    assert r.json()["royalty"] == {"rate": "0.05", "base": "许可产品净销售额", "period": "month"}
    # A lump-sum licence bears no royalty, and its declaration no period.
    plain = await lic.declared(client, op, uni)
    assert plain["royalty_period"] is None
    r = await client.post(f"/api/v1/open-licenses/{plain['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]
    r = await client.get("/api/v1/licence-records", params={"limit": 100}, headers=company.headers)
    assert [x["royalty"] for x in r.json()["items"] if x["deal_id"] == deal_id] == [None]
    r = await client.post(
        "/api/v1/open-licenses",
        json=lic.declaration((await lic.patent(client, uni))["id"], royalty_period="week"),
        headers=uni.headers,
    )
    assert r.status_code == 422
    await assert_invariants(db)


async def test_monthly_periods_across_month_quarter_and_year(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    today = h.shanghai_day(await t.now(client))
    case = await h.royalty_licence(client, db, op, uni, company, period="month", term_months=36)
    # Nothing before the first month ends.
    assert await h.reports(client, company, case.licence_id) == []
    # Thirteen month ends later (a quarter's and a year's end among them), every missed period is there.
    end = h.first_of_next_month(today)
    for _ in range(12):
        end = h.first_of_next_month(end)
    await h.advance_to(client, h.midnight(end))
    found = await h.reports(client, company, case.licence_id)
    assert [x["period"] for x in found] == _months(today, 13)
    assert found[0]["period_start"] == today.isoformat()
    for before, after in itertools.pairwise(found):
        assert date.fromisoformat(after["period_start"]) == date.fromisoformat(before["period_end"]) + h.DAY
    for x in found:
        ends = h.midnight(date.fromisoformat(x["period_end"]) + h.DAY)
        assert datetime.fromisoformat(x["due_at"]) == ends + timedelta(days=30)
        assert x["status"] == "due" and x["royalty_rate"] == "0.05" and x["royalty"] is None
        assert x["licensor_org_id"] == uni.org_id and x["licensee_org_id"] == company.org_id
    # The licensee is told of each, once; the sweeper running again creates nothing more.
    told = await inbox(client, company, "royalty_report_due")
    assert sorted(n["data"]["royalty_report_id"] for n in told) == sorted(x["id"] for x in found)
    assert {n["data"]["licence_id"] for n in told} == {case.licence_id}
    assert {(n["data"]["period"], n["data"]["due_at"]) for n in told} == {
        (x["period"], x["due_at"]) for x in found
    }
    assert await inbox(client, uni, "royalty_report_due") == []
    await t.advance(client, 60)
    assert len(await h.reports(client, company, case.licence_id)) == 13
    # Reports past due_at unpaid are overdue, and both parties were told.
    overdue = [x for x in await h.reports(client, company, case.licence_id) if x["overdue"]]
    assert len(overdue) == 12  # the last one's 30 days have not passed
    assert len(await inbox(client, uni, "royalty_overdue")) == 12
    assert len(await inbox(client, company, "royalty_overdue")) == 12
    await assert_invariants(db)


async def test_quarterly_periods_end_with_the_licence(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    today = h.shanghai_day(await t.now(client))
    case = await h.royalty_licence(client, db, op, uni, company, period="quarter", term_months=7)
    r = await client.get(f"/api/v1/licence-records/{case.licence_id}", headers=company.headers)
    ends_on = date.fromisoformat(r.json()["ends_on"])
    await h.advance_to(client, h.midnight(ends_on + timedelta(days=120)))
    found = await h.reports(client, company, case.licence_id)
    quarter = (today.month - 1) // 3 + 1
    assert found[0]["period"] == f"{today.year}-Q{quarter}"
    assert found[0]["period_start"] == today.isoformat()
    assert found[-1]["period_end"] == ends_on.isoformat()
    assert len(found) in (3, 4)  # 7 months touch three or four quarters
    assert all(x["period"][5] == "Q" for x in found)
    days = sum(
        (date.fromisoformat(x["period_end"]) - date.fromisoformat(x["period_start"])).days + 1 for x in found
    )
    assert days == (ends_on - today).days + 1
    await assert_invariants(db)


async def test_file_pay_settle_moves_the_money(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    case = await h.royalty_licence(client, db, op, uni, company)
    report = await h.first_report(client, case)
    before_licensee = parse_yuan((await t.balance(client, company))["available"])
    before_licensor = parse_yuan((await t.balance(client, uni))["available"])
    before_fees = await lic.exchange_fee_income(db)

    r = await h.file(client, company, report["id"], "100.10")
    assert r.status_code == 200, r.text
    filed = r.json()
    assert filed["status"] == "filed" and filed["base_amount"] == "100.10"
    assert filed["royalty"] == "5.01"  # 100.10 × 0.05 = 5.005, half-up
    # The schedule's bracket rate on 5.01, each side, half-up, without the minimum of 1,000.00.
    assert filed["licensee_fee"] == format_fen(FEES.buyer.bracket_fee(501)) == "0.10"
    assert filed["licensor_fee"] == "0.10" and filed["amount_due"] == "5.11"
    # Re-filing replaces the figures.
    r = await h.file(client, company, report["id"], "20000.00")
    assert r.status_code == 200, r.text
    filed = r.json()
    assert (filed["royalty"], filed["licensee_fee"], filed["licensor_fee"], filed["amount_due"]) == (
        "1000.00",
        "20.00",
        "20.00",
        "1020.00",
    )
    r = await h.pay(client, company, report["id"], **{"Idempotency-Key": "royalty-pay-1"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paid" and r.json()["paid_at"]
    replay = await h.pay(client, company, report["id"], **{"Idempotency-Key": "royalty-pay-1"})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert await h.escrow_of(db, report["id"]) == 102000
    assert parse_yuan((await t.balance(client, company))["available"]) == before_licensee - 102000
    # No more filing once paid.
    r = await h.file(client, company, report["id"], "1.00")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    r = await h.settle(client, op, report["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "settled" and r.json()["settled_at"]
    assert await h.escrow_of(db, report["id"]) == 0
    assert parse_yuan((await t.balance(client, uni))["available"]) == before_licensor + 100000 - 2000
    assert await lic.exchange_fee_income(db) == before_fees + 4000
    r = await h.settle(client, op, report["id"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    async with db.read() as session:
        entries = await session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.reference == f"royalty:{report['id']}")
        )
    assert entries == 2  # one payment, one settlement
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "royalty_report", "entity_id": report["id"]},
        headers=uni.headers,
    )
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["items"]] == ["created", "filed", "filed", "paid", "settled"]
    await assert_invariants(db)


async def test_zero_royalty_moves_nothing(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    case = await h.royalty_licence(client, db, op, uni, company)
    report = await h.first_report(client, case)
    before = await t.balance(client, company)
    r = await h.file(client, company, report["id"], "0.00")
    assert r.status_code == 200, r.text
    assert (r.json()["royalty"], r.json()["amount_due"]) == ("0.00", "0.00")
    assert (await h.pay(client, company, report["id"])).status_code == 200
    assert (await h.settle(client, op, report["id"])).status_code == 200
    assert await t.balance(client, company) == before
    async with db.read() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.kind.in_([EntryKind.royalty_payment, EntryKind.royalty_settlement]))
            )
            == 0
        )
    await assert_invariants(db)


async def test_insufficient_funds_leaves_it_filed(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company, _other, poor = world
    case = await h.royalty_licence(client, db, op, uni, poor)
    report = await h.first_report(client, case)
    assert (await h.file(client, poor, report["id"], "1000.00")).status_code == 200
    r = await h.pay(client, poor, report["id"])
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    r = await client.get(f"/api/v1/royalty-reports/{report['id']}", headers=poor.headers)
    assert r.json()["status"] == "filed" and r.json()["paid_at"] is None
    await t.fund(client, op, poor, "100.00")
    assert (await h.pay(client, poor, report["id"])).status_code == 200
    await assert_invariants(db)


async def test_overdue_stays_and_may_still_be_filed_and_paid(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    case = await h.royalty_licence(client, db, op, uni, company)
    report = await h.first_report(client, case)
    assert report["overdue"] is False
    await h.advance_to(client, datetime.fromisoformat(report["due_at"]))
    r = await client.get(f"/api/v1/royalty-reports/{report['id']}", headers=company.headers)
    assert r.json()["overdue"] is True and r.json()["status"] == "due"
    told = {
        actor.org_id: [n["data"] for n in await inbox(client, actor, "royalty_overdue")]
        for actor in (uni, company)
    }
    expected = {"royalty_report_id": report["id"], "licence_id": case.licence_id, "period": report["period"]}
    assert told == {uni.org_id: [expected], company.org_id: [expected]}
    assert (await h.file(client, company, report["id"], "10.00")).status_code == 200
    r = await h.pay(client, company, report["id"])
    assert r.status_code == 200 and r.json()["overdue"] is True
    r = await h.settle(client, op, report["id"])
    assert r.status_code == 200 and r.json()["overdue"] is True
    await assert_invariants(db)


async def test_who_reads_and_who_moves(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, other, _ = world
    case = await h.royalty_licence(client, db, op, uni, company)
    report = await h.first_report(client, case)
    for actor in (op, uni, company):
        r = await client.get(f"/api/v1/royalty-reports/{report['id']}", headers=actor.headers)
        assert r.status_code == 200, r.text
        r = await client.get(
            f"/api/v1/licence-records/{case.licence_id}/royalty-reports", headers=actor.headers
        )
        assert [x["id"] for x in r.json()["items"]] == [report["id"]]
    assert (
        await client.get(f"/api/v1/royalty-reports/{report['id']}", headers=other.headers)
    ).status_code == 404
    assert (await client.get(f"/api/v1/royalty-reports/{report['id']}")).status_code == 401
    r = await client.get(f"/api/v1/licence-records/{case.licence_id}/royalty-reports", headers=other.headers)
    assert r.status_code == 404
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "royalty_report", "entity_id": report["id"]},
        headers=company.headers,
    )
    assert r.status_code == 200 and [e["action"] for e in r.json()["items"]] == ["created"]
    # Only the licensee files and pays; only an operator settles; others do not see it at all.
    assert (await h.file(client, uni, report["id"], "10.00")).status_code == 403
    assert (await h.file(client, op, report["id"], "10.00")).status_code == 403
    assert (await h.file(client, other, report["id"], "10.00")).status_code == 404
    r = await h.pay(client, company, report["id"])  # due, not filed
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert (await h.file(client, company, report["id"], "10.00")).status_code == 200
    assert (await h.pay(client, uni, report["id"])).status_code == 403
    r = await h.settle(client, op, report["id"])  # filed, not paid
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert (await h.pay(client, company, report["id"])).status_code == 200
    assert (await h.settle(client, uni, report["id"])).status_code == 403
    assert (await h.settle(client, company, report["id"])).status_code == 403
    for bad in ("-1.00", "1.001", "abc", "１.00"):
        r = await h.file(client, company, report["id"], bad)
        assert r.status_code == 422, bad
    await assert_invariants(db)


async def test_double_settle_in_parallel_pays_once(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, *_ = world
    case = await h.royalty_licence(client, db, op, uni, company)
    report = await h.first_report(client, case)
    assert (await h.file(client, company, report["id"], "2000.00")).status_code == 200
    assert (await h.pay(client, company, report["id"])).status_code == 200
    before = parse_yuan((await t.balance(client, uni))["available"])
    results = await asyncio.gather(*[h.settle(client, op, report["id"]) for _ in range(4)])
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    assert parse_yuan((await t.balance(client, uni))["available"]) == before + 10000 - 200
    await assert_invariants(db)


async def test_concurrent_sweepers_create_one_report_per_period(
    client: httpx.AsyncClient, db, app, backend, world
) -> None:
    op, uni, company, *_ = world
    today = h.shanghai_day(await t.now(client))
    await h.royalty_licence(client, db, op, uni, company)
    # The clock moves without the sandbox's own sweep; several sweepers then race over the same periods.
    from tests.conftest import pin_business_clock

    target = h.midnight(h.first_of_next_month(h.first_of_next_month(h.first_of_next_month(today))))
    await pin_business_clock(db, target + timedelta(seconds=1))
    now = target + timedelta(seconds=1)
    first = sweeper.sweep_context(app)
    others = [create_database(backend.url) for _ in range(2)]
    try:
        contexts = [first] + [
            sweeper.SweepContext(db=d, calendar=first.calendar, fees=first.fees) for d in others
        ]
        reports = await asyncio.gather(*[sweeper.run_until_idle(ctx, now) for ctx in contexts])
    finally:
        for d in others:
            await d.dispose()
    assert not any(r.failed for r in reports)
    async with db.read() as session:
        periods = (
            await session.scalars(select(RoyaltyReport.period).order_by(RoyaltyReport.period_start))
        ).all()
    assert list(periods) == _months(today, 3)
    told = await inbox(client, company, "royalty_report_due")
    assert len(told) == 3
    await assert_invariants(db)
