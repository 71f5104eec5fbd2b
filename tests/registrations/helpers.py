"""Test steps for registrations: listed and auction listings, registering, reading the stored rows."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.models.trading import Auction, Deal, Registration
from tests import factories as f
from tests.trading import published_listing

PRICE, DEPOSIT = "100000.00", "10000.00"
LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}


async def listed(client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, **overrides: Any) -> dict[str, Any]:
    """A published listed-trading assignment at 100,000 yuan with a 10,000 yuan deposit."""
    values: dict[str, Any] = {"pricing_mode": "listed", "price": PRICE, "deposit": DEPOSIT}
    values.update(overrides)
    return await published_listing(client, op, seller, **values)


async def auction_listing(
    client: httpx.AsyncClient, op: f.Actor, seller: f.Actor, **overrides: Any
) -> dict[str, Any]:
    """A published English-auction listing starting at 100,000 yuan, deposit 10,000 yuan."""
    values: dict[str, Any] = {
        "pricing_mode": "auction",
        "price": PRICE,
        "deposit": DEPOSIT,
        "auction": {"format": "english", "increment": "1000.00"},
    }
    values.update(overrides)
    return await published_listing(client, op, seller, **values)


async def register(
    client: httpx.AsyncClient, actor: f.Actor, listing_id: str, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/listings/{listing_id}/registrations", headers={**actor.headers, **headers}
    )


async def registered(client: httpx.AsyncClient, actor: f.Actor, listing_id: str) -> dict[str, Any]:
    r = await register(client, actor, listing_id)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def act(
    client: httpx.AsyncClient,
    actor: f.Actor,
    registration_id: str,
    verb: str,
    json: dict[str, Any] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/registrations/{registration_id}/{verb}", json=json, headers=actor.headers
    )


async def listing(client: httpx.AsyncClient, listing_id: str, actor: f.Actor | None = None) -> dict[str, Any]:
    r = await client.get(f"/api/v1/listings/{listing_id}", headers=actor.headers if actor else None)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def registration(client: httpx.AsyncClient, actor: f.Actor, registration_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/registrations/{registration_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def auction_row(db: Database, auction_id: str) -> Auction:
    async with db.read() as session:
        auction = await session.get(Auction, uuid.UUID(auction_id))
    assert auction is not None
    return auction


async def deals_of_listing(db: Database, listing_id: str) -> list[Deal]:
    async with db.read() as session:
        return list(
            (await session.scalars(select(Deal).where(Deal.listing_id == uuid.UUID(listing_id)))).all()
        )


async def registration_rows(db: Database, listing_id: str) -> list[Registration]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Registration).where(Registration.listing_id == uuid.UUID(listing_id))
                )
            ).all()
        )
