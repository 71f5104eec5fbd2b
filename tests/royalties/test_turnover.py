"""Settled royalties in turnover (SPEC §18.4): a settled report adds its royalty to ``amount`` in the Shanghai
month of its settlement, grouped by its licence record's keys; items gain ``royalties``; ``deals`` is unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import trading as t
from tests.invariants import assert_invariants
from tests.royalties import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), company=org(funds="100000.00"))


async def _turnover(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/stats/turnover", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_settled_royalties_count_in_the_month_of_settlement(
    client: httpx.AsyncClient, db, world
) -> None:
    op, uni, company = world
    taken_on = h.shanghai_day(await t.now(client))
    case = await h.royalty_licence(client, db, op, uni, company)  # royalty only: a deal at 0.00
    report = await h.first_report(client, case)
    assert (await h.file(client, company, report["id"], "20000.00")).status_code == 200  # royalty 1,000.00
    assert (await h.pay(client, company, report["id"])).status_code == 200
    # Paid, not settled: not counted yet.
    taken = f"{taken_on.year:04d}-{taken_on.month:02d}"
    assert await _turnover(client) == [{"key": taken, "deals": 1, "amount": "0.00", "royalties": "0.00"}]
    assert (await h.settle(client, op, report["id"])).status_code == 200
    settled_on = h.shanghai_day(await t.now(client))
    month = f"{settled_on.year:04d}-{settled_on.month:02d}"
    assert month != taken
    assert await _turnover(client) == [
        {"key": taken, "deals": 1, "amount": "0.00", "royalties": "0.00"},
        {"key": month, "deals": 0, "amount": "1000.00", "royalties": "1000.00"},
    ]
    one = [{"deals": 1, "amount": "1000.00", "royalties": "1000.00"}]
    assert [
        {k: v for k, v in x.items() if k != "key"}
        for x in await _turnover(client, group_by="transaction_kind")
    ] == one
    assert await _turnover(client, group_by="transaction_kind") == [{"key": "nonexclusive_license", **one[0]}]
    assert await _turnover(client, group_by="pricing_mode") == [{"key": "open_license", **one[0]}]
    assert await _turnover(client, group_by="seller_kind") == [{"key": "university", **one[0]}]
    # The range is of settlement days.
    assert await _turnover(client, **{"from": settled_on.isoformat()}) == [
        {"key": month, "deals": 0, "amount": "1000.00", "royalties": "1000.00"}
    ]
    assert await _turnover(client, to=taken_on.isoformat()) == [
        {"key": taken, "deals": 1, "amount": "0.00", "royalties": "0.00"}
    ]
    # Registered technology contracts are another measure: no royalties there.
    r = await client.get("/api/v1/stats/turnover", params={"measure": "registered"})
    assert r.status_code == 200 and r.json()["items"] == []
    await assert_invariants(db)
