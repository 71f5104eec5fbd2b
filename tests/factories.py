"""Plain functions that build test data through the public API (and the CLI's service for operators)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from stdnum.cn import uscc

from app.accounts.service import create_operator
from app.kit.clock import SystemClock
from app.kit.db import Database

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def credit_code(n: int) -> str:
    """A valid unified social credit code, distinct for each n."""
    body = f"91330000{n:09d}"
    return body + uscc.calc_check_digit(body)


@dataclass
class Actor:
    """A signed-in user: ``headers`` authenticate requests."""

    id: str
    email: str
    org_id: str | None
    headers: dict[str, str]
    org: dict[str, Any] | None = None


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def operator(client: httpx.AsyncClient, db: Database) -> Actor:
    email = f"operator{next(_counter)}@exchange.example.cn"
    async with db.transaction() as session:
        user = await create_operator(session, email, PASSWORD, "Operator", SystemClock())
    return Actor(id=str(user.id), email=email, org_id=None, headers=await login(client, email))


async def organization(
    client: httpx.AsyncClient,
    *,
    kind: str = "enterprise",
    verified_by: Actor | None = None,
    name: str | None = None,
    **extra: Any,
) -> Actor:
    n = next(_counter)
    email = f"admin{n}@org{n}.example.cn"
    body = {
        "name": name or f"测试机构{n}",
        "kind": kind,
        "credit_code": credit_code(n),
        "admin": {"email": email, "password": PASSWORD, "name": f"管理员{n}"},
        **extra,
    }
    r = await client.post("/api/v1/organizations", json=body)
    assert r.status_code == 201, r.text
    org = r.json()
    if verified_by is not None:
        r = await client.post(f"/api/v1/organizations/{org['id']}/verify", headers=verified_by.headers)
        assert r.status_code == 200, r.text
        org = r.json()
    headers = await login(client, email)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    return Actor(id=me["id"], email=email, org_id=org["id"], headers=headers, org=org)


def application_number(n: int, *, year: int = 2020, kind_digit: str = "1") -> str:
    """A valid 12-digit application number (``YYYYKNNNNNNN.C``), distinct for each n."""
    from app.patents.rules import check_character

    digits = f"{year:04d}{kind_digit}{n:07d}"
    return f"{digits}.{check_character(digits)}"


async def patent(client: httpx.AsyncClient, owner: Actor, **fields: Any) -> dict[str, Any]:
    """A patent of ``owner``'s (verified) organization through ``POST /api/v1/patents``; returns the response body.
    ``fields`` override the defaults (e.g. ``application_number``, ``filing_date``, ``grant_date``)."""
    n = next(_counter)
    body: dict[str, Any] = {
        "application_number": application_number(n),
        "title": f"一种测试方法{n}",
        "abstract": "本发明公开了一种测试方法。",
        "ipc_codes": ["H01M 10/0525"],
        "inventors": ["张三"],
        "filing_date": "2020-03-15",
        "grant_date": "2022-06-01",
        **fields,
    }
    r = await client.post("/api/v1/patents", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result
