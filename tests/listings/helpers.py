"""Test data for listings. Patents are written straight to the database with the ORM model, so these tests do
not depend on the patent registry's API."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

import httpx

from app.kit.db import Database
from app.models.patents import Patent, PatentIpc, PatentKind
from tests import factories as f
from tests.sandbox import business_now, move_clock

_numbers = itertools.count(1)


async def patent(
    db: Database,
    owner: f.Actor,
    *,
    title: str = "一种锂电池隔膜的制备方法",
    abstract: str = "本发明公开了一种隔膜。",
    granted: bool = True,
    kind: PatentKind = PatentKind.invention,
    expires_on: date = date(2035, 3, 1),
    status_override: str | None = None,
    preserved: bool = False,
    ipc: tuple[str, ...] = ("H01M 10/0525",),
) -> str:
    n = next(_numbers)
    now = await business_now(db)
    pid = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Patent(
                id=pid,
                owner_org_id=uuid.UUID(owner.org_id),
                application_number=f"2015{n:07d}{uuid.uuid4().hex[:3]}",
                kind=kind,
                title=title,
                abstract=abstract,
                ipc_codes=list(ipc),
                inventors=["张三"],
                filing_date=date(2015, 3, 1),
                grant_date=date(2017, 5, 1) if granted else None,
                expires_on=expires_on,
                status_override=status_override,
                preserved=preserved,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add_all(PatentIpc(patent_id=pid, code=c) for c in ipc)
    return str(pid)


def body(patent_ids: list[str], **overrides: Any) -> dict[str, Any]:
    """A valid negotiated assignment; override what a test is about."""
    data: dict[str, Any] = {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "高孔隙率隔膜，适用于动力电池。",
        "patent_ids": patent_ids,
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "500000.00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


AUCTION = {"format": "english", "increment": "5000.00", "reserve_price": "876543.21"}


def auction_body(patent_ids: list[str], **overrides: Any) -> dict[str, Any]:
    return body(
        patent_ids,
        pricing_mode="auction",
        price="500000.00",
        deposit="50000.00",
        auction=dict(AUCTION),
        **overrides,
    )


async def create(client: httpx.AsyncClient, seller: f.Actor, data: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/listings", json=data, headers=seller.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def act(
    client: httpx.AsyncClient,
    actor: f.Actor,
    listing_id: str,
    verb: str,
    json: dict[str, Any] | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    r = await client.post(f"/api/v1/listings/{listing_id}/{verb}", json=json, headers=actor.headers)
    assert r.status_code == expect, r.text
    return r.json()


async def published(
    client: httpx.AsyncClient, seller: f.Actor, op: f.Actor, data: dict[str, Any]
) -> dict[str, Any]:
    listing = await create(client, seller, data)
    await act(client, seller, listing["id"], "submit")
    return await act(client, op, listing["id"], "approve")


async def advance(client: httpx.AsyncClient, seconds: float) -> str:
    r = await move_clock(client, seconds)
    assert r.status_code == 200, r.text
    return str(r.json()["now"])
