"""Shared steps for open licensing, pledges and reward tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.models.ledger import EXCHANGE_OWNER, AccountKind, LedgerAccount
from app.models.trading import Deal, DealSource, DealStatus
from tests import factories as f
from tests.sandbox import business_now

PAID_UP = "2099-12-31"


async def patent(client: httpx.AsyncClient, owner: f.Actor, **fields: Any) -> dict[str, Any]:
    """A granted invention with its annual fees paid, unless ``fields`` say otherwise."""
    body: dict[str, Any] = {"annual_fee_paid_until": PAID_UP, **fields}
    return await f.patent(client, owner, **body)


def declaration(patent_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patent_id": patent_id,
        "fee_type": "lump_sum",
        "lump_sum": "50000.00",
        "term_months": 36,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def declare(
    client: httpx.AsyncClient, owner: f.Actor, patent_id: str, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/open-licenses", json=declaration(patent_id, **overrides), headers=owner.headers
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def declared(
    client: httpx.AsyncClient, op: f.Actor, owner: f.Actor, patent_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A declared open licence of ``owner`` (a new patent unless ``patent_id``)."""
    if patent_id is None:
        patent_id = (await patent(client, owner))["id"]
    item = await declare(client, owner, patent_id, **overrides)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def set_preservation(client: httpx.AsyncClient, op: f.Actor, patent_id: str, active: bool) -> None:
    body = {"active": active, "reason": "（2026）浙01财保1号" if active else None}
    r = await client.post(f"/api/v1/patents/{patent_id}/preservation", json=body, headers=op.headers)
    assert r.status_code == 200, r.text


async def exchange_fee_income(db: Database) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.fee_income, LedgerAccount.owner_id == EXCHANGE_OWNER
            )
        )
    return int(value or 0)


async def escrow_of(db: Database, deal_id: str) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.escrow, LedgerAccount.owner_id == uuid.UUID(deal_id)
            )
        )
    return int(value or 0)


async def settled_deal(
    db: Database,
    seller: f.Actor,
    buyer: f.Actor,
    *,
    price: int,
    seller_fee: int,
    buyer_fee: int = 0,
    settled_at: datetime | None = None,
    status: DealStatus = DealStatus.settled,
) -> str:
    """A deal written straight to the database in ``status`` (settled by default), for reward-plan tests that
    do not depend on the settlement API. Amounts in fen."""
    at = settled_at or await business_now(db)
    deal_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Deal(
                id=deal_id,
                listing_id=None,
                buyer_org_id=uuid.UUID(buyer.org_id),
                seller_org_id=uuid.UUID(seller.org_id),
                source=DealSource.offer,
                transaction_kind="assignment",
                status=status,
                price=price,
                cash_price=price,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
                deposit_applied=0,
                amount_due=price + buyer_fee,
                settled_at=at if status == DealStatus.settled else None,
                created_at=at,
                updated_at=at,
            )
        )
    return str(deal_id)


async def set_reward_rules(client: httpx.AsyncClient, org: f.Actor, rules: str) -> None:
    r = await client.patch(
        f"/api/v1/organizations/{org.org_id}", json={"reward_rules": rules}, headers=org.headers
    )
    assert r.status_code == 200, r.text
