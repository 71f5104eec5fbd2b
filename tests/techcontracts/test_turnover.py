"""Turnover of registered technology contracts (SPEC §18.7): ``GET /stats/turnover?measure=registered`` counts
registered contracts only, by ``registered_on`` (``from``, ``to`` and month keys); ``amount`` sums
``contract_amount`` and items add ``technology_amount``. The default measure (``all``) is unchanged."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import trading as t
from tests.settlement import helpers as h
from tests.techcontracts import helpers as tc


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


async def _turnover(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    r = await client.get("/api/v1/stats/turnover", params=params)  # public
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_registered_contracts_by_day_of_registration(client: httpx.AsyncClient, db: Database) -> None:
    actors = await h.parties(client, db)
    op, seller = actors[0], actors[1]
    early = await tc.settled_deal(client, db, price="500000.00", actors=actors)
    licence = await tc.settled_deal(client, db, kind="exclusive_license", price="200000.00", actors=actors)
    only_filed = await tc.settled_deal(client, db, price="300000.00", actors=actors)
    rejected = await tc.settled_deal(client, db, price="100000.00", actors=actors)
    unfiled = await tc.settled_deal(client, db, price="70000.00", actors=actors)
    assert unfiled.deal["status"] == "settled"

    today = (await t.now(client)).astimezone(SHANGHAI).date()
    before = today - timedelta(days=40)  # always another month
    item = await tc.filed(client, seller, early.id, technology_amount="400000.00")
    r = await tc.register(client, op, item["id"], registration_number="A-1", registered_on=before.isoformat())
    assert r.status_code == 200, r.text
    item = await tc.filed(
        client, seller, licence.id, category="technology_licensing", technology_amount="150000.00"
    )
    assert (await tc.register(client, op, item["id"], registration_number="B-1")).status_code == 200
    await tc.filed(client, seller, only_filed.id, technology_amount="1.00")
    item = await tc.filed(client, seller, rejected.id, technology_amount="1.00")
    assert (await tc.reject(client, op, item["id"])).status_code == 200

    by_month = await _turnover(client, measure="registered")
    assert by_month["measure"] == "registered"
    assert by_month["items"] == [
        {"key": _month(before), "deals": 1, "amount": "500000.00", "technology_amount": "400000.00"},
        {"key": _month(today), "deals": 1, "amount": "200000.00", "technology_amount": "150000.00"},
    ]
    assert (await _turnover(client, measure="registered", group_by="month")) == by_month

    since_today = await _turnover(client, measure="registered", **{"from": today.isoformat()})
    assert [i["key"] for i in since_today["items"]] == [_month(today)]
    until_before = await _turnover(client, measure="registered", to=before.isoformat())
    assert [i["amount"] for i in until_before["items"]] == ["500000.00"]
    between = await _turnover(
        client,
        measure="registered",
        **{"from": (before + timedelta(days=1)).isoformat(), "to": (today - timedelta(days=1)).isoformat()},
    )
    assert between["items"] == []

    assert (await _turnover(client, measure="registered", group_by="transaction_kind"))["items"] == [
        {"key": "assignment", "deals": 1, "amount": "500000.00", "technology_amount": "400000.00"},
        {"key": "exclusive_license", "deals": 1, "amount": "200000.00", "technology_amount": "150000.00"},
    ]
    both = {"deals": 2, "amount": "700000.00", "technology_amount": "550000.00"}
    assert (await _turnover(client, measure="registered", group_by="pricing_mode"))["items"] == [
        {"key": "negotiated", **both}
    ]
    assert (await _turnover(client, measure="registered", group_by="seller_kind"))["items"] == [
        {"key": "enterprise", **both}
    ]

    # The default measure still counts every settled deal by its settlement, without technology amounts.
    default = await _turnover(client)
    assert default["measure"] == "all"
    assert default == await _turnover(client, measure="all")
    assert sum(i["deals"] for i in default["items"]) == 5
    assert all(set(i) == {"key", "deals", "amount", "royalties"} for i in default["items"])


async def test_the_measure_is_all_or_registered(client: httpx.AsyncClient, db: Database) -> None:
    for value in ("settled", "", "REGISTERED"):
        r = await client.get("/api/v1/stats/turnover", params={"measure": value})
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["errors"]] == [["query", "measure"]]
    r = await client.get(
        "/api/v1/stats/turnover", params={"measure": "registered", "from": "2026-12-02", "to": "2026-12-01"}
    )
    assert r.status_code == 422, r.text
    assert (await _turnover(client, measure="registered"))["items"] == []
