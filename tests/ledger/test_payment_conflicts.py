"""SPEC §20 "State and money": a known ``bank_reference`` with other terms (organization or amount) is 409
``payment_conflict``; the same terms replay the first payment (200)."""

from __future__ import annotations

import asyncio

import httpx

from tests import factories as f
from tests.invariants import assert_invariants
from tests.ledger.test_ledger import account, pay


async def test_known_reference_with_other_terms_is_a_conflict(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    other = await f.organization(client, verified_by=op)
    assert company.org_id and other.org_id
    r = await pay(client, op, company.org_id, "300000.00", "ICBC-CONFLICT-1")
    assert r.status_code == 201, r.text
    first = r.json()

    r = await pay(client, op, company.org_id, "300000.01", "ICBC-CONFLICT-1")  # another amount
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "payment_conflict"
    r = await pay(client, op, other.org_id, "300000.00", "ICBC-CONFLICT-1")  # another organization
    assert r.status_code == 409 and r.json()["code"] == "payment_conflict", r.text

    again = await pay(client, op, company.org_id, "300000.00", "ICBC-CONFLICT-1")  # the same terms
    assert again.status_code == 200 and again.json() == first
    assert await account(client, company) == {"available": "300000.00", "held": "0.00"}
    assert await account(client, other) == {"available": "0.00", "held": "0.00"}
    await assert_invariants(db)


async def test_same_reference_racing_with_different_amounts_credits_once(
    client: httpx.AsyncClient, db
) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    results = await asyncio.gather(
        pay(client, op, company.org_id, "100.00", "RACE-CONFLICT-1"),
        pay(client, op, company.org_id, "200.00", "RACE-CONFLICT-1"),
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409], [r.text for r in results]
    (winner,) = [r for r in results if r.status_code == 201]
    (loser,) = [r for r in results if r.status_code == 409]
    assert loser.json()["code"] == "payment_conflict"
    assert await account(client, company) == {"available": winner.json()["amount"], "held": "0.00"}
    await assert_invariants(db)
