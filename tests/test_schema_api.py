"""What the published schema promises, the API does: defects the schema work found (SPEC §21, §20 "no 500 from
any input")."""

from __future__ import annotations

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f


@pytest.mark.parametrize("ipc", ["A0A0/", "H0M1", "b1C"])
async def test_an_ipc_prefix_with_a_one_digit_class_is_a_422_not_a_500(
    client: httpx.AsyncClient, db: Database, ipc: str
) -> None:
    company = await f.organization(client)
    r = await client.get("/api/v1/patents", params={"ipc": ipc}, headers=company.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_ipc_code"


@pytest.mark.parametrize("ipc", ["", "H", "H0", "H01", "h01m", "H01M 10", "H01M10/05"])
async def test_ipc_prefixes_the_schema_publishes_are_taken(
    client: httpx.AsyncClient, db: Database, ipc: str
) -> None:
    company = await f.organization(client)
    r = await client.get("/api/v1/patents", params={"ipc": ipc}, headers=company.headers)
    assert r.status_code == 200, r.text


async def test_a_multipart_body_without_its_boundary_is_a_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    """An unreadable body is invalid input like any other (it was a 400 `bad_request` no operation documents)."""
    company = await f.organization(client)
    for path, headers in (("/api/v1/patents/import", company.headers), ("/api/v1/auth/token", {})):
        r = await client.post(path, content=b"x", headers={**headers, "Content-Type": "multipart/form-data"})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation_error"
