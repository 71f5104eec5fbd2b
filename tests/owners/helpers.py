"""Test steps for co-ownership (SPEC §18.5): valid resident ID numbers, owners lists, empowerments, consents."""

from __future__ import annotations

from typing import Any

import httpx
from stdnum.cn import ric

from tests import factories as f


def id_number(n: int, *, birth: str = "19900101", region: str = "330106") -> str:
    """A valid 18-character resident ID number, distinct for each n < 1000."""
    body = f"{region}{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def masked(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def org_owner(actor: f.Actor, share: str) -> dict[str, Any]:
    return {"kind": "organization", "organization_id": actor.org_id, "share": share}


def inventor(name: str, number: str, share: str) -> dict[str, Any]:
    return {"kind": "inventor", "name": name, "id_number": number, "share": share}


async def set_owners(
    client: httpx.AsyncClient, actor: f.Actor, patent_id: str, owners: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/patents/{patent_id}/owners", json={"owners": owners}, headers=actor.headers
    )


async def owners_ok(
    client: httpx.AsyncClient, actor: f.Actor, patent_id: str, owners: list[dict[str, Any]]
) -> dict[str, Any]:
    r = await set_owners(client, actor, patent_id, owners)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def consent(
    client: httpx.AsyncClient, actor: f.Actor, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/api/v1/{path}/owner-consents", json=body or {}, headers=actor.headers)


def owner_id(patent: dict[str, Any], number: str) -> str:
    return str(next(o["id"] for o in patent["owners"] if o.get("id_number_masked") == masked(number)))
