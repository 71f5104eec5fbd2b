"""Moving the sandbox clock in tests. ``POST /api/v1/sandbox/clock`` needs an operator (SPEC §20), so each test
client knows its database (the ``client`` fixture registers it with ``use_database``) and the first move in a
test creates the operator who makes every move of that client; tests that never move the clock create none."""

from __future__ import annotations

from datetime import datetime
from weakref import WeakKeyDictionary

import httpx

from app.deps import sandbox_offset
from app.kit.clock import SystemClock
from app.kit.db import Database
from tests import factories as f

_databases: WeakKeyDictionary[httpx.AsyncClient, Database] = WeakKeyDictionary()
_operators: WeakKeyDictionary[httpx.AsyncClient, dict[str, str]] = WeakKeyDictionary()


def use_database(client: httpx.AsyncClient, db: Database) -> None:
    """Let ``client`` create its clock operator in ``db`` when it first moves the clock."""
    _databases[client] = db


async def operator_headers(client: httpx.AsyncClient) -> dict[str, str]:
    """The headers of the operator who moves the clock for ``client``, created on first use."""
    headers = _operators.get(client)
    if headers is None:
        db = _databases.get(client)
        if db is None:
            raise LookupError(
                "this client moves the sandbox clock without an operator: "
                "call tests.sandbox.use_database(client, db) when creating it"
            )
        headers = (await f.operator(client, db)).headers
        _operators[client] = headers
    return headers


async def move_clock(client: httpx.AsyncClient, seconds: float) -> httpx.Response:
    """``POST /api/v1/sandbox/clock`` as the client's operator."""
    return await client.post(
        "/api/v1/sandbox/clock", json={"advance_seconds": seconds}, headers=await operator_headers(client)
    )


async def business_now(db: Database) -> datetime:
    """The sandbox business clock as the app reads it (real time plus the shared offset), for rows a test
    writes straight to the database: never the wall clock (tests start at a pinned business day)."""
    async with db.read() as session:
        return SystemClock(await sandbox_offset(session)).now()
