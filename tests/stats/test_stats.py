"""Statistics (SPEC §15): turnover of settled deals grouped by Shanghai month, pricing mode, transaction kind
and seller kind; an organization's patents held, listed, transacted and its industrialization rate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from app.models.trading import Deal
from app.stats import rules
from tests import factories as f
from tests.invariants import assert_invariants
from tests.settlement import helpers as h
from tests.world import build, org


async def _settled_at(db, case: h.DealCase, at: datetime) -> None:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        deal = await session.get(Deal, uuid.UUID(case.id))
        assert deal is not None
        deal.settled_at = at


async def _turnover(client: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    r = await client.get("/api/v1/stats/turnover", params=params)  # public
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


@pytest.fixture
async def world(client: httpx.AsyncClient, db):  # type: ignore[no-untyped-def]
    """Three settled deals and one only paid: an enterprise's negotiated assignment (500,000) settled at
    2026-11-30T17:00Z (Shanghai: 1 December), a university's listed assignment (100,000) at 2026-11-30T15:00Z
    (Shanghai: 30 November, 23:00), the enterprise's exclusive licence (200,000) in January 2027."""
    w = await build(client, db, seller=org(), buyer=org(), outsider=org(), university=org("university"))
    enterprise = (w.op, w.seller, w.buyer, w.outsider)
    a = await h.offer_deal(client, db, price="500000.00", actors=enterprise)
    await h.settled(client, db, a)
    b = await h.listed_deal(client, db, price="100000.00", actors=(w.op, w.university, w.buyer, w.outsider))
    await h.settled(client, db, b)
    c = await h.offer_deal(client, db, kind="exclusive_license", price="200000.00", actors=enterprise)
    await h.settled(client, db, c)
    unpaid = await h.offer_deal(client, db, price="70000.00", actors=enterprise)
    await h.paid(client, db, unpaid)
    await _settled_at(db, a, datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    await _settled_at(db, b, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    await _settled_at(db, c, datetime(2027, 1, 5, 0, 0, tzinfo=UTC))
    return a, b, c


async def test_turnover_by_shanghai_month(client: httpx.AsyncClient, db, world) -> None:
    assert await _turnover(client) == await _turnover(client, group_by="month")
    assert await _turnover(client, group_by="month") == [
        {"key": "2026-11", "deals": 1, "amount": "100000.00", "royalties": "0.00"},
        {"key": "2026-12", "deals": 1, "amount": "500000.00", "royalties": "0.00"},
        {"key": "2027-01", "deals": 1, "amount": "200000.00", "royalties": "0.00"},
    ]
    await assert_invariants(db)


async def test_turnover_between_shanghai_days(client: httpx.AsyncClient, db, world) -> None:
    december = await _turnover(client, **{"from": "2026-12-01", "to": "2026-12-31"})
    assert december == [{"key": "2026-12", "deals": 1, "amount": "500000.00", "royalties": "0.00"}]
    until_november = await _turnover(client, to="2026-11-30")
    assert until_november == [{"key": "2026-11", "deals": 1, "amount": "100000.00", "royalties": "0.00"}]
    from_december = await _turnover(client, **{"from": "2026-12-01"}, group_by="transaction_kind")
    assert from_december == [
        {"key": "assignment", "deals": 1, "amount": "500000.00", "royalties": "0.00"},
        {"key": "exclusive_license", "deals": 1, "amount": "200000.00", "royalties": "0.00"},
    ]
    assert await _turnover(client, **{"from": "2028-01-01"}) == []


async def test_turnover_by_pricing_mode_kind_and_seller(client: httpx.AsyncClient, db, world) -> None:
    assert await _turnover(client, group_by="pricing_mode") == [
        {"key": "listed", "deals": 1, "amount": "100000.00", "royalties": "0.00"},
        {"key": "negotiated", "deals": 2, "amount": "700000.00", "royalties": "0.00"},
    ]
    assert await _turnover(client, group_by="transaction_kind") == [
        {"key": "assignment", "deals": 2, "amount": "600000.00", "royalties": "0.00"},
        {"key": "exclusive_license", "deals": 1, "amount": "200000.00", "royalties": "0.00"},
    ]
    assert await _turnover(client, group_by="seller_kind") == [
        {"key": "enterprise", "deals": 2, "amount": "700000.00", "royalties": "0.00"},
        {"key": "university", "deals": 1, "amount": "100000.00", "royalties": "0.00"},
    ]


async def test_turnover_refuses_bad_parameters(client: httpx.AsyncClient, db) -> None:
    for params in (
        {"group_by": "buyer"},
        {"from": "2026-13-01"},
        {"to": "0"},
        {"from": "2026-12-02", "to": "2026-12-01"},
    ):
        r = await client.get("/api/v1/stats/turnover", params=params)
        assert r.status_code == 422, (params, r.text)
    assert await _turnover(client) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("to", "9999-12-31"),  # the day after overflowed: 500 before
        ("from", "9999-12-31"),
        ("to", "2200-01-01"),
        ("from", "1899-12-31"),
        ("from", "0001-01-01"),
        ("to", "2026-02-29"),  # not a real day
        ("from", "2026-02-30"),
        ("to", "２０２６-01-01"),  # full-width digits
        ("from", "2026-01-01T00:00:00"),
        ("to", "20260101"),
        ("from", ""),
    ],
)
async def test_turnover_dates_out_of_range_name_the_parameter(
    client: httpx.AsyncClient, db, name: str, value: str
) -> None:
    r = await client.get("/api/v1/stats/turnover", params={name: value})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in r.json()["errors"]] == [["query", name]]


async def test_turnover_accepts_the_whole_date_range(client: httpx.AsyncClient, db) -> None:
    assert await _turnover(client, **{"from": "1900-01-01", "to": "2199-12-31"}) == []


async def test_organization_stats(client: httpx.AsyncClient, db) -> None:
    op, seller, buyer, outsider = await h.parties(client, db)
    actors = (op, seller, buyer, outsider)
    assigned = await h.offer_deal(client, db, patents=2, actors=actors)  # 2 patents listed and assigned
    await h.settled(client, db, assigned)
    licensed = await h.offer_deal(client, db, kind="nonexclusive_license", actors=actors)
    await h.settled(client, db, licensed)  # 1 patent listed and licensed, still held
    await h.offer_deal(client, db, actors=actors)  # 1 patent listed, under contract
    await f.patent(client, seller)  # 1 patent never listed

    r = await client.get(f"/api/v1/stats/organizations/{seller.org_id}", headers=seller.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "organization_id": seller.org_id,
        "patents_held": 3,
        "patents_listed": 4,
        "patents_transacted": 3,
        "patents_assigned_away": 2,
        "industrialization_rate": 0.6,
    }
    r = await client.get(f"/api/v1/stats/organizations/{buyer.org_id}", headers=op.headers)
    assert r.json()["patents_held"] == 2 and r.json()["industrialization_rate"] == 0.0
    r = await client.get(f"/api/v1/stats/organizations/{outsider.org_id}", headers=outsider.headers)
    assert r.json()["industrialization_rate"] is None
    r = await client.get(f"/api/v1/stats/organizations/{seller.org_id}", headers=outsider.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await client.get(f"/api/v1/stats/organizations/{seller.org_id}")).status_code == 401
    await assert_invariants(db, all_resolved=True)


def test_industrialization_rate() -> None:
    assert rules.industrialization_rate(0, 0, 0) is None
    assert rules.industrialization_rate(3, 3, 2) == 0.6
    assert rules.industrialization_rate(1, 0, 1) == 1.0
