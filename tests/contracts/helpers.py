"""Test steps for contracts and public notices: deals made over HTTP, signing, objections."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import factories as f
from tests import trading as t
from tests.world import World, build, org

LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}


@pytest.fixture
async def world(client: httpx.AsyncClient, db) -> World:  # type: ignore[no-untyped-def]
    """``uni``: a public-institution seller (its offer deals go through public notice); ``company``: an
    enterprise seller (its deals go straight to signing); ``outsider``: verified, no part in the deal."""
    return await build(
        client,
        db,
        uni=org("university", name="浙江测试大学"),
        company=org(name="杭州卖方科技有限公司"),
        buyer=org(name="宁波买方新能源有限公司"),
        outsider=org(),
        unverified=org(verified=False),
    )


async def get(client: httpx.AsyncClient, url: str, actor: f.Actor | None = None, expect: int = 200) -> Any:
    r = await client.get(url, headers=actor.headers if actor else None)
    assert r.status_code == expect, r.text
    return r.json()


async def post(
    client: httpx.AsyncClient,
    url: str,
    actor: f.Actor,
    json: dict[str, Any] | None = None,
    *,
    expect: int = 200,
    code: str | None = None,
) -> Any:
    r = await client.post(url, json=json, headers=actor.headers)
    assert r.status_code == expect, r.text
    body = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


async def offer_deal(
    client: httpx.AsyncClient,
    world: World,
    seller: f.Actor,
    *,
    price: str = "1000000.00",
    patents: int = 1,
    **listing: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A negotiated listing of ``seller`` and the buyer's accepted offer: (listing, deal)."""
    published = await t.published_listing(client, world.op, seller, patents=patents, **listing)
    offer = await post(
        client,
        f"/api/v1/listings/{published['id']}/offers",
        world.buyer,
        {"price": price},
        expect=201,
    )
    accepted = await post(client, f"/api/v1/offers/{offer['id']}/accept", seller)
    deal = await get(client, f"/api/v1/deals/{accepted['deal_id']}", world.buyer)
    return published, deal


async def listed_deal(
    client: httpx.AsyncClient, world: World, *, price: str = "100000.00", deposit: str = "10000.00"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A listed-trading listing of the enterprise seller with one registrant (the buyer, deposit held):
    at the end of the listing period a deal at the listed price."""
    await t.fund(client, world.op, world.buyer, deposit)
    listing = await t.published_listing(
        client, world.op, world.company, pricing_mode="listed", price=price, deposit=deposit
    )
    await post(client, f"/api/v1/listings/{listing['id']}/registrations", world.buyer, expect=201)
    await t.advance_past(client, listing["listing_ends_at"])
    deals = (await get(client, "/api/v1/deals?role=buyer", world.buyer))["items"]
    (deal,) = [d for d in deals if d["listing_id"] == listing["id"]]
    return listing, deal


async def contract(client: httpx.AsyncClient, actor: f.Actor, contract_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await get(client, f"/api/v1/contracts/{contract_id}", actor)
    return result


async def sign(
    client: httpx.AsyncClient,
    actor: f.Actor,
    contract_id: str,
    sha256: str | None = None,
    *,
    expect: int = 200,
    code: str | None = None,
) -> dict[str, Any]:
    if sha256 is None:
        sha256 = (await contract(client, actor, contract_id))["sha256"]
    result: dict[str, Any] = await post(
        client, f"/api/v1/contracts/{contract_id}/sign", actor, {"sha256": sha256}, expect=expect, code=code
    )
    return result


async def listing_status(client: httpx.AsyncClient, listing_id: str) -> str:
    status: str = (await get(client, f"/api/v1/listings/{listing_id}"))["status"]
    return status


async def balance(client: httpx.AsyncClient, org: f.Actor) -> dict[str, str]:
    return await t.balance(client, org)
