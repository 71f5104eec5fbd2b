from __future__ import annotations

import httpx

from app.demo import OPERATOR_EMAIL, PASSWORD, seed_demo
from tests import factories as f
from tests.invariants import assert_invariants


async def test_demo_data_covers_every_pricing_mode_and_loads_once(client: httpx.AsyncClient, db) -> None:
    await seed_demo(db, only_if_empty=True)
    await seed_demo(db, only_if_empty=True)  # a second start changes nothing
    listings = (await client.get("/api/v1/listings")).json()["items"]
    assert sorted(x["pricing_mode"] for x in listings) == ["auction", "listed", "negotiated"]
    assert all(x["status"] == "published" for x in listings)
    auction = next(x for x in listings if x["pricing_mode"] == "auction")
    assert auction["auction_id"] and "1200000" not in str(auction)  # the reserve price never shows

    op = await f.login(client, OPERATOR_EMAIL, PASSWORD)
    orgs = (await client.get("/api/v1/organizations", headers=op)).json()["items"]
    assert len(orgs) == 3 and all(o["status"] == "verified" for o in orgs)
    buyer = await f.login(client, "buyer1@company.example.cn", PASSWORD)
    me = (await client.get("/api/v1/me", headers=buyer)).json()
    account = (
        await client.get(f"/api/v1/organizations/{me['organization_id']}/account", headers=buyer)
    ).json()
    assert account == {"available": "2000000.00", "held": "0.00"}
    await assert_invariants(db)
