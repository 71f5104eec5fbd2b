"""Technology-contract registration (SPEC §18.7): the seller files a settled or completed deal's contract under
the category its kind fits, operators register or reject it, the seller files anew after a rejection; both
parties and operators read it, anyone else gets 404; every move is audited on the filing's own chain."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import trading as t
from tests.invariants import assert_invariants
from tests.settlement import helpers as h
from tests.techcontracts import helpers as tc

API = tc.API


async def _today(client: httpx.AsyncClient) -> str:
    return (await t.now(client)).astimezone(SHANGHAI).date().isoformat()


async def test_the_seller_files_an_operator_registers_and_both_parties_read_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await tc.settled_deal(client, db, price="500000.00")
    r = await tc.file(client, case.seller, case.id, technology_amount="450000.00")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {
        "id": body["id"],
        "deal_id": case.id,
        "category": "technology_transfer",
        "contract_amount": "500000.00",
        "technology_amount": "450000.00",
        "status": "filed",
        "registration_number": None,
        "registered_on": None,
        "rejection_reason": None,
    }
    for reader in (case.seller, case.buyer, case.op):
        r = await client.get(f"{API}/tech-contract-registrations/{body['id']}", headers=reader.headers)
        assert (r.status_code, r.json()) == (200, body)
        r = await client.get(f"{API}/deals/{case.id}/tech-contract-registration", headers=reader.headers)
        assert (r.status_code, r.json()) == (200, body)
    for path in (f"tech-contract-registrations/{body['id']}", f"deals/{case.id}/tech-contract-registration"):
        r = await client.get(f"{API}/{path}", headers=case.outsider.headers)
        assert tc.code_of(r) == (404, "not_found")
        assert (await client.get(f"{API}/{path}")).status_code == 401

    r = await tc.register(client, case.op, body["id"], registration_number="2026330100000123")
    assert r.status_code == 200, r.text
    assert r.json() == {
        **body,
        "status": "registered",
        "registration_number": "2026330100000123",
        "registered_on": await _today(client),
    }

    # The chain: filed, registered; both parties read it, an outsider does not.
    params = {"entity_type": "tech_contract_registration", "entity_id": body["id"]}
    for reader in (case.seller, case.buyer, case.op):
        r = await client.get(f"{API}/audit-events", params=params, headers=reader.headers)
        assert r.status_code == 200, r.text
        assert [e["action"] for e in r.json()["items"]] == ["filed", "registered"]
    filed_event, registered_event = r.json()["items"]
    facts = {"deal_id": case.id, "category": "technology_transfer", "registration_number": None}
    assert filed_event["data"] == {
        **facts,
        "status": "filed",
        "contract_amount": 50_000_000,
        "technology_amount": 45_000_000,
        "previous_id": None,
    }
    assert registered_event["data"] == {
        **facts,
        "status": "registered",
        "registration_number": "2026330100000123",
        "registered_on": await _today(client),
    }
    r = await client.get(f"{API}/audit-events", params=params, headers=case.outsider.headers)
    assert r.status_code == 404
    r = await client.get(f"{API}/audit-events/verify", headers=case.op.headers)
    assert r.json()["ok"] is True
    await assert_invariants(db)


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("assignment", "technology_transfer"),
        ("exclusive_license", "technology_licensing"),
        ("sole_license", "technology_licensing"),
        ("nonexclusive_license", "technology_licensing"),
    ],
)
async def test_the_category_is_the_one_the_deal_kind_fits(
    client: httpx.AsyncClient, db: Database, kind: str, category: str
) -> None:
    case = await tc.settled_deal(client, db, kind=kind, price="300000.00")
    others = [
        "technology_development",
        "technology_transfer",
        "technology_licensing",
        "technology_consulting",
        "technology_service",
        "patent_sale",
        "",
    ]
    for wrong in (c for c in others if c != category):
        r = await tc.file(client, case.seller, case.id, category=wrong, technology_amount="1.00")
        assert tc.code_of(r) == (422, "invalid_contract_category"), (wrong, r.text)
        assert r.json()["errors"][0]["loc"] == ["body", "category"]
    r = await tc.file(client, case.seller, case.id, category=category, technology_amount="1.00")
    assert r.status_code == 201, r.text
    assert r.json()["category"] == category


async def test_the_technology_amount_is_above_zero_and_at_most_the_contract_amount(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await tc.settled_deal(client, db, price="200000.00")
    for amount in ("0.00", "200000.01", "-1.00", "1.5", 100):
        r = await tc.file(client, case.seller, case.id, technology_amount=amount)  # type: ignore[arg-type]
        assert tc.code_of(r) == (422, "validation_error"), (amount, r.text)
        assert r.json()["errors"][0]["loc"][-1] == "technology_amount", r.text
    r = await tc.file(client, case.seller, case.id, technology_amount="200000.00")
    assert r.status_code == 201, r.text
    assert r.json()["technology_amount"] == r.json()["contract_amount"] == "200000.00"


async def test_only_a_settled_or_completed_deal_is_filed(client: httpx.AsyncClient, db: Database) -> None:
    case = await h.offer_deal(client, db)
    assert tc.code_of(await tc.file(client, case.seller, case.id)) == (409, "invalid_state")  # signing
    await h.paid(client, db, case)
    assert tc.code_of(await tc.file(client, case.seller, case.id)) == (409, "invalid_state")  # paid
    for status in ("cancelled", "defaulted"):
        await tc.set_deal_status(db, case.id, status)
        assert tc.code_of(await tc.file(client, case.seller, case.id)) == (409, "invalid_state")
    await tc.set_deal_status(db, case.id, "completed")  # SPEC §18.1: completed counts as settled
    r = await tc.file(client, case.seller, case.id)
    assert r.status_code == 201, r.text
    # Nothing was filed by the refused calls: the filing's chain is the only one, with one event.
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "tech_contract_registration"},
        headers=case.op.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["filed"]


async def test_only_the_seller_files(client: httpx.AsyncClient, db: Database) -> None:
    case = await tc.settled_deal(client, db)
    assert tc.code_of(await tc.file(client, case.buyer, case.id)) == (403, "forbidden")
    assert tc.code_of(await tc.file(client, case.op, case.id)) == (403, "forbidden")
    assert tc.code_of(await tc.file(client, case.outsider, case.id)) == (404, "not_found")
    r = await client.post(
        f"{API}/deals/{case.id}/tech-contract-registration",
        json={"category": "technology_transfer", "technology_amount": "1.00"},
    )
    assert r.status_code == 401
    r = await client.get(f"{API}/deals/{case.id}/tech-contract-registration", headers=case.seller.headers)
    assert tc.code_of(r) == (404, "not_found")  # never filed


async def test_a_contract_is_filed_anew_only_after_a_rejection(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await tc.settled_deal(client, db)
    first = await tc.filed(client, case.seller, case.id)
    assert tc.code_of(await tc.file(client, case.seller, case.id)) == (409, "invalid_state")  # filed
    r = await tc.reject(client, case.op, first["id"], reason="技术交易额计算有误")
    assert r.status_code == 200, r.text
    assert r.json() == {**first, "status": "rejected", "rejection_reason": "技术交易额计算有误"}

    second = await tc.filed(client, case.seller, case.id, technology_amount="300000.00")
    assert second["id"] != first["id"] and second["status"] == "filed"
    r = await client.get(f"{API}/deals/{case.id}/tech-contract-registration", headers=case.buyer.headers)
    assert r.json() == second  # the latest filing
    r = await client.get(f"{API}/tech-contract-registrations/{first['id']}", headers=case.buyer.headers)
    assert r.json()["status"] == "rejected"  # the earlier one stays as it was

    assert (await tc.register(client, case.op, second["id"])).status_code == 200
    assert tc.code_of(await tc.file(client, case.seller, case.id)) == (409, "invalid_state")  # registered


async def test_operators_register_or_reject_a_filed_contract_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await tc.settled_deal(client, db)
    item = await tc.filed(client, case.seller, case.id)
    for party in (case.seller, case.buyer, case.outsider):
        assert tc.code_of(await tc.register(client, party, item["id"])) == (403, "forbidden")
        assert tc.code_of(await tc.reject(client, party, item["id"])) == (403, "forbidden")
    missing = "00000000-0000-4000-8000-000000000000"
    assert tc.code_of(await tc.register(client, case.op, missing)) == (404, "not_found")
    assert tc.code_of(await tc.reject(client, case.op, missing)) == (404, "not_found")

    today = (await t.now(client)).astimezone(SHANGHAI).date()
    for bad in (
        {"registration_number": ""},
        {"registration_number": "   "},
        {"registration_number": "1" * 33},
        {"registration_number": "X1", "registered_on": (today + timedelta(days=1)).isoformat()},
        {"registration_number": "X1", "registered_on": "2026-02-30"},
        {"registration_number": "X1", "registered_on": None},
        {"registration_number": "X1", "extra": 1},
    ):
        r = await client.post(
            f"{API}/tech-contract-registrations/{item['id']}/register", json=bad, headers=case.op.headers
        )
        assert r.status_code == 422, (bad, r.text)
    r = await client.post(
        f"{API}/tech-contract-registrations/{item['id']}/reject", json={"reason": ""}, headers=case.op.headers
    )
    assert r.status_code == 422, r.text

    earlier = (today - timedelta(days=3)).isoformat()
    r = await tc.register(client, case.op, item["id"], registration_number="1" * 32, registered_on=earlier)
    assert r.status_code == 200, r.text
    assert (r.json()["registration_number"], r.json()["registered_on"]) == ("1" * 32, earlier)
    assert tc.code_of(await tc.register(client, case.op, item["id"])) == (409, "invalid_state")
    assert tc.code_of(await tc.reject(client, case.op, item["id"])) == (409, "invalid_state")

    other = await tc.settled_deal(client, db, actors=(case.op, case.seller, case.buyer, case.outsider))
    rejected = await tc.filed(client, case.seller, other.id)
    assert (await tc.reject(client, case.op, rejected["id"])).status_code == 200
    assert tc.code_of(await tc.register(client, case.op, rejected["id"])) == (409, "invalid_state")
    assert tc.code_of(await tc.reject(client, case.op, rejected["id"])) == (409, "invalid_state")


async def test_idempotency_keys_replay_filings_and_decisions(client: httpx.AsyncClient, db: Database) -> None:
    case = await tc.settled_deal(client, db)
    first = await tc.file(client, case.seller, case.id, **{"Idempotency-Key": "file-1"})
    again = await tc.file(client, case.seller, case.id, **{"Idempotency-Key": "file-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await tc.file(
        client, case.seller, case.id, technology_amount="1.00", **{"Idempotency-Key": "file-1"}
    )
    assert tc.code_of(other) == (422, "idempotency_key_reused")

    path = f"{API}/tech-contract-registrations/{first.json()['id']}/register"
    headers = {**case.op.headers, "Idempotency-Key": "register-1"}
    a = await client.post(path, json={"registration_number": "R-1"}, headers=headers)
    b = await client.post(path, json={"registration_number": "R-1"}, headers=headers)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    assert b.headers["Idempotent-Replayed"] == "true"
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "tech_contract_registration", "entity_id": first.json()["id"]},
        headers=case.op.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["filed", "registered"]


async def test_two_filings_of_one_deal_at_once_make_one(client: httpx.AsyncClient, db: Database) -> None:
    case = await tc.settled_deal(client, db)
    answers = await asyncio.gather(*(tc.file(client, case.seller, case.id) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
    assert {tc.code_of(r) for r in answers if r.status_code == 409} == {(409, "invalid_state")}
    r = await client.get(
        f"{API}/audit-events", params={"entity_type": "tech_contract_registration"}, headers=case.op.headers
    )
    assert [e["action"] for e in r.json()["items"]] == ["filed"]


async def test_an_equity_contribution_is_registered_as_a_technology_transfer(
    client: httpx.AsyncClient, db: Database
) -> None:
    """SPEC §18.7: an equity contribution (§18.2) transfers the technology; its contract amount is the price,
    the agreed value, though no price money moves."""
    case = await tc.settled_deal(client, db, price="800000.00")
    await tc.set_deal_kind(db, case.id, "equity_contribution")
    r = await tc.file(client, case.seller, case.id, category="technology_licensing", technology_amount="1.00")
    assert tc.code_of(r) == (422, "invalid_contract_category")
    item = await tc.filed(client, case.seller, case.id, technology_amount="800000.00")
    assert (item["category"], item["contract_amount"]) == ("technology_transfer", "800000.00")
