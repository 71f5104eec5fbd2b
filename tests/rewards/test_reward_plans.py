"""Inventor reward plans over HTTP (SPEC §12): recorded after settlement, checked, replaced until paid."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from app.models.trading import DealStatus
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as h
from tests.world import org

PRICE = 103_000_000  # fen: 1,030,000 yuan
SELLER_FEE = 2_000_000  # 20,000 yuan; with 10,000 yuan costs the net income is 1,000,000 yuan


pytestmark = pytest.mark.world(uni=org("university"), company=org())


def body(
    main: str = "490000.00", staff: str = "35000.00", other: str = "175000.00", costs: str = "10000.00"
) -> dict[str, Any]:
    allocations = [
        {"name": "张三", "role": "main_contributor", "amount": main},
        {"name": "李四", "role": "transfer_staff", "amount": staff},
        {"name": "王五", "role": "other", "amount": other},
    ]
    return {"costs": costs, "allocations": [a for a in allocations if a["amount"] != "0.00"]}


async def test_valid_plan_recorded_replaced_and_paid(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    settled_at = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    deal_id = await h.settled_deal(
        db, uni, company, price=PRICE, seller_fee=SELLER_FEE, settled_at=settled_at
    )
    url = f"/api/v1/deals/{deal_id}/reward-plan"
    r = await client.post(url, json=body(), headers=uni.headers)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert (
        plan["net_income"] == "1000000.00" and plan["pool"] == "700000.00" and plan["rule_set"] == "zhejiang"
    )
    assert plan["status"] == "draft" and plan["pay_by"] == date(2026, 9, 10).isoformat()
    notice_ends = datetime.fromisoformat(plan["notice_ends_at"])
    assert 14.9 * 86400 < (notice_ends - await t.now(client)).total_seconds() <= 15 * 86400
    # Replaced while draft (200).
    r = await client.post(
        url, json=body(main="500000.00", staff="40000.00", other="170000.00"), headers=uni.headers
    )
    assert r.status_code == 200 and r.json()["id"] == plan["id"] and r.json()["pool"] == "710000.00"
    # Readers: the seller and operators; the buyer and others 404.
    assert (await client.get(url, headers=uni.headers)).json()["pool"] == "710000.00"
    assert (await client.get(url, headers=op.headers)).status_code == 200
    assert (await client.get(url, headers=company.headers)).status_code == 404
    # Paid only after the 15-day notice.
    r = await client.post(f"/api/v1/reward-plans/{plan['id']}/mark-paid", headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "reward_notice_running"
    r = await client.post(f"/api/v1/reward-plans/{plan['id']}/mark-paid", headers=company.headers)
    assert r.status_code == 404
    await t.advance_past(
        client, r_notice := (await client.get(url, headers=uni.headers)).json()["notice_ends_at"]
    )
    assert r_notice
    r = await client.post(f"/api/v1/reward-plans/{plan['id']}/mark-paid", headers=uni.headers)
    assert r.status_code == 200 and r.json()["status"] == "paid" and r.json()["paid_at"]
    r = await client.post(url, json=body(), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": deal_id}, headers=uni.headers
    )
    assert [e["action"] for e in r.json()["items"]] == [
        "reward_plan_recorded",
        "reward_plan_replaced",
        "reward_plan_paid",
    ]
    await assert_invariants(db)


@pytest.mark.parametrize(
    ("plan", "rules"),
    [
        (body(other="174999.99"), {"pool_share"}),
        (body(main="489999.99", other="175000.01"), {"main_contributor_share"}),
        (body(staff="34999.99", other="175000.01"), {"transfer_staff_share"}),
        (body(main="100.00", staff="0.00", other="0.00"), {"pool_share", "transfer_staff_share"}),
        (body(costs="1010000.01"), {"costs_range"}),
    ],
    ids=["pool", "main", "staff", "several", "costs"],
)
async def test_zhejiang_violations_are_named(
    client: httpx.AsyncClient, db, world, plan: dict[str, Any], rules: set[str]
) -> None:
    _op, uni, company = world
    deal_id = await h.settled_deal(db, uni, company, price=PRICE, seller_fee=SELLER_FEE)
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=plan, headers=uni.headers)
    assert r.status_code == 422 and r.json()["code"] == "reward_plan_invalid", r.text
    named = {e["msg"].split(" ")[0].split(":")[0] for e in r.json()["errors"]}
    assert named == rules


async def test_national_rule_set(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, company = world
    deal_id = await h.settled_deal(db, uni, company, price=PRICE, seller_fee=SELLER_FEE)
    half = body(main="0.00", staff="0.00", other="500000.00")
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=half, headers=uni.headers)
    assert r.status_code == 422 and r.json()["code"] == "reward_plan_invalid"
    await h.set_reward_rules(client, uni, "national")
    short = body(main="0.00", staff="0.00", other="499999.99")
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=short, headers=uni.headers)
    assert r.status_code == 422 and "pool_share" in r.json()["errors"][0]["msg"]
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=half, headers=uni.headers)
    assert r.status_code == 201 and r.json()["rule_set"] == "national"
    await assert_invariants(db)


async def test_only_the_seller_after_settlement(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    unsettled = await h.settled_deal(
        db, uni, company, price=PRICE, seller_fee=SELLER_FEE, status=DealStatus.awaiting_payment
    )
    r = await client.post(f"/api/v1/deals/{unsettled}/reward-plan", json=body(), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    deal_id = await h.settled_deal(db, uni, company, price=PRICE, seller_fee=SELLER_FEE)
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=body(), headers=company.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=body(), headers=op.headers)
    assert r.status_code == 403
    outsider = await f.organization(client, verified_by=op)
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=body(), headers=outsider.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/deals/{deal_id}/reward-plan", headers=uni.headers)
    assert r.status_code == 404
    bad = body()
    bad["allocations"][0]["amount"] = "0.00"
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=bad, headers=uni.headers)
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/deals/{deal_id}/reward-plan", json={**body(), "allocations": []}, headers=uni.headers
    )
    assert r.status_code == 422


async def test_plan_for_an_open_licence_deal(client: httpx.AsyncClient, db, world) -> None:
    """A real settled deal: an open licence taken at once."""
    op, uni, company = world
    item = await h.declared(client, op, uni, lump_sum="100000.00")
    await t.fund(client, op, company, "200000.00")
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/licenses", headers=company.headers)
    deal_id = r.json()["deal_id"]
    deal = (await client.get(f"/api/v1/deals/{deal_id}", headers=uni.headers)).json()
    assert deal["seller_fee"] == "2000.00"
    # Net income 100,000 − 2,000 fee = 98,000: pool ≥ 68,600, main ≥ 48,020, staff ≥ 3,430.
    plan = body(main="48020.00", staff="3430.00", other="17150.00", costs="0.00")
    r = await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=plan, headers=uni.headers)
    assert r.status_code == 201, r.text
    assert r.json()["net_income"] == "98000.00" and r.json()["pool"] == "68600.00"
    await assert_invariants(db)
