"""The reward plan of an equity contribution is in equity (SPEC §18.2): the seller's rule set applied to the
deal's equity percentage exactly, money fields null, and a plan of the wrong form refused (rule ``form``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.models.trading import Deal, DealSource, DealStatus
from tests import trading as t
from tests.licensing import helpers as lh
from tests.world import World, org

pytestmark = pytest.mark.world(uni=org("university"), company=org())


async def _equity_deal(db, world: World, equity_bp: int = 1000) -> str:
    """A settled equity contribution written straight to the database (10.00% by default)."""
    at = await lh.business_now(db)
    deal_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Deal(
                id=deal_id,
                listing_id=None,
                buyer_org_id=uuid.UUID(world.company.org_id),
                seller_org_id=uuid.UUID(world.uni.org_id),
                source=DealSource.offer,
                transaction_kind="equity_contribution",
                status=DealStatus.settled,
                price=100_000_000,
                cash_price=0,
                buyer_fee=1_000_000,
                seller_fee=1_000_000,
                deposit_applied=0,
                amount_due=2_000_000,
                settled_at=at,
                equity={"equity_percent": equity_bp, "contributors": []},
                created_at=at,
                updated_at=at,
            )
        )
    return str(deal_id)


def plan(main: str, staff: str, other: str) -> dict[str, Any]:
    allocations = [
        {"name": "张三", "role": "main_contributor", "equity_percent": main},
        {"name": "李四", "role": "transfer_staff", "equity_percent": staff},
        {"name": "王五", "role": "other", "equity_percent": other},
    ]
    return {"form": "equity", "allocations": [a for a in allocations if a["equity_percent"] != "0"]}


async def _post(
    client: httpx.AsyncClient, world: World, deal_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/api/v1/deals/{deal_id}/reward-plan", json=body, headers=world.uni.headers)


def rules_of(r: httpx.Response) -> set[str]:
    assert r.status_code == 422 and r.json()["code"] == "reward_plan_invalid", r.text
    return {e["msg"].split(" ")[0].rstrip(":") for e in r.json()["errors"]}


async def test_zhejiang_rules_on_the_equity_percent_exactly(
    client: httpx.AsyncClient, db, world: World
) -> None:
    deal_id = await _equity_deal(db, world)  # 10.00%: pool ≥ 7.00, main ≥ 70% of it, staff ≥ 5% of it
    r = await _post(client, world, deal_id, plan("4.90", "0.35", "1.75"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["form"], body["equity_percent"], body["pool_percent"]) == ("equity", "10.00", "7.00")
    assert (
        body["price"] is None
        and body["pool"] is None
        and body["net_income"] is None
        and body["costs"] is None
    )
    assert body["allocations"][0] == {
        "name": "张三",
        "role": "main_contributor",
        "amount": None,
        "equity_percent": "4.90",
    }
    assert rules_of(await _post(client, world, deal_id, plan("4.90", "0.35", "1.74"))) == {"pool_share"}
    assert rules_of(await _post(client, world, deal_id, plan("4.89", "0.35", "1.76"))) == {
        "main_contributor_share"
    }
    assert rules_of(await _post(client, world, deal_id, plan("4.90", "0.34", "1.76"))) == {
        "transfer_staff_share"
    }


async def test_national_rules(client: httpx.AsyncClient, db, world: World) -> None:
    await lh.set_reward_rules(client, world.uni, "national")
    deal_id = await _equity_deal(db, world, equity_bp=2000)  # 20.00%: pool ≥ 10.00
    r = await _post(client, world, deal_id, plan("10", "0", "0"))
    assert r.status_code == 201, r.text
    assert r.json()["rule_set"] == "national"
    assert rules_of(await _post(client, world, deal_id, plan("9.99", "0", "0"))) == {"pool_share"}


async def test_a_plan_of_the_other_form_is_refused(client: httpx.AsyncClient, db, world: World) -> None:
    equity_deal = await _equity_deal(db, world)
    cash = {
        "costs": "0.00",
        "allocations": [{"name": "张三", "role": "main_contributor", "amount": "1000000.00"}],
    }
    assert rules_of(await _post(client, world, equity_deal, cash)) == {"form"}
    cash_deal = await lh.settled_deal(db, world.uni, world.company, price=100_000_000, seller_fee=1_000_000)
    assert rules_of(await _post(client, world, cash_deal, plan("70", "5", "0"))) == {"form"}
    # The form's fields: an equity plan's allocations carry equity_percent, a cash plan's amount.
    r = await _post(client, world, equity_deal, {"form": "equity", "allocations": cash["allocations"]})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert await t.now(client)
