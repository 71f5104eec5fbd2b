from __future__ import annotations

import asyncio

import httpx

from tests import factories as f
from tests.invariants import assert_invariants


async def pay(
    client: httpx.AsyncClient, op: f.Actor, org_id: str, amount: str, ref: str, **kw
) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.post(
        "/api/v1/ledger/payments",
        json={"organization_id": org_id, "amount": amount, "bank_reference": ref},
        headers={**op.headers, **kw.get("headers", {})},
    )


async def account(client: httpx.AsyncClient, actor: f.Actor) -> dict[str, str]:
    r = await client.get(f"/api/v1/organizations/{actor.org_id}/account", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_bank_payment_credits_once_per_reference(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    r = await pay(client, op, company.org_id, "300000.00", "ICBC-1")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["amount"] == "300000.00" and first["bank_reference"] == "ICBC-1"
    again = await pay(client, op, company.org_id, "300000.00", "ICBC-1")
    assert again.status_code == 200 and again.json() == first
    assert await account(client, company) == {"available": "300000.00", "held": "0.00"}
    await assert_invariants(db)


async def test_same_reference_racing_credits_once(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    results = await asyncio.gather(*[pay(client, op, company.org_id, "100.00", "RACE-1") for _ in range(8)])
    assert sorted(r.status_code for r in results) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert await account(client, company) == {"available": "100.00", "held": "0.00"}
    await assert_invariants(db)


async def test_payment_validation_and_roles(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    for bad in ("-1.00", "0.00", "1.001", "abc"):
        r = await pay(client, op, company.org_id, bad, f"BAD-{bad}")
        assert r.status_code == 422, bad
    r = await client.post(
        "/api/v1/ledger/payments",
        headers=company.headers,
        json={"organization_id": company.org_id, "amount": "1.00", "bank_reference": "X"},
    )
    assert r.status_code == 403
    r = await pay(client, op, "00000000-0000-0000-0000-00000000abcd", "1.00", "NOBODY")
    assert r.status_code == 404
    assert await account(client, company) == {"available": "0.00", "held": "0.00"}


async def test_withdrawals_never_overdraw(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    assert company.org_id
    await pay(client, op, company.org_id, "1000.00", "W-1")
    r = await client.post("/api/v1/ledger/withdrawals", json={"amount": "1000.01"}, headers=company.headers)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"

    # 10 concurrent withdrawals of 300: exactly 3 fit.
    results = await asyncio.gather(
        *[
            client.post("/api/v1/ledger/withdrawals", json={"amount": "300.00"}, headers=company.headers)
            for _ in range(10)
        ]
    )
    assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 7
    assert await account(client, company) == {"available": "100.00", "held": "0.00"}

    history = (
        await client.get(f"/api/v1/organizations/{company.org_id}/ledger", headers=company.headers)
    ).json()
    kinds = [e["kind"] for e in history["items"]]
    assert kinds.count("withdrawal") == 3 and kinds.count("bank_payment") == 1
    assert history["items"][-1]["available"] == "1000.00"
    assert all(e["available"] == "-300.00" for e in history["items"] if e["kind"] == "withdrawal")

    tb = (await client.get("/api/v1/ledger/trial-balance", headers=op.headers)).json()
    assert tb["balanced"] is True and tb["total"] == "0.00"
    await assert_invariants(db)


async def test_account_visibility(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    a = await f.organization(client, verified_by=op)
    b = await f.organization(client, verified_by=op)
    assert (
        await client.get(f"/api/v1/organizations/{a.org_id}/account", headers=b.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/organizations/{a.org_id}/ledger", headers=b.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/organizations/{a.org_id}/account", headers=op.headers)
    ).status_code == 200
    assert (await client.get("/api/v1/ledger/trial-balance", headers=a.headers)).status_code == 403


async def test_idempotency_key_replays_and_refuses_reuse(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    company = await f.organization(client, verified_by=op)
    await pay(client, op, company.org_id or "", "1000.00", "I-1")
    headers = {**company.headers, "Idempotency-Key": "withdraw-42"}
    first = await client.post("/api/v1/ledger/withdrawals", json={"amount": "100.00"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    replay = await client.post("/api/v1/ledger/withdrawals", json={"amount": "100.00"}, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other = await client.post("/api/v1/ledger/withdrawals", json={"amount": "200.00"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert await account(client, company) == {"available": "900.00", "held": "0.00"}
    # A failed request stores no key: the retry runs again.
    headers2 = {**company.headers, "Idempotency-Key": "too-much"}
    r = await client.post("/api/v1/ledger/withdrawals", json={"amount": "5000.00"}, headers=headers2)
    assert r.status_code == 409
    await pay(client, op, company.org_id or "", "5000.00", "I-2")
    r = await client.post("/api/v1/ledger/withdrawals", json={"amount": "5000.00"}, headers=headers2)
    assert r.status_code == 201
    # Concurrent retries of one key move money once.
    headers3 = {**company.headers, "Idempotency-Key": "burst"}
    burst = await asyncio.gather(
        *[
            client.post("/api/v1/ledger/withdrawals", json={"amount": "10.00"}, headers=headers3)
            for _ in range(6)
        ]
    )
    assert {r.status_code for r in burst} <= {201, 409}
    assert all(r.json()["code"] == "idempotency_in_progress" for r in burst if r.status_code == 409)
    assert await account(client, company) == {"available": "890.00", "held": "0.00"}
    await assert_invariants(db)
