"""Engines and sessions.

SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction
(SQLAlchemy's documented recipe for pysqlite/aiosqlite: the driver's own transaction handling is turned
off and we emit BEGIN ourselves). A read-then-write transaction that starts with a deferred ``BEGIN`` can
fail with SQLITE_BUSY_SNAPSHOT in WAL mode whatever the timeout; ``BEGIN IMMEDIATE`` takes the write lock
up front, so write transactions queue instead of failing. GETs use a second engine (autocommit, see below),
so readers never wait for writers.

The SQLite write engine has ONE connection per process (``SQLITE_WRITE_POOL_SIZE``): SQLite runs one writer
at a time anyway, and every extra connection waiting in ``BEGIN IMMEDIATE`` sits in SQLite's busy handler,
which sleeps up to 100 ms between tries, so with ten of them a queue of writers turned into seconds of
latency and one process starving the other. With one, the writers of a process queue (FIFO) on the pool
without sleeping. Between processes, a ``WriteGate`` (an exclusive ``flock`` on ``<database>-writer.lock``)
is taken before ``BEGIN IMMEDIATE`` and released when the connection goes back to the pool: a process
waiting for another's write transaction sleeps in the kernel and wakes the moment the lock is released,
instead of polling in the busy handler (1, 2, 5 … 100 ms naps, which cost seconds at the tail under
load). SQLite's own lock stays the guarantee; the gate only decides who asks for it next, and a process that
does not use it (the CLI, an external tool) is still waited for by the busy timeout.

Every SQLite connection runs its statements in the event loop's own thread (``InlineSQLite``) instead of
aiosqlite's worker thread: a statement on a local WAL file takes microseconds, less than the two thread
switches (and GIL hand-overs) per call that the worker thread costs, four calls per statement. Nothing
inline waits for a lock: readers never wait in WAL mode, and a writer holds the gate, taken without
blocking the loop, before its ``BEGIN IMMEDIATE``. A write transaction so runs from BEGIN to COMMIT
without giving the event loop away, holding the lock for its own work only. The price: a long statement
(a search over a large table, a bulk import batch) occupies its process's loop while it runs, as Python
code would; the other worker processes go on serving.

PostgreSQL: one asyncpg pool, READ COMMITTED; hot paths rely on conditional UPDATEs and row locks.

Reads (GET requests, ``Database.read``) run in autocommit on both databases: no BEGIN and no COMMIT around
them, which on PostgreSQL saves two round trips per request. It changes nothing they can see: under READ
COMMITTED every statement takes its own snapshot anyway, and SQLite outside a transaction does the same
(each SELECT reads one consistent snapshot of the WAL). Code that must see several rows as of one instant
writes (and locks) in a write transaction instead.

No ``pool_pre_ping`` (one more round trip per request): a connection that turns out to be dead raises a
disconnect error, and SQLAlchemy then discards every pooled connection, so after a database restart at
most the requests already holding a connection fail.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WRITE_POOL_SIZE = 1
_GATED = "write_gate_held"


class WriteGate:
    """An exclusive ``flock`` shared by the processes writing one SQLite file (see the module docstring).

    The lock is only ever taken by the event loop, without blocking, when its transaction is about to run.
    While another process holds it, a worker thread waits in a blocking ``flock`` on a second descriptor and
    lets go at once: that only says "it is free now", and the loop tries again. Were the thread to keep the
    lock for its coroutine, the lock would sit idle until the loop got round to resuming it, behind every
    other request the loop has ready, and the other process would wait for that too.

    Descriptors are opened lazily by the process that uses them (one inherited through ``fork`` would share
    its lock with the parent)."""

    def __init__(self, database: str, timeout: float) -> None:
        self.database = database
        self.path = f"{database}-writer.lock"
        self.timeout = timeout
        self._fds: tuple[int, int] | None = None
        self._pid = 0

    def _descriptors(self) -> tuple[int, int]:
        """(the lock's, the waiting thread's): two opens, two locks that exclude each other."""
        if self._fds is None or self._pid != os.getpid():
            lock, wait = (os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644) for _ in range(2))
            self._fds, self._pid = (lock, wait), os.getpid()
        return self._fds

    def _try(self) -> bool:
        try:
            fcntl.flock(self._descriptors()[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _wait_until_free(self) -> None:
        fd = self._descriptors()[1]
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self._try():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise sqlite3.OperationalError("database is locked")
            # A waiter given up on (timeout, cancellation) finishes in its thread and holds nothing.
            free = loop.run_in_executor(None, self._wait_until_free)
            try:
                await asyncio.wait_for(asyncio.shield(free), remaining)
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None

    def release(self) -> None:
        if self._fds is not None and self._pid == os.getpid():
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)


class InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the calling thread (the event loop's) instead of being
    queued to its worker thread (see the module docstring)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_connector(database: str) -> Callable[[], Any]:
    async def connect() -> aiosqlite.Connection:
        conn = InlineSQLite(partial(sqlite3.connect, database, check_same_thread=False), 64)
        conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        return await conn

    return connect


def _sqlite_engine(
    url: str, *, begin: str | None, pool_size: int, gate: WriteGate | None = None
) -> AsyncEngine:
    """``begin``: the statement that opens a transaction, or None for an autocommit (read) engine. A file
    database's connections run inline (``InlineSQLite``); ``gate``: the write engine's ``WriteGate``."""
    options: dict[str, Any] = {}
    if begin is None:
        options = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
    if (database := _sqlite_file(url)) is not None:
        options["async_creator"] = _inline_connector(database)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if begin is None:
        return engine

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if gate is not None and not conn.info.get(_GATED):
            await_(gate.acquire())
            conn.info[_GATED] = True
        conn.exec_driver_sql(begin)

    if gate is not None:

        def _release(_dbapi_conn: Any, record: Any, *_: Any) -> None:
            if record.info.pop(_GATED, False):
                gate.release()

        event.listen(engine.sync_engine, "checkin", _release)
        event.listen(engine.sync_engine, "invalidate", _release)

    return engine


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


@dataclass
class Database:
    """The write engine, and for SQLite a separate read engine with deferred transactions."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]

    @property
    def is_sqlite(self) -> bool:
        return self.write_engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits on success, rolls back on any exception."""
        async with self.write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine.sync_engine.pool is not self.write_engine.sync_engine.pool:
            await self.read_engine.dispose()


def create_database(url: str, *, pool_size: int = 10) -> Database:
    if url.startswith("sqlite"):
        ensure_sqlite_directory(url)
        database = _sqlite_file(url)
        gate = WriteGate(database, SQLITE_BUSY_TIMEOUT_MS / 1000) if database is not None else None
        write = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=SQLITE_WRITE_POOL_SIZE, gate=gate)
        read = _sqlite_engine(url, begin=None, pool_size=pool_size)
    else:
        write = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)
        read = write.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        url=url,
        write_engine=write,
        read_engine=read,
        write_sessions=async_sessionmaker(write, expire_on_commit=False, autoflush=False),
        read_sessions=async_sessionmaker(read, expire_on_commit=False, autoflush=False),
    )


_CONNECTED = "holds_connection"


@event.listens_for(Session, "after_begin")
def _mark_connected(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[_CONNECTED] = True


def holds_connection(session: AsyncSession) -> bool:
    """Whether ``session``'s transaction has begun on a connection (a statement has run)."""
    return bool(session.info.get(_CONNECTED))


@asynccontextmanager
async def reading(db: Database, session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A session to read with before ``session`` writes: a short autocommit read of its own while ``session``
    holds no connection yet, so the write transaction starts with its first change (on SQLite the write
    lock is then held for the change alone); ``session`` itself once it holds one, so a request never holds
    two connections at once (forty such requests on a pool of twenty would wait for each other)."""
    if holds_connection(session):
        yield session
        return
    async with db.read() as own:
        yield own


def dialect_name(session: AsyncSession) -> str:
    """``"sqlite"`` or ``"postgresql"``: the dialect of the engine a session is bound to."""
    return str(session.get_bind().dialect.name)
