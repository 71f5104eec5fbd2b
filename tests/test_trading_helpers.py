from __future__ import annotations

import httpx

from tests import factories as f
from tests import trading as t


async def test_published_listing_and_clock_helpers(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    listing = await t.published_listing(client, op, uni)
    assert listing["status"] == "published" and listing["listing_ends_at"]
    company = await f.organization(client, verified_by=op)
    await t.fund(client, op, company, "1000.00")
    assert await t.balance(client, company) == {"available": "1000.00", "held": "0.00"}
    before = await t.now(client)
    after = await t.advance_past(client, listing["listing_ends_at"])
    assert after > before and after.isoformat() > listing["listing_ends_at"][:19]
