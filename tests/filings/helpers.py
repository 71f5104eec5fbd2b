"""Test steps for the filing workflow (SPEC §18.6): settled deals through the public API, their transfer task
or licence record, and the filing moves."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import factories as f
from tests import trading as t
from tests.settlement import helpers as h

API = "/api/v1"


async def settled(client: httpx.AsyncClient, db: Database, *, kind: str = "assignment") -> h.DealCase:
    """A negotiated deal of an enterprise seller, signed, paid and settled through the API."""
    case = await h.offer_deal(client, db, kind=kind)
    await h.settled(client, db, case)
    return case


async def task_of(client: httpx.AsyncClient, case: h.DealCase) -> dict[str, Any]:
    r = await client.get(f"{API}/transfer-tasks", params={"deal_id": case.id}, headers=case.op.headers)
    assert r.status_code == 200, r.text
    (task,) = r.json()["items"]
    return dict(task)


async def licence_of(client: httpx.AsyncClient, case: h.DealCase) -> dict[str, Any]:
    r = await client.get(f"{API}/licence-records", params={"deal_id": case.id}, headers=case.op.headers)
    assert r.status_code == 200, r.text
    (licence,) = r.json()["items"]
    return dict(licence)


async def post(
    client: httpx.AsyncClient, actor: f.Actor, path: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(f"{API}/{path}", json=body, headers={**actor.headers, **headers})


def code_of(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, r.json().get("code")


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


async def today(client: httpx.AsyncClient) -> date:
    return shanghai_day(await t.now(client))


async def chain(client: httpx.AsyncClient, actor: f.Actor, entity_type: str, entity_id: str) -> list[str]:
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": entity_type, "entity_id": entity_id},
        headers=actor.headers,
    )
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]
