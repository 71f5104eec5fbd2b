"""Shared steps of the trial-licence tests (SPEC §18.3)."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories as f
from tests.licensing import helpers as lh

API = "/api/v1"


def offer_body(patent_id: str, **overrides: Any) -> dict[str, Any]:
    """A non-exclusive 12-month trial converting to a lump-sum licence of 36 months, unless ``overrides``."""
    body: dict[str, Any] = {
        "patent_id": patent_id,
        "trial_months": 12,
        "territory": "中国大陆",
        "field_of_use": "锂电池隔膜的生产",
        "conversion": {"type": "lump_sum", "lump_sum": "200000.00", "term_months": 36},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def create_offer(
    client: httpx.AsyncClient, owner: f.Actor, patent_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    if patent_id is None:
        patent_id = (await lh.patent(client, owner))["id"]
    r = await client.post(
        f"{API}/trial-offers", json=offer_body(patent_id, **overrides), headers=owner.headers
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def offered(
    client: httpx.AsyncClient, op: f.Actor, owner: f.Actor, patent_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """An ``offered`` trial offer of ``owner`` (a new patent unless ``patent_id``)."""
    offer = await create_offer(client, owner, patent_id, **overrides)
    r = await client.post(f"{API}/trial-offers/{offer['id']}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def make_sme(
    client: httpx.AsyncClient, op: f.Actor, company: f.Actor, sme: bool = True
) -> dict[str, Any]:
    r = await client.post(f"{API}/organizations/{company.org_id}/sme", json={"sme": sme}, headers=op.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def start(client: httpx.AsyncClient, company: f.Actor, offer_id: str) -> httpx.Response:
    return await client.post(f"{API}/trial-offers/{offer_id}/trials", json={}, headers=company.headers)


async def started(client: httpx.AsyncClient, company: f.Actor, offer_id: str) -> dict[str, Any]:
    r = await start(client, company, offer_id)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result
