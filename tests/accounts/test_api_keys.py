"""API keys are managed by an operator's login only (SPEC §20): a key cannot create, list or revoke keys."""

from __future__ import annotations

import httpx

from app.kit.db import Database
from tests import factories as f


async def test_an_api_key_cannot_manage_api_keys(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    r = await client.post("/api/v1/api-keys", json={"name": "bank feed"}, headers=op.headers)
    assert r.status_code == 201, r.text
    key_id, key = r.json()["id"], {"X-API-Key": r.json()["key"]}
    assert (await client.get("/api/v1/organizations", headers=key)).status_code == 200

    refusals = [
        await client.post("/api/v1/api-keys", json={"name": "child"}, headers=key),
        await client.get("/api/v1/api-keys", headers=key),
        await client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=key),
    ]
    for r in refusals:
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden"
    # Nothing was created or revoked by the key.
    listed = (await client.get("/api/v1/api-keys", headers=op.headers)).json()
    assert [(k["id"], k["revoked_at"]) for k in listed] == [(key_id, None)]

    # The operator's login revokes it, and with it every use of the key.
    r = await client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=op.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/organizations", headers=key)).status_code == 401
