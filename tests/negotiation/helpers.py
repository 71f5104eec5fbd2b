"""Steps of negotiation tests: offers and the moves on them, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories as f


async def offer(
    client: httpx.AsyncClient,
    buyer: f.Actor,
    listing_id: str,
    price: str = "450000.00",
    *,
    expect: int = 201,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/listings/{listing_id}/offers",
        json={"price": price, **fields},
        headers={**buyer.headers, **(headers or {})},
    )
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def move(
    client: httpx.AsyncClient,
    actor: f.Actor,
    offer_id: str,
    verb: str,
    json: dict[str, Any] | None = None,
    *,
    expect: int | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """``counter`` / ``accept`` / ``reject`` / ``withdraw``; by default expects success (201 for a counter)."""
    r = await client.post(f"/api/v1/offers/{offer_id}/{verb}", json=json, headers=actor.headers)
    expected = expect if expect is not None else (201 if verb == "counter" else 200)
    assert r.status_code == expected, r.text
    result: dict[str, Any] = r.json()
    if code is not None:
        assert result["code"] == code, result
    return result


async def get_offer(
    client: httpx.AsyncClient, actor: f.Actor, offer_id: str, expect: int = 200
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/offers/{offer_id}", headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def offers_of(
    client: httpx.AsyncClient, actor: f.Actor, listing_id: str, expect: int = 200, **params: Any
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/listings/{listing_id}/offers", params=params, headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def listing(client: httpx.AsyncClient, actor: f.Actor, listing_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/listings/{listing_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def deal(client: httpx.AsyncClient, actor: f.Actor, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/deals/{deal_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result
