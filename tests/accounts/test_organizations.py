from __future__ import annotations

import httpx

from tests import factories as f
from tests.factories import PASSWORD


async def test_register_organization_defaults_and_verification(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university")
    assert uni.org is not None
    assert uni.org["status"] == "pending"
    assert uni.org["is_public_institution"] is True
    assert uni.org["reward_rules"] == "zhejiang"

    company = await f.organization(client, kind="enterprise")
    assert company.org is not None and company.org["is_public_institution"] is False

    r = await client.post(f"/api/v1/organizations/{uni.org_id}/verify", headers=op.headers)
    assert r.status_code == 200 and r.json()["status"] == "verified"
    r = await client.post(f"/api/v1/organizations/{uni.org_id}/verify", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_credit_code_validation_and_duplicates(client: httpx.AsyncClient, db) -> None:
    body = {
        "name": "某公司",
        "kind": "enterprise",
        "credit_code": "91110000600037341L",
        "admin": {"email": "a@b.example.cn", "password": PASSWORD, "name": "A"},
    }
    r = await client.post("/api/v1/organizations", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["credit_code"] == "91110000600037341L"

    again = {**body, "admin": {**body["admin"], "email": "other@b.example.cn"}}
    r = await client.post("/api/v1/organizations", json=again)
    assert r.status_code == 409 and r.json()["code"] == "organization_exists"

    for bad in ("91110000600037341X", "9111000060003734", "ABCDEFGHIJKLMNOPQR"):
        r = await client.post("/api/v1/organizations", json={**body, "credit_code": bad})
        assert r.status_code == 422, bad
        problem = r.json()
        assert problem["code"] == "invalid_credit_code"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["errors"][0]["loc"][-1] == "credit_code"


async def test_unknown_fields_and_short_passwords_are_422(client: httpx.AsyncClient, db) -> None:
    base = {
        "name": "X",
        "kind": "enterprise",
        "credit_code": f.credit_code(999),
        "admin": {"email": "x@y.example.cn", "password": PASSWORD, "name": "X"},
    }
    r = await client.post("/api/v1/organizations", json={**base, "surprise": 1})
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/organizations", json={**base, "admin": {**base["admin"], "password": "short"}}
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_login_me_and_rate_limit(client: httpx.AsyncClient, db) -> None:
    org = await f.organization(client)
    me = await client.get("/api/v1/me", headers=org.headers)
    assert me.status_code == 200
    assert me.json() == {
        "id": org.id,
        "email": org.email,
        "name": me.json()["name"],
        "organization_id": org.org_id,
        "role": "admin",
    }
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})).status_code == 401

    for _ in range(10):
        r = await client.post(
            "/api/v1/auth/token", data={"username": org.email, "password": "wrong-password!"}
        )
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    # The eleventh attempt is refused even with the right password, until the window passes.
    r = await client.post("/api/v1/auth/token", data={"username": org.email, "password": PASSWORD})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"


async def test_members_roles_and_visibility(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    other = await f.organization(client, verified_by=op)
    member_body = {"email": "m@org.example.cn", "password": PASSWORD, "name": "成员", "role": "member"}
    r = await client.post(
        f"/api/v1/organizations/{org.org_id}/members", json=member_body, headers=org.headers
    )
    assert r.status_code == 201 and r.json()["role"] == "member"
    member_headers = await f.login(client, "m@org.example.cn")

    # A member may not add members (403); another organization sees nothing (404).
    r = await client.post(
        f"/api/v1/organizations/{org.org_id}/members",
        json={**member_body, "email": "n@org.example.cn"},
        headers=member_headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.get(f"/api/v1/organizations/{org.org_id}", headers=other.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.post(
        f"/api/v1/organizations/{org.org_id}/members",
        json={**member_body, "email": "z@org.example.cn"},
        headers=other.headers,
    )
    assert r.status_code == 404
    # Only operators verify.
    r = await client.post(f"/api/v1/organizations/{other.org_id}/verify", headers=org.headers)
    assert r.status_code == 403

    r = await client.patch(
        f"/api/v1/organizations/{org.org_id}", json={"reward_rules": "national"}, headers=org.headers
    )
    assert r.status_code == 200 and r.json()["reward_rules"] == "national"
    r = await client.patch(
        f"/api/v1/organizations/{org.org_id}", json={"reward_rules": "national"}, headers=member_headers
    )
    assert r.status_code == 403


async def test_operator_api_keys(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    r = await client.post("/api/v1/api-keys", json={"name": "bank feed"}, headers=op.headers)
    assert r.status_code == 201
    key = r.json()["key"]
    r = await client.get("/api/v1/organizations", headers={"X-API-Key": key})
    assert r.status_code == 200
    listed = (await client.get("/api/v1/api-keys", headers=op.headers)).json()
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    await client.post(f"/api/v1/api-keys/{listed[0]['id']}/revoke", headers=op.headers)
    r = await client.get("/api/v1/organizations", headers={"X-API-Key": key})
    assert r.status_code == 401
