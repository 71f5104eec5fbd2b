"""Reading an organization's inbox over HTTP (SPEC §17.4), for any test that checks what was notified."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from tests import factories as f

API = "/api/v1"


async def inbox_page(
    client: httpx.AsyncClient, actor: f.Actor, *, expect: int = 200, **params: Any
) -> dict[str, Any]:
    """One page of ``GET /notifications`` as ``actor`` (``unread``, ``kind``, ``limit``, ``cursor``)."""
    query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
    r = await client.get(f"{API}/notifications", params=query, headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def inbox(
    client: httpx.AsyncClient, actor: f.Actor, kind: str | None = None, *, unread: bool | None = None
) -> list[dict[str, Any]]:
    """Every notification of ``actor``'s organization (of ``kind``), newest first, following the cursors."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await inbox_page(client, actor, kind=kind, unread=unread, limit=100, cursor=cursor)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def received(
    client: httpx.AsyncClient, actors: Iterable[f.Actor], kind: str
) -> dict[str, list[dict[str, Any]]]:
    """``{organization id: [data of each notification of kind]}`` for the organizations that got any: who was
    told, how often, and what."""
    out: dict[str, list[dict[str, Any]]] = {}
    for actor in actors:
        assert actor.org_id is not None
        data = [n["data"] for n in await inbox(client, actor, kind)]
        if data:
            out[actor.org_id] = data
    return out


async def member(client: httpx.AsyncClient, admin: f.Actor, email: str) -> f.Actor:
    """A second user (role ``member``) of ``admin``'s organization, signed in."""
    r = await client.post(
        f"{API}/organizations/{admin.org_id}/members",
        json={"email": email, "password": f.PASSWORD, "name": "成员", "role": "member"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return f.Actor(id=r.json()["id"], email=email, org_id=admin.org_id, headers=await f.login(client, email))
