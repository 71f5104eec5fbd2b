"""Test steps for technology-contract registration (SPEC §18.7): settled deals through the public API, filings,
the operators' decisions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.kit.db import Database
from app.models.trading import Deal
from tests import factories as f
from tests.settlement import helpers as h

API = "/api/v1"


async def settled_deal(
    client: httpx.AsyncClient,
    db: Database,
    *,
    kind: str = "assignment",
    price: str = "500000.00",
    actors: tuple[f.Actor, ...] | None = None,
) -> h.DealCase:
    """A negotiated deal of an enterprise seller, signed, paid and settled through the API."""
    case = await h.offer_deal(client, db, kind=kind, price=price, actors=actors)
    await h.settled(client, db, case)
    return case


async def set_deal_status(db: Database, deal_id: str, status: str) -> None:
    """Put a deal in a status directly (``completed`` comes from completion steps other tests cover)."""
    async with db.transaction() as session:
        deal = await session.get(Deal, uuid.UUID(deal_id))
        assert deal is not None
        deal.status = status  # type: ignore[assignment]


async def set_deal_kind(db: Database, deal_id: str, kind: str) -> None:
    """Give a deal another transaction kind directly (kinds whose deals other tests make end to end)."""
    async with db.transaction() as session:
        deal = await session.get(Deal, uuid.UUID(deal_id))
        assert deal is not None
        deal.transaction_kind = kind


async def file(
    client: httpx.AsyncClient,
    actor: f.Actor,
    deal_id: str,
    category: str = "technology_transfer",
    technology_amount: str = "400000.00",
    **headers: str,
) -> httpx.Response:
    return await client.post(
        f"{API}/deals/{deal_id}/tech-contract-registration",
        json={"category": category, "technology_amount": technology_amount},
        headers={**actor.headers, **headers},
    )


async def filed(client: httpx.AsyncClient, actor: f.Actor, deal_id: str, **body: str) -> dict[str, Any]:
    r = await file(client, actor, deal_id, **body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def register(
    client: httpx.AsyncClient, actor: f.Actor, registration_id: str, **body: Any
) -> httpx.Response:
    body.setdefault("registration_number", "2026330100000123")
    return await client.post(
        f"{API}/tech-contract-registrations/{registration_id}/register", json=body, headers=actor.headers
    )


async def reject(
    client: httpx.AsyncClient, actor: f.Actor, registration_id: str, reason: str = "合同金额与发票不符"
) -> httpx.Response:
    return await client.post(
        f"{API}/tech-contract-registrations/{registration_id}/reject",
        json={"reason": reason},
        headers=actor.headers,
    )


async def registered(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, deal_id: str, **body: Any
) -> dict[str, Any]:
    """File (as ``seller``) and register (as ``op``); ``body`` goes to the registration."""
    item = await filed(client, seller, deal_id)
    r = await register(client, op, item["id"], **body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def code_of(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, str(r.json().get("code"))
