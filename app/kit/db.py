"""Engines and sessions.

SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction
(SQLAlchemy's documented recipe for pysqlite/aiosqlite: the driver's own transaction handling is turned
off and we emit BEGIN ourselves). A read-then-write transaction that starts with a deferred ``BEGIN`` can
fail with SQLITE_BUSY_SNAPSHOT in WAL mode whatever the timeout; ``BEGIN IMMEDIATE`` takes the write lock
up front, so write transactions queue instead of failing. GETs use a second engine whose transactions
begin deferred, so readers never wait for writers.

The SQLite write engine has ONE connection per process (``SQLITE_WRITE_POOL_SIZE``): SQLite runs one writer
at a time anyway, and every extra connection waiting in ``BEGIN IMMEDIATE`` sits in SQLite's busy handler,
which sleeps up to 100 ms between tries, so with ten of them a queue of writers turned into seconds of
latency and one process starving the other. With one, the writers of a process queue (FIFO) on the pool
without sleeping, and at most one connection per process waits for the lock.

PostgreSQL: one asyncpg engine, READ COMMITTED; hot paths rely on conditional UPDATEs and row locks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_WRITE_POOL_SIZE = 1


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


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
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def create_database(url: str, *, pool_size: int = 10) -> Database:
    if url.startswith("sqlite"):
        ensure_sqlite_directory(url)
        write = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=SQLITE_WRITE_POOL_SIZE)
        read = _sqlite_engine(url, begin="BEGIN", pool_size=pool_size)
    else:
        write = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        read = write
    return Database(
        url=url,
        write_engine=write,
        read_engine=read,
        write_sessions=async_sessionmaker(write, expire_on_commit=False, autoflush=False),
        read_sessions=async_sessionmaker(read, expire_on_commit=False, autoflush=False),
    )


def dialect_name(session: AsyncSession) -> str:
    """``"sqlite"`` or ``"postgresql"``: the dialect of the engine a session is bound to."""
    return str(session.get_bind().dialect.name)
