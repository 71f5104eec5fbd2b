"""Steps of technology-demand tests (SPEC §17.6), over HTTP; dates relative to the sandbox business clock."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from app.models.notifications import Notification
from tests import factories as f
from tests import trading as t
from tests.listings import helpers as listings

API = "/api/v1"


async def today(client: httpx.AsyncClient) -> date:
    """Today in Shanghai by the business clock."""
    return (await t.now(client)).astimezone(SHANGHAI).date()


async def body(client: httpx.AsyncClient, *, days: int = 30, **overrides: Any) -> dict[str, Any]:
    """A valid demand whose deadline is ``days`` after today; ``None`` removes a field."""
    data: dict[str, Any] = {
        "title": "寻求海参养殖设备技术",
        "description": "需要适用于近海养殖的自动投喂与水质监测设备。",
        "ipc_codes": ["A01K 61/00"],
        "budget_min": "100000.00",
        "budget_max": "500000.00",
        "deadline": (await today(client) + timedelta(days=days)).isoformat(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def create(client: httpx.AsyncClient, owner: f.Actor, **overrides: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/demands", json=await body(client, **overrides), headers=owner.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def act(
    client: httpx.AsyncClient,
    actor: f.Actor | None,
    demand_id: str,
    verb: str,
    json: dict[str, Any] | None = None,
    *,
    expect: int = 200,
    code: str | None = None,
) -> dict[str, Any]:
    headers = actor.headers if actor is not None else {}
    r = await client.post(f"{API}/demands/{demand_id}/{verb}", json=json, headers=headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    if code is not None:
        assert result["code"] == code, result
    return result


async def published(
    client: httpx.AsyncClient, owner: f.Actor, op: f.Actor, **overrides: Any
) -> dict[str, Any]:
    demand = await create(client, owner, **overrides)
    await act(client, owner, demand["id"], "submit")
    return await act(client, op, demand["id"], "approve")


async def get(
    client: httpx.AsyncClient, actor: f.Actor | None, path: str, *, expect: int = 200, **params: Any
) -> Any:
    r = await client.get(f"{API}{path}", params=params, headers=actor.headers if actor else {})
    assert r.status_code == expect, r.text
    return r.json()


async def listing(
    client: httpx.AsyncClient,
    db: Database,
    op: f.Actor,
    seller: f.Actor,
    *,
    title: str = "一种锂电池隔膜的制备方法",
    summary: str = "高孔隙率隔膜，适用于动力电池。",
    patent_title: str = "一种隔膜",
    abstract: str = "本发明公开了一种隔膜。",
    ipc: tuple[str, ...] = ("H01M 10/0525",),
) -> dict[str, Any]:
    """A published negotiated listing of ``seller`` with one patent of these codes and texts."""
    pid = await listings.patent(db, seller, title=patent_title, abstract=abstract, ipc=ipc)
    return await listings.published(client, seller, op, listings.body([pid], title=title, summary=summary))


async def respond(
    client: httpx.AsyncClient,
    seller: f.Actor,
    demand_id: str,
    listing_id: str,
    message: str = "我方专利可满足贵方需求。",
    *,
    expect: int = 201,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/demands/{demand_id}/responses",
        json={"listing_id": listing_id, "message": message},
        headers={**seller.headers, **(headers or {})},
    )
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    if code is not None:
        assert result["code"] == code, result
    return result


async def decide(
    client: httpx.AsyncClient, actor: f.Actor, response_id: str, verb: str, *, expect: int = 200
) -> dict[str, Any]:
    r = await client.post(f"{API}/demand-responses/{response_id}/{verb}", headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def notifications(db: Database, org: f.Actor, kind: str | None = None) -> list[Notification]:
    """The organization's notifications as the outbox wrote them, oldest first."""
    async with db.read() as session:
        query = select(Notification).where(Notification.organization_id == uuid.UUID(org.org_id or ""))
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return list((await session.scalars(query.order_by(Notification.created_at))).all())


async def all_notifications(db: Database) -> list[Notification]:
    async with db.read() as session:
        return list((await session.scalars(select(Notification))).all())


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
