"""The SQLite write gate (app.kit.db.WriteGate): an exclusive flock shared by every process writing one
database file. Two gates on one path stand for two processes (each has its own open file description)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app.kit.db import WriteGate


async def test_a_waiter_wakes_when_the_holder_releases(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    first, second = WriteGate(path, timeout=5), WriteGate(path, timeout=5)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # blocked in its thread, the event loop still runs
    first.release()
    await asyncio.wait_for(waiting, 2)
    third = WriteGate(path, timeout=0.1)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await third.acquire()
    second.release()
    await third.acquire()
    third.release()


async def test_a_waiter_that_gives_up_does_not_keep_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    holder, impatient = WriteGate(path, timeout=5), WriteGate(path, timeout=0.05)
    await holder.acquire()
    with pytest.raises(sqlite3.OperationalError):
        await impatient.acquire()  # its thread still waits in flock
    cancelled = asyncio.create_task(WriteGate(path, timeout=5).acquire())
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    holder.release()
    # Both abandoned waiters take the lock in turn when it is free and let it go at once.
    late = WriteGate(path, timeout=5)
    await asyncio.wait_for(late.acquire(), 3)
    late.release()


async def test_the_write_engine_takes_the_gate_for_a_transaction(tmp_path: Path) -> None:
    from sqlalchemy import text

    from app.kit.db import create_database

    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    other = WriteGate(str(tmp_path / "x.db"), timeout=0.05)
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            with pytest.raises(sqlite3.OperationalError):
                await other.acquire()  # held for the whole transaction
        await other.acquire()  # and released when the connection went back to the pool
        other.release()
        async with db.read() as session:  # readers never take it
            await other.acquire()
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
            other.release()
    finally:
        await db.dispose()


async def test_statements_run_in_the_event_loop_thread(tmp_path: Path) -> None:
    """SQLite connections run their statements inline (no thread switch per call), writes and reads."""
    import threading

    from sqlalchemy import event, text

    from app.kit.db import create_database

    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")

    def _thread_function(dbapi_conn, _record) -> None:
        dbapi_conn.run_async(lambda raw: raw.create_function("tid", 0, threading.get_ident))

    for engine in (db.write_engine, db.read_engine):
        event.listen(engine.sync_engine, "connect", _thread_function)
    try:
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT tid()"))).scalar_one() == threading.get_ident()
        async with db.read() as session:
            assert (await session.execute(text("SELECT tid()"))).scalar_one() == threading.get_ident()
    finally:
        await db.dispose()
