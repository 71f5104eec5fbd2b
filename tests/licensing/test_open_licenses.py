"""Open licensing over HTTP (SPEC §13): declaration, review, refusals, licences paid and settled at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.deals.fees import load_schedule
from app.kit.money import format_fen, parse_yuan
from app.models.ledger import JournalEntry
from app.models.policy import OpenLicenseGrant
from app.models.trading import Deal
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as h
from tests.world import org

FEES = load_schedule()


pytestmark = pytest.mark.world(uni=org("university"), company=org())


async def test_declare_review_and_visibility(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    p = await h.patent(client, uni)
    r = await client.post(
        "/api/v1/open-licenses",
        json=h.declaration(
            p["id"], fee_type="lump_sum_plus_royalty", royalty_rate="0.05", royalty_base="净销售额"
        ),
        headers=uni.headers,
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["status"] == "pending_review" and item["lump_sum"] == "50000.00"
    assert item["royalty_rate"] == "0.05" and item["royalty_base"] == "净销售额"
    assert item["patent_number"] == p["patent_number"] and item["owner_org_id"] == uni.org_id
    # Pending review: the owner and operators only.
    assert (await client.get(f"/api/v1/open-licenses/{item['id']}")).status_code == 404
    assert (
        await client.get(f"/api/v1/open-licenses/{item['id']}", headers=company.headers)
    ).status_code == 404
    assert (await client.get(f"/api/v1/open-licenses/{item['id']}", headers=uni.headers)).status_code == 200
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 404
    # Only operators approve.
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=uni.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declared" and r.json()["declared_at"]
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    # Declared: public.
    r = await client.get(f"/api/v1/open-licenses/{item['id']}")
    assert r.status_code == 200 and r.json()["status"] == "declared"
    r = await client.get("/api/v1/open-licenses", params={"patent_id": p["id"], "status": "declared"})
    assert [x["id"] for x in r.json()["items"]] == [item["id"]]
    r = await client.get("/api/v1/open-licenses", params={"status": "pending_review"})
    assert r.json()["items"] == []
    # The trail: the owner reads its declaration's events.
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "open_license", "entity_id": item["id"]},
        headers=uni.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["created", "approved"]
    await assert_invariants(db)


async def test_only_the_owner_declares(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    p = await h.patent(client, uni)
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=company.headers)
    assert r.status_code == 404
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=op.headers)
    assert r.status_code == 403
    pending = await f.organization(client, kind="university")
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=pending.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    await h.declare(client, uni, p["id"])
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "open_license_exists"
    await assert_invariants(db)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"grant_date": None}, "patent_not_granted"),
        ({"filing_date": "1990-01-10", "grant_date": "1992-05-01"}, "patent_expired"),
        ({"annual_fee_paid_until": None}, "annual_fee_unpaid"),
        ({"annual_fee_paid_until": "2021-01-01"}, "annual_fee_unpaid"),
        ({"kind_digit": "2"}, "evaluation_report_required"),
        ({"kind_digit": "3"}, "evaluation_report_required"),
    ],
    ids=["pending", "expired", "fees-missing", "fees-past", "utility-model", "design"],
)
async def test_patent_refusals_at_creation(
    client: httpx.AsyncClient, db, world, fields: dict[str, object], code: str
) -> None:
    _op, uni, _company = world
    fields = dict(fields)
    kind_digit = fields.pop("kind_digit", None)
    if kind_digit is not None:
        fields["application_number"] = f.application_number(
            900000 + len(code) * 7 + int(str(kind_digit)), kind_digit=str(kind_digit)
        )
    p = await h.patent(client, uni, **fields)
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == code, r.text
    await assert_invariants(db)


async def test_utility_model_with_evaluation_report_is_accepted(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, _company = world
    p = await h.patent(
        client, uni, application_number=f.application_number(880001, kind_digit="2"), evaluation_report=True
    )
    await h.declare(client, uni, p["id"])
    await assert_invariants(db)


async def test_lapsed_patent_counts_as_fees_unpaid(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    p = await h.patent(client, uni)
    r = await client.patch(f"/api/v1/patents/{p['id']}", json={"legal_status": "lapsed"}, headers=op.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "annual_fee_unpaid"
    await assert_invariants(db)


async def test_preserved_patent_refused_at_creation_and_at_approval(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _company = world
    p = await h.patent(client, uni)
    await h.set_preservation(client, op, p["id"], True)
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    await h.set_preservation(client, op, p["id"], False)
    item = await h.declare(client, uni, p["id"])
    await h.set_preservation(client, op, p["id"], True)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    await h.set_preservation(client, op, p["id"], False)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 200
    await assert_invariants(db)


async def test_exclusive_licence_listing_blocks_the_declaration(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    p = await h.patent(client, uni)
    terms = {"term_months": 60, "territory": "中国大陆", "field_of_use": "动力电池"}
    listing_body = {
        "title": "独占许可",
        "summary": "独占许可五年。",
        "patent_ids": [p["id"]],
        "transaction_kind": "exclusive_license",
        "pricing_mode": "negotiated",
        "price": "300000.00",
        "license": terms,
    }
    r = await client.post("/api/v1/listings", json=listing_body, headers=uni.headers)
    assert r.status_code == 201, r.text
    listing_id = r.json()["id"]
    await h.declare(client, uni, p["id"])  # a draft listing offers nothing yet
    r = await client.get("/api/v1/open-licenses", params={"patent_id": p["id"]}, headers=uni.headers)
    [pending] = r.json()["items"]
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=uni.headers)
    assert r.status_code == 200, r.text
    # An exclusive licence on offer: refused at approval (and for a new declaration at creation).
    r = await client.post(f"/api/v1/open-licenses/{pending['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "exclusive_license_active"
    r = await client.post(f"/api/v1/open-licenses/{pending['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200
    r = await client.post("/api/v1/open-licenses", json=h.declaration(p["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "exclusive_license_active"
    await assert_invariants(db)


async def test_settled_exclusive_licence_blocks_while_its_term_runs(
    client: httpx.AsyncClient, db, world
) -> None:
    from app.models.listings import Listing, ListingStatus
    from app.models.trading import DealStatus

    op, uni, company = world
    listing = await t.published_listing(
        client,
        op,
        uni,
        transaction_kind="sole_license",
        license={"term_months": 24, "territory": "浙江省", "field_of_use": "储能"},
    )
    patent_id = listing["patents"][0]["id"]
    async with db.transaction() as session:
        row = await session.get(Listing, uuid.UUID(listing["id"]))
        assert row is not None
        row.status = ListingStatus.sold
    deal_id = await h.settled_deal(
        db, uni, company, price=30_000_000, seller_fee=600_000, settled_at=await t.now(client)
    )
    async with db.transaction() as session:
        deal = await session.get(Deal, uuid.UUID(deal_id))
        assert deal is not None
        deal.listing_id, deal.transaction_kind = uuid.UUID(listing["id"]), "sole_license"
        assert deal.status == DealStatus.settled
    # Sold and settled: the patent is no longer locked, its owner records the fees paid.
    r = await client.patch(
        f"/api/v1/patents/{patent_id}", json={"annual_fee_paid_until": h.PAID_UP}, headers=uni.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/open-licenses", json=h.declaration(patent_id), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "exclusive_license_active"
    # Two years and a bit later the sole licence has ended.
    await t.advance(client, 2 * 366 * 86400 + 86400)
    r = await client.post("/api/v1/open-licenses", json=h.declaration(patent_id), headers=uni.headers)
    assert r.status_code == 201, r.text
    await assert_invariants(db)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lump_sum": None}, "lump_sum"),
        ({"lump_sum": "0.00"}, "lump_sum"),
        ({"fee_type": "royalty", "lump_sum": None}, "royalty_rate"),
        ({"fee_type": "royalty", "lump_sum": None, "royalty_rate": "0"}, "royalty_rate"),
        ({"fee_type": "royalty", "lump_sum": None, "royalty_rate": "1.01"}, "royalty_rate"),
        ({"fee_type": "royalty", "royalty_rate": "0.1"}, "lump_sum"),
        ({"fee_type": "lump_sum_plus_royalty"}, "royalty_rate"),
        ({"fee_type": "free"}, "lump_sum"),
        ({"fee_type": "free", "lump_sum": None, "royalty_rate": "0.1"}, "royalty_rate"),
        ({"fee_type": "lump_sum", "royalty_base": "销售额"}, "royalty_base"),
        ({"term_months": 0}, "term_months"),
        ({"lump_sum": "1.001"}, "lump_sum"),
    ],
)
async def test_fee_fields_per_fee_type(
    client: httpx.AsyncClient, db, world, overrides: dict[str, object], field: str
) -> None:
    _op, uni, _company = world
    p = await h.patent(client, uni)
    r = await client.post(
        "/api/v1/open-licenses", json=h.declaration(p["id"], **overrides), headers=uni.headers
    )
    assert r.status_code == 422, r.text
    assert field in [e["loc"][-1] for e in r.json()["errors"]], r.text


async def test_licence_taken_at_once_with_money(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    item = await h.declared(client, op, uni, lump_sum="50000.00", term_months=36)
    await t.fund(client, op, company, "60000.00")
    fee_income_before = await h.exchange_fee_income(db)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    licence = r.json()
    starts = date.fromisoformat(licence["starts_on"])
    # The licence's last day is the day before the same date three years on (settlement's licence record).
    assert licence["ends_on"] == (starts.replace(year=starts.year + 3) - timedelta(days=1)).isoformat()
    due = date.fromisoformat(licence["filing_due"])
    assert (due.year * 12 + due.month) - (starts.year * 12 + starts.month) == 3
    lump = parse_yuan("50000.00")
    buyer_fee, seller_fee = FEES.fees(lump)
    assert (await t.balance(client, company))["available"] == format_fen(
        parse_yuan("60000.00") - lump - buyer_fee
    )
    assert (await t.balance(client, uni))["available"] == format_fen(lump - seller_fee)
    assert await h.exchange_fee_income(db) - fee_income_before == buyer_fee + seller_fee
    assert await h.escrow_of(db, licence["deal_id"]) == 0
    r = await client.get(f"/api/v1/deals/{licence['deal_id']}", headers=company.headers)
    deal = r.json()
    assert deal["source"] == "open_license" and deal["listing_id"] is None and deal["status"] == "settled"
    assert deal["price"] == "50000.00" and deal["buyer_fee"] == format_fen(buyer_fee)
    assert deal["seller_fee"] == format_fen(seller_fee) and deal["transaction_kind"] == "nonexclusive_license"
    assert deal["certificate_number"]
    # The licensee sees its licence, the owner every licence, another company none.
    r = await client.get(f"/api/v1/open-licenses/{item['id']}/licenses", headers=uni.headers)
    assert [x["id"] for x in r.json()["items"]] == [licence["id"]]
    other = await f.organization(client, verified_by=op)
    r = await client.get(f"/api/v1/open-licenses/{item['id']}/licenses", headers=other.headers)
    assert r.json()["items"] == []
    # The deal's trail is visible to both parties.
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "deal", "entity_id": licence["deal_id"]},
        headers=uni.headers,
    )
    assert r.status_code == 200 and r.json()["items"][0]["action"] == "created"
    await assert_invariants(db)


async def test_owner_and_unverified_cannot_take_a_licence(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    item = await h.declared(client, op, uni)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=uni.headers)
    assert r.status_code == 403
    pending = await f.organization(client)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=pending.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=op.headers)
    assert r.status_code == 403


async def test_insufficient_funds_leaves_nothing_behind(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    item = await h.declared(client, op, uni, lump_sum="50000.00")
    await t.fund(client, op, company, "50000.00")  # the lump sum but not its fee
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert (await t.balance(client, company))["available"] == "50000.00"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Deal)) == 0
        assert await session.scalar(select(func.count()).select_from(OpenLicenseGrant)) == 0
    await assert_invariants(db)


@pytest.mark.parametrize("fee_type", ["free", "royalty"])
async def test_licence_without_lump_sum_moves_no_money(
    client: httpx.AsyncClient, db, world, fee_type: str
) -> None:
    op, uni, company = world
    extra = {"royalty_rate": "0.03", "royalty_base": "净销售额"} if fee_type == "royalty" else {}
    item = await h.declared(client, op, uni, fee_type=fee_type, lump_sum=None, **extra)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    deal = (await client.get(f"/api/v1/deals/{r.json()['deal_id']}", headers=company.headers)).json()
    assert (deal["price"], deal["buyer_fee"], deal["seller_fee"], deal["amount_due"]) == ("0.00",) * 4
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(JournalEntry)) == 0
    assert (await t.balance(client, company)) == {"available": "0.00", "held": "0.00"}
    await assert_invariants(db)


async def test_withdrawal_keeps_licences_granted(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    item = await h.declared(client, op, uni, fee_type="free", lump_sum=None)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    licence = r.json()
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/withdraw", headers=company.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["withdrawn_at"]
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.get(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert [x["id"] for x in r.json()["items"]] == [licence["id"]]
    r = await client.get(f"/api/v1/deals/{licence['deal_id']}", headers=company.headers)
    assert r.json()["status"] == "settled"
    r = await client.get(f"/api/v1/open-licenses/{item['id']}")  # withdrawal is published too
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    await assert_invariants(db)


async def test_licence_ends_with_the_patent(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    p = await h.patent(client, uni)  # filed 2020-03-15: expires 2040-03-15
    item = await h.declared(
        client, op, uni, patent_id=p["id"], fee_type="free", lump_sum=None, term_months=360
    )
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    last_day = date.fromisoformat(p["expires_on"]) - timedelta(days=1)
    assert r.json()["ends_on"] == last_day.isoformat()


async def test_idempotent_replay_gives_one_licence(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    item = await h.declared(client, op, uni, lump_sum="10000.00")
    await t.fund(client, op, company, "100000.00")
    url = f"/api/v1/open-licenses/{item['id']}/licenses"
    headers = {**company.headers, "Idempotency-Key": "licence-1"}
    first, second = await asyncio.gather(client.post(url, headers=headers), client.post(url, headers=headers))
    codes = sorted([first.status_code, second.status_code])
    assert codes in ([201, 201], [201, 409]), (first.text, second.text)
    if codes == [201, 409]:
        assert (
            next(r for r in (first, second) if r.status_code == 409).json()["code"]
            == "idempotency_in_progress"
        )
    replay = await client.post(url, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    ids = {r.json()["id"] for r in (first, second, replay) if r.status_code == 201}
    assert len(ids) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(OpenLicenseGrant)) == 1
        assert await session.scalar(select(func.count()).select_from(Deal)) == 1
    lump = parse_yuan("10000.00")
    buyer_fee, _ = FEES.fees(lump)
    assert (await t.balance(client, company))["available"] == format_fen(
        parse_yuan("100000.00") - lump - buyer_fee
    )
    await assert_invariants(db)


async def test_two_keys_give_two_paid_licences(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    item = await h.declared(client, op, uni, lump_sum="10000.00")
    await t.fund(client, op, company, "100000.00")
    url = f"/api/v1/open-licenses/{item['id']}/licenses"
    first, second = await asyncio.gather(
        client.post(url, headers={**company.headers, "Idempotency-Key": "a"}),
        client.post(url, headers={**company.headers, "Idempotency-Key": "b"}),
    )
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json()["deal_id"] != second.json()["deal_id"]
    lump = parse_yuan("10000.00")
    buyer_fee, seller_fee = FEES.fees(lump)
    assert (await t.balance(client, company))["available"] == format_fen(
        parse_yuan("100000.00") - 2 * (lump + buyer_fee)
    )
    assert (await t.balance(client, uni))["available"] == format_fen(2 * (lump - seller_fee))
    for r in (first, second):
        assert await h.escrow_of(db, r.json()["deal_id"]) == 0
    await assert_invariants(db)


async def test_declared_open_licence_blocks_exclusive_and_sole_listings(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, _company = world
    p = await h.patent(client, uni)
    terms = {"term_months": 12, "territory": "中国大陆", "field_of_use": "全部"}
    base = {
        "title": "许可",
        "summary": "许可。",
        "patent_ids": [p["id"]],
        "pricing_mode": "negotiated",
        "price": "100000.00",
        "license": terms,
    }
    # A draft exclusive listing made before the declaration cannot be submitted after it.
    r = await client.post(
        "/api/v1/listings", json={**base, "transaction_kind": "exclusive_license"}, headers=uni.headers
    )
    assert r.status_code == 201
    draft_id = r.json()["id"]
    await h.declared(client, op, uni, patent_id=p["id"])
    for kind in ("exclusive_license", "sole_license"):
        r = await client.post(
            "/api/v1/listings", json={**base, "transaction_kind": kind}, headers=uni.headers
        )
        assert r.status_code == 409 and r.json()["code"] == "open_license_active", r.text
    r = await client.post(f"/api/v1/listings/{draft_id}/submit", headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "open_license_active"
    # Ordinary (non-exclusive) licences may still be offered.
    r = await client.post(
        "/api/v1/listings", json={**base, "transaction_kind": "nonexclusive_license"}, headers=uni.headers
    )
    assert r.status_code == 201, r.text
    await assert_invariants(db)


async def test_declaration_withdrawn_before_approval_stays_private(
    client: httpx.AsyncClient, db, world
) -> None:
    """SPEC §20: something never published is never public. A declaration withdrawn while pending review is
    seen by its owner and operators only, by id and in the list; one withdrawn after approval stays public."""
    op, uni, company = world
    pending = await h.declare(client, uni, (await h.patent(client, uni))["id"])
    r = await client.post(f"/api/v1/open-licenses/{pending['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["declared_at"] is None
    declared = await h.declared(client, op, uni)
    r = await client.post(f"/api/v1/open-licenses/{declared['id']}/withdraw", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"

    url = f"/api/v1/open-licenses/{pending['id']}"
    assert (await client.get(url)).status_code == 404
    r = await client.get(url, headers=company.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get(url, headers=uni.headers)).status_code == 200
    assert (await client.get(url, headers=op.headers)).status_code == 200
    r = await client.post(f"{url}/licenses", headers=company.headers)
    assert r.status_code == 404

    for headers in ({}, company.headers):
        for params in ({}, {"status": "withdrawn"}, {"patent_id": pending["patent_id"]}):
            r = await client.get("/api/v1/open-licenses", params=params, headers=headers)
            assert r.status_code == 200, r.text
            assert pending["id"] not in [x["id"] for x in r.json()["items"]], (headers, params)
        r = await client.get("/api/v1/open-licenses", params={"status": "withdrawn"}, headers=headers)
        assert [x["id"] for x in r.json()["items"]] == [declared["id"]]
    for actor in (uni, op):
        r = await client.get("/api/v1/open-licenses", params={"status": "withdrawn"}, headers=actor.headers)
        assert {x["id"] for x in r.json()["items"]} == {pending["id"], declared["id"]}
