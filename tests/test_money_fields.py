"""SPEC §20: an amount matches ``^[0-9]{1,12}\\.[0-9]{2}$`` over the whole string (ASCII digits, no trailing
newline, no spaces, below one trillion yuan), else 422 naming the field — on every route that takes money —
and the OpenAPI document shows that pattern on every money input, so a generated client knows it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.kit.money import AMOUNT_PATTERN
from app.main import create_app
from tests import factories as f
from tests import trading as t
from tests.conftest import make_settings
from tests.invariants import assert_invariants

BAD = ["1.00\n", "\u0661.00", "\uff11.00", " 1.00", "1.00 ", "1000000000000.00", "-1.00", "1.0", "1.000", "1"]
PATTERN = r"^[0-9]{1,12}\.[0-9]{2}$"


def _assert_refused(r: httpx.Response, field: str, value: str) -> None:
    assert r.status_code == 422, (value, r.text)
    body = r.json()
    assert body["code"] == "validation_error", body
    assert field in [e["loc"][-1] for e in body["errors"]] or any(
        field in e["loc"] for e in body["errors"]
    ), body


@pytest.mark.parametrize("value", BAD)
async def test_money_routes_refuse_malformed_amounts(client: httpx.AsyncClient, db, value: str) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    await t.fund(client, op, company, "100.00", reference="MONEY-FIELDS-FUND")

    r = await client.post(
        "/api/v1/ledger/payments",
        json={"organization_id": company.org_id, "amount": value, "bank_reference": "MONEY-FIELDS-1"},
        headers=op.headers,
    )
    _assert_refused(r, "amount", value)
    r = await client.post("/api/v1/ledger/withdrawals", json={"amount": value}, headers=company.headers)
    _assert_refused(r, "amount", value)

    patent = await f.patent(client, company)
    listing: dict[str, Any] = {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "高孔隙率隔膜。",
        "patent_ids": [patent["id"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": value,
    }
    r = await client.post("/api/v1/listings", json=listing, headers=company.headers)
    _assert_refused(r, "price", value)
    r = await client.get("/api/v1/listings", params={"min_price": value})
    _assert_refused(r, "min_price", value)

    # Nothing moved: only the first payment is on the books.
    assert await t.balance(client, company) == {"available": "100.00", "held": "0.00"}
    await assert_invariants(db)


async def test_a_well_formed_amount_is_accepted_on_the_same_routes(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    r = await client.post(
        "/api/v1/ledger/payments",
        json={"organization_id": company.org_id, "amount": "999999999999.99", "bank_reference": "MAX-1"},
        headers=op.headers,
    )
    assert r.status_code == 201 and r.json()["amount"] == "999999999999.99", r.text
    r = await client.get("/api/v1/listings", params={"min_price": "0.00", "max_price": "999999999999.99"})
    assert r.status_code == 200, r.text
    await assert_invariants(db)


def test_openapi_money_inputs_carry_the_pattern() -> None:
    assert AMOUNT_PATTERN.pattern == PATTERN
    app = create_app(make_settings("sqlite+aiosqlite:////nonexistent/openapi-only.db"))
    doc = app.openapi()
    schemas = doc["components"]["schemas"]

    def pattern_of(schema: dict[str, Any]) -> str | None:
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("type") == "string" and "pattern" in option:
                return str(option["pattern"])
        return None

    money_inputs = {
        "PaymentCreate": ["amount"],
        "WithdrawalCreate": ["amount"],
        "BidCreate": ["amount"],
        "OfferCreate": ["price"],
        "ListingCreate": ["price", "deposit"],
        "ListingUpdate": ["price", "deposit"],
        "AuctionTermsIn": ["increment", "reserve_price", "decrement", "floor_price"],
        "OpenLicenseCreate": ["lump_sum"],
        "PledgeCreate": ["amount"],
        "AllocationIn": ["amount"],
        "RewardPlanIn": ["costs"],
    }
    for model, fields in money_inputs.items():
        for field in fields:
            assert pattern_of(schemas[model]["properties"][field]) == PATTERN, (model, field)
    params = {p["name"]: p for p in doc["paths"]["/api/v1/listings"]["get"]["parameters"]}
    for name in ("min_price", "max_price"):
        assert pattern_of(params[name]["schema"]) == PATTERN, name
