"""SQLite statements without SQLAlchemy's greenlet (app.kit.db.InlineAsyncConnection and InlineAsyncSession): on a read connection
always, on a write connection once its transaction has begun (its BEGIN may wait for the write gate, which
needs the greenlet). Counted by the ``spawns`` fixture (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Integer,
    bindparam,
    delete,
    event,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.util.concurrency import in_greenlet

from app.kit.db import (
    KEPT_CONNECTIONS,
    Database,
    InlineAsyncConnection,
    InlineAsyncSession,
    WriteGate,
    connection_of,
    create_database,
)
from app.kit.statements import prepared
from app.models.platform import ReadVersion


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        await session.execute(text("INSERT INTO t VALUES (1), (2)"))
    yield db
    await db.dispose()


async def test_reads_run_without_a_greenlet(file_db: Database, spawns: list[str]) -> None:
    async with file_db.read_connection() as conn:  # the pool's first: connecting awaits, in a greenlet
        assert isinstance(conn, InlineAsyncConnection)
        assert spawns == ["connect"]
    async with file_db.read_connection() as conn:  # checked out, used and returned inline
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
        assert await conn.scalar(text("SELECT max(x) FROM t")) == 2
    assert spawns == ["connect"]
    assert file_db.read_engine.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]


async def test_a_pooled_connection_that_must_reconnect_does_so_in_a_greenlet(
    file_db: Database, spawns: list[str]
) -> None:
    async with file_db.read_connection() as conn:
        await conn.invalidate()  # as after a disconnect error: the pool reconnects at the next checkout
    async with file_db.read_connection() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM t")) == 2
    assert spawns.count("connect") == 2


async def test_a_write_transaction_runs_inline_once_begun(
    file_db: Database, spawns: list[str], tmp_path: Path
) -> None:
    other_process = WriteGate(str(tmp_path / "x.db"), timeout=0.05)
    async with file_db.transaction() as session:
        conn = await connection_of(session)  # begins: takes the gate, in a greenlet
        with pytest.raises(sqlite3.OperationalError):
            await other_process.acquire()
        begun = len(spawns)
        await conn.execute(text("INSERT INTO t VALUES (3)"))
        with pytest.raises(sa_exc.IntegrityError):  # the driver's error, wrapped as SQLAlchemy wraps it
            await conn.execute(text("INSERT INTO t VALUES (3)"))
        await conn.execute(text("INSERT INTO t VALUES (4)"))  # the transaction goes on
        assert len(spawns) == begun
    async with file_db.read_connection() as conn:
        assert (await conn.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all() == [1, 2, 3, 4]
    await other_process.acquire()  # released with the connection
    other_process.release()


async def test_a_write_connection_not_yet_begun_begins_in_a_greenlet(
    file_db: Database, spawns: list[str], tmp_path: Path
) -> None:
    """Its first statement emits BEGIN IMMEDIATE after taking the gate, which may wait."""
    other_process = WriteGate(str(tmp_path / "x.db"), timeout=0.05)
    async with InlineAsyncConnection(file_db.write_engine) as conn:
        connected = len(spawns)
        await conn.execute(text("INSERT INTO t VALUES (5)"))
        assert spawns[connected:] == ["execute"]
        with pytest.raises(sqlite3.OperationalError):
            await other_process.acquire()
        await conn.execute(text("INSERT INTO t VALUES (6)"))
        assert spawns[connected:] == ["execute"]
        await conn.rollback()
    async with file_db.read_connection() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM t")) == 2


async def test_a_session_waits_in_a_greenlet_once_per_transaction(
    file_db: Database, spawns: list[str], tmp_path: Path
) -> None:
    """Its first statement checks out and begins; the rest of the transaction, commit and close run inline."""
    other_process = WriteGate(str(tmp_path / "x.db"), timeout=0.05)
    async with file_db.write_sessions() as session, session.begin():
        assert isinstance(session, InlineAsyncSession)
        assert spawns == []  # begun without a connection
        await session.execute(text("INSERT INTO t VALUES (7)"))
        assert spawns == ["execute"]
        with pytest.raises(sqlite3.OperationalError):
            await other_process.acquire()
        await session.execute(text("INSERT INTO t VALUES (8)"))
        assert await session.scalar(text("SELECT count(*) FROM t")) == 4
        await session.flush()
    assert spawns == ["execute"]
    await other_process.acquire()  # committed, closed and the gate released, inline
    other_process.release()
    with pytest.raises(RuntimeError):
        async with file_db.write_sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (9)"))
            raise RuntimeError("the request failed")
    assert spawns == ["execute", "execute"]
    async with file_db.read() as session:  # rolled back, inline
        assert await session.scalar(text("SELECT count(*) FROM t")) == 4
    await other_process.acquire()
    other_process.release()


async def test_a_session_begins_and_closes_without_a_greenlet_on_either_database(
    db: Database, spawns: list[str]
) -> None:
    """Beginning acquires no connection, and a session whose transaction has ended holds nothing to release:
    neither waits, on PostgreSQL either (where unprepared statements do go through the greenlet)."""
    async with db.write_sessions() as session, session.begin():
        assert spawns == []
        assert await session.scalar(text("SELECT 1")) == 1
    assert "begin" not in spawns and "close" not in spawns
    with pytest.raises(RuntimeError):
        async with db.write_sessions() as session, session.begin():
            assert await session.scalar(text("SELECT 2")) == 2
            raise RuntimeError("the request failed")
    assert "begin" not in spawns and "close" not in spawns
    async with db.read() as session:  # the session is usable after its transaction ended
        assert await session.scalar(text("SELECT 3")) == 3


async def test_a_transaction_context_begins_with_the_session_s_first_use(db: Database) -> None:
    """``async with session.begin():`` begins nothing until the session is used (a request refused before its
    first statement ends without a transaction); what is used in it is committed or rolled back at its end
    as before, objects added and never flushed included; an explicit ``await session.begin()`` and a second
    begin on a begun session behave as SQLAlchemy's."""
    created: list[object] = []
    pool: Any = db.write_engine.sync_engine.pool
    before = pool.checkedout()
    for failure in (None, RuntimeError("refused before its first statement")):
        with contextlib.suppress(RuntimeError):
            async with db.write_sessions() as session, session.begin():
                event.listen(
                    session.sync_session, "after_transaction_create", lambda _s, t: created.append(t)
                )
                assert not session.in_transaction()
                if failure is not None:
                    raise failure
    assert created == [] and pool.checkedout() == before

    version = f"v-{uuid.uuid4().hex[:8]}"
    async with db.write_sessions() as session, session.begin():
        session.add(ReadVersion(name=version, version=1))  # never flushed in the context: its end does
    with pytest.raises(RuntimeError):
        async with db.write_sessions() as session, session.begin():
            await session.execute(update(ReadVersion).where(ReadVersion.name == version).values(version=2))
            assert session.in_transaction()
            raise RuntimeError("rolled back")
    async with db.write_sessions() as session, session.begin():
        await session.execute(update(ReadVersion).where(ReadVersion.name == version).values(version=3))
        await session.rollback()  # a service's own rollback, then another statement: committed at the end
        await session.execute(update(ReadVersion).where(ReadVersion.name == version).values(version=4))
    async with db.write_sessions() as session:
        transaction = await session.begin()  # not a context: begun at once, ended by the caller
        assert session.in_transaction()
        await session.execute(update(ReadVersion).where(ReadVersion.name == version).values(version=5))
        await transaction.commit()
    async with db.write_sessions() as session:
        await session.scalar(text("SELECT 1"))  # begun by its use
        with pytest.raises(sa_exc.InvalidRequestError):
            async with session.begin():
                pass
    async with db.read() as session:
        assert await session.scalar(select(ReadVersion.version).where(ReadVersion.name == version)) == 5
    assert pool.checkedout() == before
    async with db.transaction() as session:
        await session.execute(delete(ReadVersion).where(ReadVersion.name == version))


async def test_commit_and_rollback_run_inline_and_a_failed_commit_raises_sqlalchemy_s_error(
    db: Database, spawns: list[str]
) -> None:
    """The end of a session's transaction on one begun connection is the driver's COMMIT or ROLLBACK awaited
    in the calling coroutine (SQLite: a plain call), with the session's ``after_commit`` listeners; a COMMIT
    the database refuses (here a deferred foreign key) raises SQLAlchemy's error, leaves nothing written and
    the connection back in the pool."""
    async with db.transaction() as session:
        await session.execute(text("DROP TABLE IF EXISTS deferred_ref"))
        await session.execute(
            text(
                "CREATE TABLE deferred_ref (id INTEGER PRIMARY KEY,"
                " ref INTEGER REFERENCES deferred_ref (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    committed: list[bool] = []
    async with db.transaction() as session:
        event.listen(session.sync_session, "after_commit", lambda _s: committed.append(True))
        await session.execute(text("INSERT INTO deferred_ref VALUES (1, NULL)"))
        spawns.clear()
    assert committed == [True]
    assert "__exit__" not in spawns, spawns
    with pytest.raises(sa_exc.IntegrityError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO deferred_ref VALUES (2, 99)"))  # checked at COMMIT
            await session.execute(text("INSERT INTO deferred_ref VALUES (3, 1)"))
    pool: Any = db.write_engine.sync_engine.pool
    assert pool.checkedout() == db.kept_connections
    spawns.clear()
    with pytest.raises(RuntimeError):  # a request that fails: rolled back, inline too
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO deferred_ref VALUES (5, 1)"))
            spawns.clear()
            raise RuntimeError("refused")
    assert "__exit__" not in spawns, spawns
    with pytest.raises(sa_exc.IntegrityError):  # a statement the database refused, then the rollback
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO deferred_ref VALUES (6, 1)"))
            await session.execute(text("INSERT INTO deferred_ref VALUES (6, 1)"))
    assert pool.checkedout() == db.kept_connections
    async with db.transaction() as session:  # the pool's connection is usable
        await session.execute(text("INSERT INTO deferred_ref VALUES (4, 1)"))
    async with db.read() as session:
        ids = (await session.execute(text("SELECT id FROM deferred_ref ORDER BY id"))).scalars().all()
    assert ids == [1, 4]
    async with db.transaction() as session:
        await session.execute(text("DROP TABLE deferred_ref"))


_X_OF = prepared(
    select(literal_column("x")).select_from(table("t")).where(literal_column("x") == bindparam("p"))
)


async def test_one_row_reads_share_a_connection_without_checkouts(
    file_db: Database, spawns: list[str]
) -> None:
    """``read_first`` (the caller's principal on every request): on a SQLite file one connection stays checked
    out for it, each read runs to its end in one call, and anything it cannot run goes through the pool."""
    assert file_db.lookup_engine is not None
    pool: Any = file_db.lookup_engine.sync_engine.pool
    assert (await file_db.read_first(_X_OF, {"p": 2})).x == 2
    assert pool.checkedout() == 1
    spawns.clear()
    rows = await asyncio.gather(*[file_db.read_first(_X_OF, {"p": p}) for p in (1, 2, 3)] * 10)
    assert [row.x if row else None for row in rows] == [1, 2, None] * 10
    assert spawns == [] and pool.checkedout() == 1
    async with file_db.transaction() as session:  # a write another connection commits is seen at once
        await session.execute(text("INSERT INTO t VALUES (3)"))
    assert (await file_db.read_first(_X_OF, {"p": 3})).x == 3
    unprepared = select(literal_column("x")).select_from(table("t")).where(literal_column("x") == 1)
    assert (await file_db.read_first(unprepared, {})).x == 1  # through the read pool
    assert pool.checkedout() == 1
    read_pool: Any = file_db.read_engine.sync_engine.pool
    assert read_pool.checkedout() == 0  # none of the read pool's connections is kept from its other users
    with pytest.raises(sa_exc.OperationalError):
        await file_db.read_first(prepared(select(literal_column("y")).select_from(table("t"))), {})
    assert pool.checkedout() == 0  # a failed read drops it: the next read has a fresh one
    assert (await file_db.read_first(_X_OF, {"p": 1})).x == 1
    await file_db.dispose()
    assert pool.checkedout() == 0


async def test_one_row_statements_keep_their_connections_on_postgresql(
    db: Database, spawns: list[str]
) -> None:
    """On PostgreSQL ``read_first`` and ``run_alone`` run on connections the process keeps checked out between
    them (``KEPT_CONNECTIONS`` at most), inline: no checkout for the next, however many run at once, and
    the pool lends the rest to everyone else. A statement that fails gives its connection back to the pool;
    a kept one the server closed meanwhile is replaced, without an error."""
    if db.is_sqlite:
        pytest.skip("a SQLite file's read_first keeps one connection of its own (the test above)")
    assert db.lookup_engine is None
    pool: Any = db.read_engine.sync_engine.pool
    seven = prepared(select(literal(7).label("seven")))
    assert (await db.read_first(seven, {})).seven == 7
    assert db.kept_connections >= 1 and pool.checkedout() == db.kept_connections
    spawns.clear()
    rows = await asyncio.gather(*[db.read_first(_X_OF_ANY, {"p": p}) for p in range(8)])
    assert [row.x for row in rows] == list(range(8))
    assert db.kept_connections == KEPT_CONNECTIONS and pool.checkedout() == KEPT_CONNECTIONS
    spawns.clear()
    for _ in range(3):
        assert (await db.run_alone(seven, {})).seven == 7
    assert spawns == [] and pool.checkedout() == KEPT_CONNECTIONS
    with pytest.raises(sa_exc.ProgrammingError):
        await db.run_alone(prepared(select(literal_column("nope"))), {})
    assert db.kept_connections == KEPT_CONNECTIONS - 1 == pool.checkedout()
    (pid,) = [row.pid for row in [await db.read_first(_BACKEND, {})]]
    async with db.transaction() as session:  # the server ends the kept connection's session
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(50):  # its goodbye reaches the socket
        await asyncio.sleep(0.01)
    assert (await db.read_first(_BACKEND, {})).pid != pid
    assert pool.checkedout() == db.kept_connections


_X_OF_ANY = prepared(select(bindparam("p", type_=Integer()).label("x"), func.pg_sleep(0.01)))
_BACKEND = prepared(select(func.pg_backend_pid().label("pid")))


async def test_an_overflow_connection_is_closed_when_its_transaction_ends(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL's pool lends connections beyond its size; one returned to a full pool is closed, and
    asyncpg's close awaits: that end of a transaction goes through the greenlet (inline, SQLAlchemy logged
    MissingGreenlet and left the connection unclosed)."""
    if db.is_sqlite:
        pytest.skip("SQLite's pools lend no overflow connection")
    mine = create_database(db.url, pool_size=1)  # and one overflow connection
    pool: Any = mine.write_engine.sync_engine.pool
    try:
        for failing in (False, True):
            first, second = mine.transaction(), mine.transaction()
            for session in (await first.__aenter__(), await second.__aenter__()):
                assert await session.scalar(text("SELECT 1")) == 1
            assert pool.checkedout() == 2
            error = RuntimeError("the request failed") if failing else None
            for transaction in (first, second):
                await transaction.__aexit__(type(error) if error else None, error, None)
            assert pool.checkedout() == 0 and pool.checkedin() == 1
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    finally:
        await mine.dispose()


_TWO = prepared(select(literal(2).label("two")))  # built once, as the hot paths' statements are


async def test_a_read_connection_is_checked_out_and_returned_without_a_greenlet_on_either_database(
    db: Database, spawns: list[str]
) -> None:
    """A pooled connection idle in the pool is lent and taken back inline on PostgreSQL too (two greenlets
    and a task per read there before): only connecting awaits."""
    async with db.read_connection() as conn:
        assert await conn.scalar(select(literal(1))) == 1
    spawns.clear()
    for _ in range(3):
        async with db.read_connection() as conn:
            assert await conn.scalar(_TWO) == 2
    assert spawns == []
    assert db.read_engine.sync_engine.pool.checkedout() == db.kept_connections  # type: ignore[attr-defined]


async def test_a_read_connection_that_must_reconnect_does_so_in_a_greenlet_on_either_database(
    db: Database,
) -> None:
    """Connecting awaits (aiosqlite's thread, asyncpg's socket): an inline checkout that must reconnect hands
    the checkout to the greenlet, which reconnects that connection, however many others are idle (the pool
    lends the last returned first: a first-in-first-out pool put the connection the inline checkout gave back
    behind the others, lent the greenlet another, and never reconnected it). Counted on this pool's own
    ``connect`` events: the process's greenlet spawns count other pools' reconnections too."""
    engine = db.read_engine.sync_engine
    pool: Any = engine.pool
    async with contextlib.AsyncExitStack() as stack:  # a few idle connections, as a served process has
        for _ in range(3):
            await stack.enter_async_context(db.read_connection())
    assert pool.checkedin() >= 3
    async with db.read_connection() as conn:
        await conn.invalidate()  # as after a disconnect error: the pool reconnects at the next checkout
    connects: list[bool] = []

    def connected(*_: Any) -> None:
        connects.append(in_greenlet())

    event.listen(engine, "connect", connected)
    try:
        async with db.read_connection() as conn:
            assert await conn.scalar(select(literal(3))) == 3
    finally:
        event.remove(engine, "connect", connected)
    assert connects == [True]
    assert pool.checkedout() == db.kept_connections


async def test_an_overflow_read_connection_is_closed_in_a_greenlet(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """One returned to a full pool is closed, and asyncpg's close awaits: through the greenlet (inline,
    SQLAlchemy would log MissingGreenlet and leave the connection open)."""
    if db.is_sqlite:
        pytest.skip("SQLite's pools lend no overflow connection")
    mine = create_database(db.url, pool_size=1)  # and one overflow connection
    pool: Any = mine.read_engine.sync_engine.pool
    try:
        async with mine.read_connection() as warm:
            await warm.scalar(select(literal(1)))
        first, second = mine.read_connection(), mine.read_connection()
        held = [await first.__aenter__(), await second.__aenter__()]
        drivers = [(await conn.get_raw_connection()).driver_connection for conn in held]
        assert pool.checkedout() == 2
        await first.__aexit__(None, None, None)
        await second.__aexit__(None, None, None)
        assert pool.checkedout() == 0 and pool.checkedin() == 1
        assert sum(driver.is_closed() for driver in drivers) == 1
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    finally:
        await mine.dispose()
