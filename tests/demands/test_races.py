"""Races on demands: concurrent requests through the ASGI client; on PostgreSQL each has its own connection and
transaction, on SQLite BEGIN IMMEDIATE serialises them. The loser gets its 409, never a 500 or a second effect."""

from __future__ import annotations

import asyncio

import httpx

from app.kit.db import Database
from tests import factories as f
from tests.demands import helpers as h

N = 10


async def test_one_response_per_demand_and_listing_under_a_race(
    client: httpx.AsyncClient, db: Database
) -> None:
    op = await f.operator(client, db)
    buyer = await f.organization(client, verified_by=op)
    seller = await f.organization(client, kind="university", verified_by=op)
    demand = await h.published(client, buyer, op)
    listing = await h.listing(client, db, op, seller)
    results = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/demands/{demand['id']}/responses",
                json={"listing_id": listing["id"], "message": f"第{i}次"},
                headers=seller.headers,
            )
            for i in range(N)
        )
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * (N - 1), [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"already_responded"}
    assert len((await h.get(client, buyer, f"/demands/{demand['id']}/responses"))["items"]) == 1
    assert len(await h.notifications(db, buyer, "demand_response_received")) == 1


async def test_one_decision_per_response_under_a_race(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    buyer = await f.organization(client, verified_by=op)
    seller = await f.organization(client, kind="university", verified_by=op)
    demand = await h.published(client, buyer, op)
    response = await h.respond(client, seller, demand["id"], (await h.listing(client, db, op, seller))["id"])
    results = await asyncio.gather(
        *(
            client.post(f"/api/v1/demand-responses/{response['id']}/{verb}", headers=buyer.headers)
            for verb in ["accept", "decline"] * (N // 2)
        )
    )
    assert sorted(r.status_code for r in results) == [200] + [409] * (N - 1), [r.text for r in results]
    decided = next(r.json()["status"] for r in results if r.status_code == 200)
    expected = 1 if decided == "accepted" else 0
    assert len(await h.notifications(db, seller, "demand_response_accepted")) == expected
