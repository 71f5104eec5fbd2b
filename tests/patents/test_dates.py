"""Dates a patent may carry (SPEC §20): a ``filing_date`` or ``grant_date`` later than the business clock's today
(Asia/Shanghai) or before 1900-01-01, or an ``annual_fee_paid_until`` outside 1900-01-01 … 2199-12-31, is a 422
naming the field, on creation and on edit — never a 500 from the expiry date overflowing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import factories as f
from tests import trading as t

BASE = "/api/v1/patents"


async def _today(client: httpx.AsyncClient) -> date:
    return (await t.now(client)).astimezone(SHANGHAI).date()


def _body(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "application_number": f.application_number(900_000 + n),
        "title": "一种测试方法",
        "filing_date": "2020-03-15",
        **fields,
    }


def _assert_names(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert ["body", field] in [e["loc"] for e in r.json()["errors"]], r.text


async def test_create_refuses_dates_out_of_range(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, verified_by=op)
    today = await _today(client)
    tomorrow = (today + timedelta(days=1)).isoformat()
    cases = [
        ({"filing_date": "9999-12-31"}, "filing_date"),
        ({"filing_date": tomorrow}, "filing_date"),
        ({"filing_date": "1899-12-31"}, "filing_date"),
        ({"filing_date": "0001-01-01"}, "filing_date"),
        ({"grant_date": tomorrow}, "grant_date"),
        ({"grant_date": "9999-12-31"}, "grant_date"),
        ({"annual_fee_paid_until": "2200-01-01"}, "annual_fee_paid_until"),
        ({"annual_fee_paid_until": "9999-12-31"}, "annual_fee_paid_until"),
        ({"annual_fee_paid_until": "1899-12-31"}, "annual_fee_paid_until"),
    ]
    for n, (fields, field) in enumerate(cases):
        _assert_names(await client.post(BASE, json=_body(n, **fields), headers=owner.headers), field)
    r = await client.get(BASE, headers=owner.headers)
    assert r.json()["items"] == []

    # The bounds themselves are accepted: filed and granted today, fees paid until 2199-12-31.
    r = await client.post(
        BASE,
        json=_body(
            100,
            filing_date=today.isoformat(),
            grant_date=today.isoformat(),
            annual_fee_paid_until="2199-12-31",
        ),
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(BASE, json=_body(101, filing_date="1900-01-01"), headers=owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["expires_on"] == "1920-01-01" and r.json()["legal_status"] == "expired"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"grant_date": "TOMORROW"}, "grant_date"),
        ({"grant_date": "9999-12-31"}, "grant_date"),
        ({"annual_fee_paid_until": "9999-12-31"}, "annual_fee_paid_until"),
        ({"annual_fee_paid_until": "1899-12-31"}, "annual_fee_paid_until"),
    ],
)
async def test_edit_refuses_dates_out_of_range(
    client: httpx.AsyncClient, db: Database, fields: dict[str, str], field: str
) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, verified_by=op)
    p = await f.patent(client, owner, grant_date=None)
    tomorrow = (await _today(client) + timedelta(days=1)).isoformat()
    body = {k: tomorrow if v == "TOMORROW" else v for k, v in fields.items()}
    _assert_names(await client.patch(f"{BASE}/{p['id']}", json=body, headers=owner.headers), field)
    r = await client.get(f"{BASE}/{p['id']}", headers=owner.headers)
    assert r.json()["grant_date"] is None and r.json()["annual_fee_paid_until"] is None
