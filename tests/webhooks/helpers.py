"""Webhook test helpers: subscribing through the API, notifying straight through the outbox."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.kit.db import Database
from app.notifications.outbox import Written, notify
from tests import factories as f
from tests.sandbox import business_now

API = "/api/v1"


async def subscribe(
    client: httpx.AsyncClient, admin: f.Actor, url: str, kinds: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/webhooks",
        json={"url": url, "event_kinds": kinds or ["offer_received"], **extra},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def notify_org(
    db: Database, org_id: str, kind: str = "offer_received", data: dict[str, Any] | None = None
) -> Written:
    """A committed notification of ``kind`` to the organization, as a change's transaction writes it."""
    payload = (
        data
        if data is not None
        else {"offer_id": str(uuid.uuid4()), "listing_id": str(uuid.uuid4()), "price": "1000.00"}
    )
    now = await business_now(db)
    async with db.transaction() as session:
        (row,) = await notify(session, kind, [uuid.UUID(org_id)], payload, at=now)
    return row


async def deliveries(client: httpx.AsyncClient, admin: f.Actor, webhook_id: str, **params: str) -> list[Any]:
    r = await client.get(f"{API}/webhooks/{webhook_id}/deliveries", params=params, headers=admin.headers)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items
