"""The bid's hot path: its statements run on the driver in the request's own coroutine
(``app.kit.statements``), not through SQLAlchemy's per-call greenlet and execution, on both databases. A
statement left out of that path still works, so only counting shows it: the ``spawns`` fixture
(tests/conftest.py) counts the calls SQLAlchemy's asyncio API runs in a greenlet while bids are placed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.kit.db import Database, WriteGate
from tests.auctions import helpers as h

COUNTDOWN = timedelta(seconds=300)  # open_auction's


async def test_a_bid_runs_no_statement_through_sqlalchemy_s_greenlet(
    client: httpx.AsyncClient, db, spawns: list[str]
) -> None:
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):  # the pools and the bidders known
        assert (await h.bid(client, case, who, amount)).status_code == 201
    for who, amount in ((b1, "102000.00"), (b2, "103000.00"), (b1, "104000.00")):
        spawns.clear()
        r = await h.bid(client, case, who, amount)
        assert r.status_code == 201, r.text
        placed = r.json()
        assert placed["leading"] is True
        # Each bid extends the countdown: two live events, written by one statement.
        assert (
            datetime.fromisoformat(placed["ends_at"])
            == datetime.fromisoformat(placed["placed_at"]) + COUNTDOWN
        )
        # The bid's transaction waits for its connection once (checkout and BEGIN: SQLite's write gate);
        # its statements (the auction's UPDATE and the bid, the live events of the bid and the extension
        # (two parameter sets), the audit chain and its flush of nothing, the outbid notice and its
        # webhooks) do not.
        assert "execute" not in spawns and "flush" not in spawns, spawns
        assert "__exit__" not in spawns, spawns  # the commit


async def test_a_refused_bid_runs_no_statement_through_sqlalchemy_s_greenlet(
    client: httpx.AsyncClient, db, spawns: list[str]
) -> None:
    """Most bids of a busy auction are refused (another got there first): the UPDATE matches nothing, and the
    reason is read by a second statement, on the same path."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):
        assert (await h.bid(client, case, who, amount)).status_code == 201
    spawns.clear()
    r = await h.bid(client, case, b1, "101000.00")
    assert r.status_code == 409 and h.code_of(r) == "bid_too_low", r.text
    assert "execute" not in spawns and "__exit__" not in spawns, spawns  # nor the rollback
    if db.is_sqlite:  # refused on a read: no write connection, no write lock
        assert "connection" not in spawns, spawns


async def test_a_bid_that_waited_for_another_s_lock_is_refused_for_what_that_one_did(
    client: httpx.AsyncClient, db: Database
) -> None:
    """PostgreSQL: the bid's UPDATE matches the auction as its statement began, waits for a transaction that
    holds the row, and no longer matches the row that transaction commits: the bid is refused with the
    reason the committed row gives (DESIGN.md: zero rows, then re-read the row to explain why). When the
    other transaction rolls back instead, the waiting bid is taken."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's row locks (SQLite refuses on a read outside its one writer)")
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    raise_price = text("UPDATE auctions SET current_price = :fen WHERE id = :id")

    async def bid_behind_another(who: Any, amount: str, end: str) -> httpx.Response:
        async with db.write_engine.connect() as other:
            await other.execute(raise_price, {"fen": 10_200_000, "id": case.id})  # 102,000.00, uncommitted
            waiting = asyncio.create_task(h.bid(client, case, who, amount))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # its UPDATE waits for the row
            await (other.commit() if end == "commit" else other.rollback())
        return await asyncio.wait_for(waiting, timeout=10)

    r = await bid_behind_another(b2, "101000.00", "rollback")
    assert r.status_code == 201, r.text
    r = await bid_behind_another(b1, "102000.00", "commit")  # valid at 101,000.00, not at 102,000.00
    assert r.status_code == 409 and h.code_of(r) == "bid_too_low", r.text
    assert "103000.00" in r.json()["detail"], r.text


async def test_sqlite_refuses_a_bid_without_waiting_for_the_write_lock(
    client: httpx.AsyncClient, db: Database
) -> None:
    """While another process writes (it holds the write gate), a bid the auction's state refuses is answered
    at once; a bid it takes waits for the lock as before, and is accepted once the lock is free."""
    if not db.is_sqlite:
        pytest.skip("SQLite's one writer at a time")
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    other_process = WriteGate(str(make_url(db.url).database), timeout=1)
    await other_process.acquire()
    try:
        refusals = [
            (b2, "100000.00", "bid_too_low"),
            (b2, "100500.00", "bid_too_low"),
            (b1, "102000.00", "already_leading"),
        ]
        for who, amount, code in refusals:
            r = await asyncio.wait_for(h.bid(client, case, who, amount), timeout=5)
            assert r.status_code == 409 and h.code_of(r) == code, r.text
        waiting = asyncio.create_task(h.bid(client, case, b2, "101000.00"))
        await asyncio.sleep(0.2)
        assert not waiting.done()
    finally:
        other_process.release()
    assert (await asyncio.wait_for(waiting, timeout=10)).status_code == 201
