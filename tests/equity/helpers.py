"""Test steps for equity contributions (SPEC §18.2): deals made through the public API in each pricing mode, the
terms, the valuation, signing, payment, settlement, the transfer's registration and the equity registration."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from app.models.trading import Deal
from tests import factories as f
from tests import trading as t
from tests.negotiation import helpers as n
from tests.settlement import helpers as h

KIND = "equity_contribution"
APPRAISER_CODE = f.credit_code(901)


async def today(client: httpx.AsyncClient) -> date:
    return (await t.now(client)).astimezone(SHANGHAI).date()


async def listing(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, *, price: str = "1000000.00", **overrides: Any
) -> dict[str, Any]:
    return await t.published_listing(client, op, seller, transaction_kind=KIND, price=price, **overrides)


async def negotiated_deal(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, buyer: f.Actor, *, price: str = "1000000.00"
) -> dict[str, Any]:
    """A negotiated equity listing, the company's offer at the price accepted: a deal (``public_notice`` for a
    public-institution seller)."""
    item = await listing(client, op, seller, price=price)
    offer = await n.offer(client, buyer, item["id"], price)
    accepted = await n.move(client, seller, offer["id"], "accept")
    return await h.get(client, op, accepted["deal_id"])


async def listed_deal(
    client: httpx.AsyncClient,
    db: Database,
    op: f.Actor,
    seller: f.Actor,
    buyer: f.Actor,
    *,
    price: str = "1000000.00",
    deposit: str = "50000.00",
) -> dict[str, Any]:
    """A listed equity listing with the company as its one registrant: the deal at the end of the period."""
    await t.fund(client, op, buyer, deposit)
    item = await listing(client, op, seller, price=price, pricing_mode="listed", deposit=deposit)
    r = await client.post(f"/api/v1/listings/{item['id']}/registrations", headers=buyer.headers)
    assert r.status_code == 201, r.text
    await t.advance_past(client, item["listing_ends_at"])
    async with db.read() as session:
        deal_id = await session.scalar(select(Deal.id).where(Deal.listing_id == uuid.UUID(item["id"])))
    assert deal_id is not None
    return await h.get(client, op, str(deal_id))


async def post(client: httpx.AsyncClient, actor: f.Actor, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/api/v1{path}", json=body, headers=actor.headers)


async def terms(
    client: httpx.AsyncClient,
    actor: f.Actor,
    deal_id: str,
    *,
    registered_capital: str = "800000.00",
    equity_percent: str = "15",
    investee_state_owned: bool = False,
) -> httpx.Response:
    return await post(
        client,
        actor,
        f"/deals/{deal_id}/equity-terms",
        {
            "registered_capital": registered_capital,
            "equity_percent": equity_percent,
            "investee_state_owned": investee_state_owned,
        },
    )


def report(*, value: str = "1000000.00", base_date: date, **overrides: Any) -> dict[str, Any]:
    body = {
        "appraiser_name": "浙江求是资产评估有限公司",
        "appraiser_credit_code": APPRAISER_CODE,
        "method": "income",
        "value": value,
        "base_date": base_date.isoformat(),
        "report_number": "浙求评报字〔2026〕第088号",
    }
    body.update(overrides)
    return body


async def valuation(
    client: httpx.AsyncClient, actor: f.Actor, deal_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await post(client, actor, f"/deals/{deal_id}/valuation", body)


async def agree(client: httpx.AsyncClient, seller: f.Actor, buyer: f.Actor, deal: dict[str, Any]) -> None:
    """Terms and a current report recorded."""
    r = await terms(client, buyer, deal["id"])
    assert r.status_code == 200, r.text
    r = await valuation(
        client, seller, deal["id"], {"report": report(base_date=await today(client) - timedelta(days=30))}
    )
    assert r.status_code == 200, r.text


async def past_notice(client: httpx.AsyncClient, op: f.Actor, deal: dict[str, Any]) -> dict[str, Any]:
    if deal["status"] == "public_notice":
        await t.advance_past(client, deal["notice_ends_at"])
    deal = await h.get(client, op, deal["id"])
    assert deal["status"] == "awaiting_signatures", deal["status"]
    return deal


async def sign(
    client: httpx.AsyncClient, actor: f.Actor, contract_id: str, sha256: str | None = None
) -> httpx.Response:
    if sha256 is None:
        r = await client.get(f"/api/v1/contracts/{contract_id}", headers=actor.headers)
        sha256 = r.json()["sha256"]
    return await client.post(
        f"/api/v1/contracts/{contract_id}/sign", json={"sha256": sha256}, headers=actor.headers
    )


async def sign_pay_settle(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, buyer: f.Actor, deal: dict[str, Any]
) -> dict[str, Any]:
    for actor in (seller, buyer):
        r = await sign(client, actor, deal["contract_id"])
        assert r.status_code == 200, r.text
    deal = await h.get(client, op, deal["id"])
    assert deal["status"] == "awaiting_payment"
    if h.yuan(deal["amount_due"]):
        await t.fund(client, op, buyer, deal["amount_due"])
    r = await h.pay(client, buyer, deal["id"])
    assert r.status_code == 200, r.text
    r = await h.settle(client, op, deal["id"])
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def transfer_task(client: httpx.AsyncClient, op: f.Actor, deal_id: str) -> dict[str, Any]:
    r = await client.get("/api/v1/transfer-tasks", headers=op.headers)
    (task,) = [x for x in r.json()["items"] if x["deal_id"] == deal_id]
    return dict(task)


async def register_transfer(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, deal_id: str, announced: date
) -> None:
    task = await transfer_task(client, op, deal_id)
    now = await t.now(client)
    r = await post(
        client,
        seller,
        f"/transfer-tasks/{task['id']}/filed",
        {"cnipa_receipt_number": "CN-2026-0001", "filed_at": now.isoformat()},
    )
    assert r.status_code == 200, r.text
    r = await post(
        client, op, f"/transfer-tasks/{task['id']}/registered", {"announcement_date": announced.isoformat()}
    )
    assert r.status_code == 200, r.text


async def register_equity(
    client: httpx.AsyncClient, actor: f.Actor, deal_id: str, registered_on: date
) -> httpx.Response:
    return await post(
        client,
        actor,
        f"/deals/{deal_id}/equity-registration",
        {
            "registration_number": "330100000123456",
            "registered_on": registered_on.isoformat(),
            "authority": "杭州市市场监督管理局",
        },
    )


def settled_day(deal: dict[str, Any]) -> date:
    return datetime.fromisoformat(deal["settled_at"]).astimezone(SHANGHAI).date()


async def untouched(client: httpx.AsyncClient, org: f.Actor) -> bool:
    """The organization's balances are all zero (an equity seller's never change)."""
    return set((await t.balance(client, org)).values()) == {"0.00"}
