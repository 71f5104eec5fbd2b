"""Shared test steps for trading: a published listing, money on account, moving the sandbox clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests import factories as f
from tests.sandbox import move_clock


async def published_listing(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, *, patents: int = 1, **overrides: Any
) -> dict[str, Any]:
    """A listing of ``seller`` (verified) approved by ``op``. Defaults: a negotiated assignment at 500,000
    yuan; override e.g. ``pricing_mode="listed", price="100000.00", deposit="10000.00"`` or an ``auction``
    dict. ``None`` removes a field."""
    patent_ids = [(await f.patent(client, seller))["id"] for _ in range(patents)]
    body: dict[str, Any] = {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "高孔隙率隔膜，适用于动力电池。",
        "patent_ids": patent_ids,
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "500000.00",
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/api/v1/listings", json=body, headers=seller.headers)
    assert r.status_code == 201, r.text
    listing_id = r.json()["id"]
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=seller.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def fund(
    client: httpx.AsyncClient, op: f.Actor, org: f.Actor, amount: str, reference: str | None = None
) -> None:
    """Record a bank transfer of ``amount`` yuan to ``org``'s exchange account."""
    reference = reference or f"BANK-{org.org_id}-{amount}-{datetime.now().timestamp()}"
    r = await client.post(
        "/api/v1/ledger/payments",
        json={"organization_id": org.org_id, "amount": amount, "bank_reference": reference},
        headers=op.headers,
    )
    assert r.status_code in (200, 201), r.text


async def balance(client: httpx.AsyncClient, org: f.Actor) -> dict[str, str]:
    r = await client.get(f"/api/v1/organizations/{org.org_id}/account", headers=org.headers)
    assert r.status_code == 200, r.text
    result: dict[str, str] = r.json()
    return result


async def now(client: httpx.AsyncClient) -> datetime:
    return datetime.fromisoformat((await client.get("/api/v1/sandbox/clock")).json()["now"])


async def advance(client: httpx.AsyncClient, seconds: float) -> datetime:
    """Move the business clock forward (as an operator) and let every deadline that fell due be processed."""
    r = await move_clock(client, seconds)
    assert r.status_code == 200, r.text
    return datetime.fromisoformat(r.json()["now"])


async def advance_past(client: httpx.AsyncClient, instant: str | datetime, margin: float = 1.0) -> datetime:
    """Move the business clock to just after ``instant`` (an ISO string or datetime)."""
    target = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    gap = (target - await now(client)) + timedelta(seconds=margin)
    return await advance(client, max(gap.total_seconds(), 0.001))
