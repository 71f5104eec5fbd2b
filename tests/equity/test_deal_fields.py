"""A deal's money and completion fields (SPEC §18.1): ``cash_price`` is the price for a kind paid in money,
``completed_at``, ``trial_id`` and ``equity`` are null for such a deal; the CSV export carries cash_price."""

from __future__ import annotations

import httpx

from tests.settlement import helpers as h


async def test_a_deal_of_a_kind_paid_in_money_shows_its_price_as_cash_price(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.offer_deal(client, db, price="500000.00")
    deal = case.deal
    assert deal["cash_price"] == deal["price"] == "500000.00"
    assert deal["completed_at"] is None and deal["trial_id"] is None and deal["equity"] is None
    r = await client.get("/api/v1/exports/deals.csv", headers=case.op.headers)
    assert r.status_code == 200, r.text
    header, row = r.text.lstrip("\ufeff").split("\r\n")[:2]
    columns = dict(zip(header.split(","), row.split(","), strict=True))
    assert columns["cash_price"] == "500000.00"
