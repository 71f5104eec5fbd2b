"""Trials over HTTP (SPEC §18.3): starting and its refusals, limits under concurrency, reads, no money, the
sweeper's reminder and lapse, termination, and conversion into a deal on exactly the offer's terms."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.deals.fees import load_schedule
from app.kit.money import format_fen
from app.kit.workdays import SHANGHAI
from app.models.ledger import JournalEntry
from app.models.settlement import LicenceRecord
from app.models.trading import Deal
from app.trials import rules
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as lh
from tests.settlement import helpers as sh
from tests.trials import helpers as h
from tests.world import org, orgs

pytestmark = pytest.mark.world(uni=org("university"), company=org(), companies=orgs(4))
API = h.API
DAY = 86_400
FEES = load_schedule()


async def _trial_world(client: httpx.AsyncClient, world: Any, **overrides: Any) -> tuple[dict[str, Any], Any]:
    """An offered offer of the university and an SME company."""
    op, uni, company, _companies = world
    offer = await h.offered(client, op, uni, **overrides)
    await h.make_sme(client, op, company)
    return offer, company


async def _journal_count(db: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalEntry)) or 0)


async def test_start_a_trial_with_its_dates_and_licence_record_and_no_money(
    client: httpx.AsyncClient, db, world
) -> None:
    _op, uni, company, _companies = world
    offer, company = await _trial_world(client, world)
    entries = await _journal_count(db)
    before = await t.now(client)
    trial = await h.started(client, company, offer["id"])
    assert trial["status"] == "trial_active" and trial["trial_offer_id"] == offer["id"]
    assert trial["patent_id"] == offer["patent_id"]
    assert (trial["licensor_org_id"], trial["licensee_org_id"]) == (uni.org_id, company.org_id)
    assert trial["kind"] == "nonexclusive_license" and trial["conversion"] == offer["conversion"]
    assert trial["deal_id"] is None and trial["status_reason"] is None
    started_at = datetime.fromisoformat(trial["started_at"])
    assert started_at >= before
    dates = rules.trial_dates(started_at, 12)
    assert trial["ends_on"] == dates.ends_on.isoformat()
    assert datetime.fromisoformat(trial["ends_at"]) == dates.ends_at
    assert datetime.fromisoformat(trial["reminder_at"]) == dates.ends_at - timedelta(days=30)
    # The licence record: no deal, the offer's kind, from the start day, filing due in 3 months.
    async with db.read() as session:
        record = await session.get(LicenceRecord, uuid.UUID(trial["licence_record_id"]))
        deals = await session.scalar(select(func.count()).select_from(Deal))
    assert record is not None and record.deal_id is None and str(record.trial_id) == trial["id"]
    assert record.kind == "nonexclusive_license" and record.patent_ids == [offer["patent_id"]]
    assert record.starts_on == started_at.astimezone(SHANGHAI).date() and record.ends_on == dates.ends_on
    assert record.filing_due == dates.filing_due and record.territory == "中国大陆"
    assert deals == 0 and await _journal_count(db) == entries  # no money, no fee, no deal
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 1
    # The licence filing notice names the trial.
    r = await client.get(
        f"{API}/notifications", params={"kind": "licence_filing_due"}, headers=company.headers
    )
    assert [n["data"]["trial_id"] for n in r.json()["items"]] == [trial["id"]]
    # Statistics: a trial counts nowhere.
    r = await client.get(f"{API}/stats/turnover", params={"group_by": "pricing_mode"})
    assert all(row["key"] != "trial" for row in r.json()["items"]), r.json()
    r = await client.get(f"{API}/stats/organizations/{uni.org_id}", headers=uni.headers)
    assert r.json()["patents_transacted"] == 0
    await assert_invariants(db)


def test_trial_dates_follow_the_month_rule() -> None:
    # 2024-01-31 10:00 Shanghai + 1 month: ends_on the day before 2024-02-29, ends_at 00:00 on 2024-02-29.
    start = datetime(2024, 1, 31, 2, 0, tzinfo=SHANGHAI).astimezone(SHANGHAI)
    d = rules.trial_dates(start, 1)
    assert d.starts_on.isoformat() == "2024-01-31" and d.ends_on.isoformat() == "2024-02-28"
    assert d.ends_at == datetime(2024, 2, 29, tzinfo=SHANGHAI)
    assert d.reminder_at == start  # less than 30 days from the end: at once
    assert d.filing_due.isoformat() == "2024-04-30"
    d = rules.trial_dates(datetime(2024, 2, 29, 23, 59, tzinfo=SHANGHAI), 12)
    assert d.ends_on.isoformat() == "2025-02-27" and d.ends_at == datetime(2025, 2, 28, tzinfo=SHANGHAI)
    assert d.reminder_at == d.ends_at - timedelta(days=30)


async def test_start_refusals(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, companies = world
    offer = await h.offered(client, op, uni)
    # No SME status.
    r = await h.start(client, company, offer["id"])
    assert r.status_code == 409 and r.json()["code"] == "sme_required"
    await h.make_sme(client, op, company)
    # The owner, another kind of organization, operators: 403.
    assert (await h.start(client, uni, offer["id"])).status_code == 403
    other_uni = await f.organization(client, kind="university", verified_by=op)
    assert (await h.start(client, other_uni, offer["id"])).status_code == 403
    assert (await h.start(client, op, offer["id"])).status_code == 403
    unverified = await f.organization(client)
    r = await h.start(client, unverified, offer["id"])
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post(f"{API}/trial-offers/{offer['id']}/trials", json={"x": 1}, headers=company.headers)
    assert r.status_code == 422
    # max_trials (1) active → trial_limit_reached for the next company.
    first = await h.started(client, company, offer["id"])
    await h.make_sme(client, op, companies[0])
    r = await h.start(client, companies[0], offer["id"])
    assert r.status_code == 409 and r.json()["code"] == "trial_limit_reached"
    # The same company again under this offer, even once the first trial ended → trial_already_used.
    r = await h.start(client, company, offer["id"])
    assert r.status_code == 409 and r.json()["code"] == "trial_already_active"
    r = await client.post(
        f"{API}/trials/{first['id']}/terminate", json={"reason": "停止"}, headers=company.headers
    )
    assert r.status_code == 200, r.text
    r = await h.start(client, company, offer["id"])
    assert r.status_code == 409 and r.json()["code"] == "trial_already_used"
    await h.started(client, companies[0], offer["id"])  # the slot came back
    # A withdrawn offer: its trials run on, no new ones (invalid_state).
    r = await client.post(f"{API}/trial-offers/{offer['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200
    await h.make_sme(client, op, companies[1])
    r = await h.start(client, companies[1], offer["id"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await assert_invariants(db)


async def test_one_active_trial_per_company_and_patent_across_offers(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, _companies = world
    offer, company = await _trial_world(client, world)
    await h.started(client, company, offer["id"])
    await client.post(f"{API}/trial-offers/{offer['id']}/withdraw", headers=uni.headers)
    second = await h.offered(client, op, uni, offer["patent_id"])
    r = await h.start(client, company, second["id"])
    assert r.status_code == 409 and r.json()["code"] == "trial_already_active"


async def test_concurrent_starts_never_exceed_max_trials(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, companies = world
    offer = await h.offered(client, op, uni, max_trials=2)
    takers = [company, *companies]
    for c in takers:
        await h.make_sme(client, op, c)
    results = await asyncio.gather(*[h.start(client, c, offer["id"]) for c in takers])
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 409, 409, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"trial_limit_reached"}
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 2
    # Two non-exclusive trials at once are fine; the same company twice at once: one wins.
    third = await h.offered(client, op, uni, max_trials=5)
    results = await asyncio.gather(*[h.start(client, company, third["id"]) for _ in range(3)])
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]
    await assert_invariants(db)


async def test_reads(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, companies = world
    offer = await h.offered(client, op, uni, max_trials=3)
    mine, theirs = company, companies[0]
    for c in (mine, theirs):
        await h.make_sme(client, op, c)
    a = await h.started(client, mine, offer["id"])
    b = await h.started(client, theirs, offer["id"])
    for actor in (mine, uni, op):
        r = await client.get(f"{API}/trials/{a['id']}", headers=actor.headers)
        assert r.status_code == 200 and r.json() == a
    assert (await client.get(f"{API}/trials/{a['id']}", headers=theirs.headers)).status_code == 404
    assert (await client.get(f"{API}/trials/{a['id']}")).status_code == 401
    url = f"{API}/trial-offers/{offer['id']}/trials"
    for actor in (uni, op):
        assert {x["id"] for x in (await client.get(url, headers=actor.headers)).json()["items"]} == {
            a["id"],
            b["id"],
        }
    assert [x["id"] for x in (await client.get(url, headers=mine.headers)).json()["items"]] == [a["id"]]
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 2
    # The trial's chain: both sides, not others.
    params = {"entity_type": "trial", "entity_id": a["id"]}
    for actor in (mine, uni):
        r = await client.get(f"{API}/audit-events", params=params, headers=actor.headers)
        assert [e["action"] for e in r.json()["items"]] == ["started"]
    assert (await client.get(f"{API}/audit-events", params=params, headers=theirs.headers)).status_code == 404
    # The patent is readable by the licensee.
    assert (await client.get(f"{API}/patents/{offer['patent_id']}", headers=mine.headers)).status_code == 200


async def test_an_active_sole_trial_is_an_exclusive_licence_in_force(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, _companies = world
    offer, company = await _trial_world(client, world, kind="sole_license")
    trial = await h.started(client, company, offer["id"])
    r = await client.post(
        "/api/v1/open-licenses", json=lh.declaration(offer["patent_id"]), headers=uni.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "exclusive_license_active"
    await client.post(f"{API}/trials/{trial['id']}/terminate", json={"reason": "x"}, headers=op.headers)
    await lh.declare(client, uni, offer["patent_id"])


async def test_terminate(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, companies = world
    offer, company = await _trial_world(client, world, max_trials=2)
    trial = await h.started(client, company, offer["id"])
    url = f"{API}/trials/{trial['id']}/terminate"
    assert (await client.post(url, json={"reason": "x"}, headers=companies[0].headers)).status_code == 404
    assert (await client.post(url, json={}, headers=uni.headers)).status_code == 422
    assert (await client.post(url, json={"reason": ""}, headers=uni.headers)).status_code == 422
    r = await client.post(url, json={"reason": "被许可方违约"}, headers=uni.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "terminated" and r.json()["status_reason"] == "被许可方违约"
    r = await client.post(url, json={"reason": "again"}, headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    async with db.read() as session:
        record = await session.get(LicenceRecord, uuid.UUID(trial["licence_record_id"]))
    today = (await t.now(client)).astimezone(SHANGHAI).date()
    assert record is not None and record.ended_on == today and record.ends_on > today
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 0
    # The licensee and operators terminate too.
    await h.make_sme(client, op, companies[1])
    other = await h.started(client, companies[1], offer["id"])
    r = await client.post(
        f"{API}/trials/{other['id']}/terminate", json={"reason": "不再需要"}, headers=companies[1].headers
    )
    assert r.status_code == 200 and r.json()["status"] == "terminated"


async def test_the_sweeper_reminds_once_then_lapses(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, company, _companies = world
    offer, company = await _trial_world(client, world, trial_months=3)
    trial = await h.started(client, company, offer["id"])

    async def notices(actor: f.Actor, kind: str) -> list[dict[str, Any]]:
        r = await client.get(f"{API}/notifications", params={"kind": kind}, headers=actor.headers)
        return [n["data"] for n in r.json()["items"]]

    await t.advance_past(client, datetime.fromisoformat(trial["reminder_at"]) - timedelta(seconds=10))
    assert await notices(company, "trial_ending") == []
    await t.advance_past(client, trial["reminder_at"])
    expected = {"trial_id": trial["id"], "trial_offer_id": offer["id"], "ends_at": trial["ends_at"]}
    for actor in (company, uni):
        assert [
            {**n, "ends_at": datetime.fromisoformat(n["ends_at"])}
            for n in await notices(actor, "trial_ending")
        ] == [{**expected, "ends_at": datetime.fromisoformat(trial["ends_at"])}]
    await t.advance(client, 3600)
    assert len(await notices(company, "trial_ending")) == 1  # once
    r = await client.get(f"{API}/trials/{trial['id']}", headers=company.headers)
    assert r.json()["status"] == "trial_active"
    await t.advance_past(client, trial["ends_at"])
    r = await client.get(f"{API}/trials/{trial['id']}", headers=company.headers)
    assert r.json()["status"] == "lapsed"
    for actor in (company, uni):
        assert await notices(actor, "trial_lapsed") == [
            {"trial_id": trial["id"], "trial_offer_id": offer["id"]}
        ]
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 0
    async with db.read() as session:
        record = await session.get(LicenceRecord, uuid.UUID(trial["licence_record_id"]))
    assert record is not None and record.ended_on is None and record.ends_on.isoformat() == trial["ends_on"]
    r = await client.get(
        f"{API}/audit-events", params={"entity_type": "trial", "entity_id": trial["id"]}, headers=uni.headers
    )
    assert [e["action"] for e in r.json()["items"]] == ["started", "lapsed"]
    await assert_invariants(db)


# --- conversion ------------------------------------------------------------------------------------------------


async def _convert(client: httpx.AsyncClient, actor: f.Actor, trial_id: str) -> dict[str, Any]:
    r = await client.post(f"{API}/trials/{trial_id}/convert", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _settle(
    client: httpx.AsyncClient, op: f.Actor, uni: f.Actor, company: f.Actor, deal: dict[str, Any]
) -> dict[str, Any]:
    await sh.sign(client, uni, deal["contract_id"])
    await sh.sign(client, company, deal["contract_id"])
    deal = await sh.get(client, op, deal["id"])
    assert deal["status"] == "awaiting_payment"
    if deal["amount_due"] != "0.00":
        await t.fund(client, op, company, deal["amount_due"])
    r = await sh.pay(client, company, deal["id"])
    assert r.status_code == 200, r.text
    r = await sh.settle(client, op, deal["id"])
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_conversion_end_to_end_on_exactly_the_offers_terms(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, companies = world
    offer, company = await _trial_world(client, world)
    await t.advance(client, 16 * DAY)  # offered for more than 15 days: no second notice
    trial = await h.started(client, company, offer["id"])
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=uni.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=companies[0].headers)
    assert r.status_code == 404
    converted = await _convert(client, company, trial["id"])
    assert converted["status"] == "converted" and converted["deal_id"] is not None
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    deal = await sh.get(client, company, converted["deal_id"])
    assert deal["source"] == "trial" and deal["trial_id"] == trial["id"] and deal["listing_id"] is None
    assert (deal["seller_org_id"], deal["buyer_org_id"]) == (uni.org_id, company.org_id)
    assert deal["transaction_kind"] == "nonexclusive_license" and deal["price"] == "200000.00"
    assert deal["status"] == "awaiting_signatures" and deal["sign_by"] is not None
    buyer_fee, seller_fee = FEES.fees(20_000_000)
    assert (deal["buyer_fee"], deal["seller_fee"]) == (format_fen(buyer_fee), format_fen(seller_fee))
    assert deal["amount_due"] == format_fen(20_000_000 + buyer_fee)
    r = await client.get(f"{API}/contracts/{deal['contract_id']}", headers=company.headers)
    text = r.json()["text"]
    assert "专利实施许可合同（普通）" in text and "锂电池隔膜的生产" in text and "中国大陆" in text
    assert (await client.get(f"{API}/trial-offers/{offer['id']}")).json()["active_trials"] == 0
    settled = await _settle(client, op, uni, company, deal)
    assert settled["status"] == "settled" and settled["price"] == "200000.00"
    async with db.read() as session:
        records = (
            await session.scalars(select(LicenceRecord).where(LicenceRecord.deal_id == uuid.UUID(deal["id"])))
        ).all()
        trial_record = await session.get(LicenceRecord, uuid.UUID(trial["licence_record_id"]))
    assert len(records) == 1
    record = records[0]
    assert record.kind == "nonexclusive_license" and record.term_months == 36
    assert record.territory == "中国大陆" and record.field_of_use == "锂电池隔膜的生产"
    assert record.patent_ids == [offer["patent_id"]] and record.royalty is None
    assert (
        trial_record is not None and trial_record.ends_on.isoformat() == trial["ends_on"]
    )  # keeps its dates
    r = await client.get(f"{API}/stats/turnover", params={"group_by": "pricing_mode"})
    row = next(x for x in r.json()["items"] if x["key"] == "trial")
    assert row["deals"] == 1 and row["amount"] == "200000.00"
    r = await client.get(f"{API}/certificates/{settled['certificate_number']}")
    assert r.status_code == 200 and r.json()["price"] == "200000.00"
    # The deals export: pricing mode and source trial, the trial's patent by number.
    r = await client.get(f"{API}/exports/deals.csv", headers=op.headers)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8").lstrip("\ufeff"), newline="")))
    row = next(x for x in rows if x["deal_id"] == deal["id"])
    patent = (await client.get(f"{API}/patents/{offer['patent_id']}", headers=op.headers)).json()
    assert (row["pricing_mode"], row["source"], row["transaction_kind"]) == (
        "trial",
        "trial",
        "nonexclusive_license",
    )
    assert row["patent_numbers"] == patent["patent_number"]
    await sh.settled_escrows_are_zero(db)
    await assert_invariants(db)


async def test_an_early_conversion_waits_for_the_notice(client: httpx.AsyncClient, db, world) -> None:
    _op, _uni, company, _companies = world
    offer, company = await _trial_world(client, world)
    trial = await h.started(client, company, offer["id"])
    converted = await _convert(client, company, trial["id"])
    deal = await sh.get(client, company, converted["deal_id"])
    approved = datetime.fromisoformat(offer["approved_at"])
    assert deal["status"] == "public_notice"
    assert datetime.fromisoformat(deal["notice_ends_at"]) == approved + timedelta(days=15)
    r = await client.get(f"{API}/notices/{deal['id']}")
    assert r.status_code == 200, r.text
    patent = (await client.get(f"{API}/patents/{offer['patent_id']}", headers=company.headers)).json()
    notice = r.json()
    assert notice["title"] == patent["title"] and "锂电池隔膜的生产" in notice["summary"]
    assert notice["price"] == "200000.00" and notice["transaction_kind"] == "nonexclusive_license"
    await t.advance_past(client, deal["notice_ends_at"])
    assert (await sh.get(client, company, deal["id"]))["status"] == "awaiting_signatures"


async def test_royalty_conversion_is_priced_zero_and_settles_a_royalty_licence(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company, _companies = world
    conversion = {
        "type": "royalty",
        "royalty_rate": "0.05",
        "royalty_base": "净销售额",
        "royalty_period": "month",
        "term_months": 24,
    }
    offer, company = await _trial_world(client, world, kind="exclusive_license", conversion=conversion)
    await t.advance(client, 16 * DAY)
    trial = await h.started(client, company, offer["id"])
    deal = await sh.get(client, company, (await _convert(client, company, trial["id"]))["deal_id"])
    assert deal["price"] == "0.00" and deal["transaction_kind"] == "exclusive_license"
    assert deal["buyer_fee"] == "0.00" and deal["seller_fee"] == "0.00"
    # While the exclusive conversion deal is unsettled, the patent counts as listed (§5).
    r = await client.post(
        f"{API}/listings",
        json={
            "title": "转让",
            "summary": "协议定价",
            "patent_ids": [offer["patent_id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
        },
        headers=uni.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_already_listed"
    settled = await _settle(client, op, uni, company, deal)
    assert settled["status"] == "settled"
    async with db.read() as session:
        record = await session.scalar(
            select(LicenceRecord).where(LicenceRecord.deal_id == uuid.UUID(deal["id"]))
        )
    assert record is not None and record.kind == "exclusive_license" and record.term_months == 24
    assert record.royalty == {"rate": "0.05", "base": "净销售额", "period": "month"}
    await assert_invariants(db)


async def test_assignment_conversion(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company, _companies = world
    conversion = {"type": "assignment", "assignment_price": "500000.00"}
    offer, company = await _trial_world(client, world, conversion=conversion)
    await t.advance(client, 16 * DAY)
    trial = await h.started(client, company, offer["id"])
    deal = await sh.get(client, company, (await _convert(client, company, trial["id"]))["deal_id"])
    assert deal["transaction_kind"] == "assignment" and deal["price"] == "500000.00"
    text = (await client.get(f"{API}/contracts/{deal['contract_id']}", headers=company.headers)).json()[
        "text"
    ]
    assert "专利权转让合同" in text
    settled = await _settle(client, op, uni, company, deal)
    assert settled["status"] == "settled"
    r = await client.get(f"{API}/patents/{offer['patent_id']}", headers=company.headers)
    assert r.json()["owner_org_id"] == company.org_id
    await assert_invariants(db)


async def test_a_cancelled_or_defaulted_conversion_deal_terminates_the_trial(
    client: httpx.AsyncClient, db, world
) -> None:
    _op, uni, company, _companies = world
    offer, company = await _trial_world(client, world)
    await t.advance(client, 16 * DAY)
    trial = await h.started(client, company, offer["id"])
    deal = await sh.get(client, company, (await _convert(client, company, trial["id"]))["deal_id"])
    await t.advance_past(client, deal["sign_by"])  # nobody signed: the buyer defaults
    assert (await sh.get(client, company, deal["id"]))["status"] == "defaulted"
    r = await client.get(f"{API}/trials/{trial['id']}", headers=company.headers)
    assert r.json()["status"] == "terminated" and "defaulted" in r.json()["status_reason"]
    r = await client.get(
        f"{API}/audit-events", params={"entity_type": "trial", "entity_id": trial["id"]}, headers=uni.headers
    )
    assert [e["action"] for e in r.json()["items"]] == ["started", "converted", "deal_made", "terminated"]
    await assert_invariants(db)


async def test_conversion_is_idempotent_with_a_key(client: httpx.AsyncClient, db, world) -> None:
    _op, _uni, company, _companies = world
    offer, company = await _trial_world(client, world)
    trial = await h.started(client, company, offer["id"])
    headers = {**company.headers, "Idempotency-Key": "convert-1"}
    first = await client.post(f"{API}/trials/{trial['id']}/convert", headers=headers)
    again = await client.post(f"{API}/trials/{trial['id']}/convert", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Deal)) == 1
