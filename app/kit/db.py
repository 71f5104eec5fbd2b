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
without giving the event loop away, holding the lock for its own work only. SQLAlchemy's cursors over these
connections call ``sqlite3`` directly (``_InlineCursor``), and connections and sessions run their work
without the greenlet SQLAlchemy's asyncio API wraps around each call, whenever nothing in it can wait
(``InlineAsyncConnection``, ``InlineAsyncSession``): a request's transaction goes through SQLAlchemy's
greenlet once, for its first statement, where it may wait for a connection and the gate. The price: a long
statement (a search over a large table, a bulk import batch) occupies its process's loop while it runs, as
Python code would; the other worker processes go on serving.

PostgreSQL: one asyncpg pool, READ COMMITTED; hot paths rely on conditional UPDATEs and row locks.

On either database, a statement marked ``prepared`` (``app.kit.statements``: the few that run on every
request) skips SQLAlchemy's per-call execution: ``InlineAsyncConnection`` runs it on ``sqlite3`` inline, or
awaits it on asyncpg in the calling coroutine, as a write session's COMMIT or ROLLBACK is on PostgreSQL. On
PostgreSQL a read connection is also checked out of the pool and back in without SQLAlchemy's greenlet and
task when neither waits (a connection idle in the pool, no transaction to roll back, room to keep it): two
greenlets and a task were a sixth of an auction read's CPU. The one-statement reads and writes outside a
session (``Database.read_first``, ``Database.run_alone``: the caller's lookup, a bid) skip even that: they
run on a few autocommit connections the process keeps checked out between them (``KEPT_CONNECTIONS``).

On a SQLite file, the one-row reads every request makes before its own work (the caller's lookup, a bid's
refusal check) run on one connection each process keeps checked out for them (``Database.read_first``): an
inline statement runs to its last row in one call, so concurrent requests never interleave on it, and a
pool checkout and check-in cost more CPU than the read.

Reads (GET requests, ``Database.read``) run in autocommit on both databases: no BEGIN and no COMMIT around
them, which on PostgreSQL saves two round trips per request. It changes nothing they can see: under READ
COMMITTED every statement takes its own snapshot anyway, and SQLite outside a transaction does the same
(each SELECT reads one consistent snapshot of the WAL). Code that must see several rows as of one instant
writes (and locks) in a write transaction instead.

When the database goes away (issue item 11). No ``pool_pre_ping``: it costs a round trip per checkout, on
every request. Instead, a pooled PostgreSQL connection is checked at checkout without a round trip
(``_closed_by_server``): a server that restarted, crashed or terminated the backend has closed its socket,
which asyncpg has seen (``is_closed``) or which has something to read although nothing was asked (the
server's goodbye, or EOF, not yet read by the event loop). Such a connection is discarded and the pool
hands out a fresh one, so the request runs on it as if nothing had happened: nothing had been sent. A
connection lost later (mid-statement, at COMMIT) is never retried, since its transaction may have
committed; SQLAlchemy then discards every pooled connection (``handle_error`` marks the server's FATAL
errors and connection-class SQLSTATEs as disconnects, which asyncpg's own check can miss), and the request
fails with 503 ``database_unavailable`` and a ``Retry-After`` (``app.kit.errors``), as does one that cannot
connect (refused, starting up, too many clients, timed out after ``PG_CONNECT_TIMEOUT_SECONDS``) or, on
SQLite, finds the database locked past the busy timeout or its file unusable (``is_unavailable``). Nothing
is kept broken: every later checkout connects afresh, so the server recovers by itself once the database
is back. Callers outside requests (the sweeper, live streams) log an outage with ``warn_unavailable``, one
line per interval and place, and try again on their next pass.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import select
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import aiosqlite
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection as _ASYNCPG
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncSessionTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import EMPTY_DICT, await_, greenlet_spawn, immutabledict
from sqlalchemy.util.concurrency import in_greenlet

from app.kit import statements
from app.kit.errors import DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_SECONDS = 10.0
UNAVAILABLE_LOG_SECONDS = 10.0
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
                raise _database_locked()
            # A waiter given up on (timeout, cancellation) finishes in its thread and holds nothing.
            free = loop.run_in_executor(None, self._wait_until_free)
            try:
                await asyncio.wait_for(asyncio.shield(free), remaining)
            except TimeoutError:
                raise _database_locked() from None

    def release(self) -> None:
        if self._fds is not None and self._pid == os.getpid():
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)


def _database_locked() -> sqlite3.OperationalError:
    """The error SQLite gives when its busy timeout runs out, with its code (``is_unavailable`` reads it)."""
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    error.sqlite_errorname = "SQLITE_BUSY"
    return error


class InlineSQLite(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the calling thread (the event loop's) instead of being
    queued to its worker thread (see the module docstring)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


async def _nothing() -> None:
    return None


def _await_nothing() -> None:
    """In a greenlet of SQLAlchemy's, one switch out and back: ``AsyncConnection.execute`` refuses a driver
    that never awaited (it takes it for a synchronous one given by mistake)."""
    if in_greenlet():
        await_(_nothing())


class _InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor over an ``InlineSQLite`` connection, calling its ``sqlite3`` cursor directly: the
    aiosqlite adapter awaits every call (cursor, execute, fetchall, close), and each await is a greenlet
    switch out to the event loop and back although nothing is waited for, which cost more CPU than the
    statement. Rows are fetched at execute, as the adapter does."""

    __slots__ = ()
    _awaitable_cursor_close = False  # close() is sqlite3's own, a plain call

    def _make_new_cursor(self, connection: Any) -> Any:
        return connection._conn.cursor()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        _await_nothing()
        cursor: Any = self._cursor
        try:
            result = (
                cursor.execute(operation) if parameters is None else cursor.execute(operation, parameters)
            )
            if cursor.description:
                self._rows = deque(cursor.fetchall())
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        return result

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        _await_nothing()
        try:
            return self._cursor.executemany(operation, seq_of_parameters)
        except Exception as error:
            self._adapt_connection._handle_exception(error)


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's adapter of an ``InlineSQLite`` connection: its cursors, commits and rollbacks call
    ``sqlite3`` directly (``_InlineCursor``)."""

    __slots__ = ()
    _cursor_cls = _InlineCursor

    @property
    def isolation_level(self) -> str | None:
        return cast(str | None, self._connection._conn.isolation_level)

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection._conn.isolation_level = value

    def commit(self) -> None:
        try:
            self._connection._conn.commit()
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        try:
            self._connection._conn.rollback()
        except Exception as error:
            self._handle_exception(error)


class _NeedsGreenlet(Exception):
    """A new connection was asked for inline (``InlineAsyncConnection.start``): opening one awaits."""


class _InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given for a file database (``module=``): its
    connections are ``InlineSQLite``, adapted by ``_InlineConnection``."""

    def __init__(self, database: str, *, gated: bool) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.database = database
        self.gated = gated  # the engine's BEGIN waits for the ``WriteGate``

    def connect(self, *_arg: Any, **_kw: Any) -> _InlineConnection:
        if not in_greenlet():
            raise _NeedsGreenlet()
        connection = InlineSQLite(partial(sqlite3.connect, self.database, check_same_thread=False), 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        return _InlineConnection(self, cast(Any, await_(connection)))


class InlineAsyncConnection(AsyncConnection):
    """An ``AsyncConnection`` that runs its work in the calling coroutine when nothing in it can wait.
    SQLAlchemy runs each call of its asyncio API in a new greenlet, which costs as much CPU as a short
    statement, and closes a connection in a task of its own; both are needed only to wait: for a connection
    from an exhausted pool, for a new connection, for the ``WriteGate`` at the BEGIN of a SQLite write
    transaction, for asyncpg's ROLLBACK or close.

    So, inline, on an ``InlineSQLite`` engine: a checkout while the pool has a connection idle, a statement on
    a read connection (autocommit, no gate) or on a write connection once its transaction has begun, and the
    close (rollback, reset and check-in are plain calls). On asyncpg: the same checkout, and the close of a
    connection with no transaction on the driver (a read's, in autocommit) that the pool takes back (its reset
    and check-in are plain calls then; one returned to a full pool is closed, which awaits); its prepared
    statements are awaited on asyncpg directly (``app.kit.statements``). A checkout that must reconnect goes
    through the greenlet after all (``_NeedsGreenlet``): the pool takes that connection back and lends it to
    the greenlet, which reconnects it, because the engines' pools lend the last returned first
    (``pool_use_lifo``; first in, first out, it went behind the idle ones and was never reconnected).
    Anywhere else (in-memory SQLite, options such as ``stream_results``) as SQLAlchemy does. Had something run inline tried to wait, SQLAlchemy would raise
    ``MissingGreenlet``: an error, never a silent wrong result."""

    def _inline_dbapi(self) -> _InlineDBAPI | None:
        dbapi = self.sync_engine.dialect.dbapi
        return dbapi if isinstance(dbapi, _InlineDBAPI) else None

    def _on_asyncpg(self) -> bool:
        return self.sync_engine.dialect.driver == "asyncpg"

    async def start(self, is_ctxmanager: bool = False) -> InlineAsyncConnection:
        pool = self.sync_engine.pool
        idle = isinstance(pool, QueuePool) and pool.checkedin() > 0
        if self.sync_connection is None and idle and (self._inline_dbapi() or self._on_asyncpg()):
            try:
                self.sync_connection = self._assign_proxied(self.sync_engine.connect())
                return self
            except _NeedsGreenlet:
                pass
        await super().start(is_ctxmanager)
        return self

    def _closes_inline(self, sync: Connection) -> bool:
        if self._inline_dbapi():
            return True
        if not self._on_asyncpg():
            return False
        pool = self.sync_engine.pool
        if not isinstance(pool, QueuePool) or pool.checkedin() >= pool.size():
            return False  # the pool closes what it cannot keep: asyncpg's close awaits
        adapted = sync._dbapi_connection
        driver: Any = adapted.dbapi_connection if adapted is not None else None
        return driver is None or driver._transaction is None  # nothing to roll back, which would await

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        sync = self.sync_connection
        if sync is not None and self._closes_inline(sync):
            sync.close()
            return
        await super().__aexit__(type_, value, traceback)

    async def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        sync = self.sync_connection
        if execution_options is None and sync is not None:
            dbapi = sync.dialect.dbapi
            if isinstance(dbapi, _InlineDBAPI):
                if not dbapi.gated or sync.in_transaction():
                    result = statements.run(sync, statement, parameters)
                    return sync.execute(statement, parameters) if result is None else result
            elif (awaited := await statements.run_on_asyncpg(sync, statement, parameters)) is not None:
                return awaited
        return await super().execute(statement, parameters, execution_options=execution_options)


_BUFFERED = immutabledict({"prebuffer_rows": True})  # as AsyncSession.execute asks for an ORM result


class InlineAsyncSession(AsyncSession):
    """An ``AsyncSession`` that runs inline (see ``InlineAsyncConnection``) what cannot wait. On any engine:
    beginning (``Session.begin`` acquires no connection) and closing a session whose transaction has ended
    (a request's, committed or rolled back: nothing is left to release). On an ``InlineSQLite`` engine also
    closing (rollback and check-in are plain calls) and, once its transaction holds a begun connection,
    statements, flushes and the commit. Its first statement (which checks a connection out and, writing,
    takes the gate before BEGIN) goes through SQLAlchemy's greenlet, as does the rest on PostgreSQL except
    prepared statements (``InlineAsyncConnection``), a flush with nothing to flush and the end of its
    transaction (``_InlineSessionTransaction``)."""

    def _on_inline_engine(self) -> bool:
        bind = self.sync_session.bind
        return bind is not None and isinstance(bind.dialect.dbapi, _InlineDBAPI)

    def _holds_begun_connection(self) -> bool:
        if not self._on_inline_engine():
            return False
        root = self.sync_session.get_transaction()
        return root is not None and any(conn.in_transaction() for conn in root.connections)

    def begin(self) -> AsyncSessionTransaction:
        return _InlineSessionTransaction(self)

    async def execute(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = EMPTY_DICT,
        bind_arguments: Any = None,
        **kw: Any,
    ) -> Any:
        if not execution_options and self._holds_begun_connection():
            return self.sync_session.execute(
                statement, params, execution_options=_BUFFERED, bind_arguments=bind_arguments, **kw
            )
        return await super().execute(
            statement, params, execution_options=execution_options, bind_arguments=bind_arguments, **kw
        )

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return (await self.execute(statement, params, **kw)).scalar()  # what Session.scalar returns

    async def flush(self, objects: Any = None) -> None:
        if objects is None and self.sync_session._is_clean():
            return  # what Session.flush checks first: nothing to flush, nothing that could wait
        if self._holds_begun_connection():
            self.sync_session.flush(objects=objects)
            return
        await super().flush(objects)

    async def commit(self) -> None:
        if self._holds_begun_connection():
            self.sync_session.commit()
            return
        await super().commit()

    def _closes_inline(self) -> bool:
        return self.sync_session.get_transaction() is None or self._on_inline_engine()

    async def close(self) -> None:
        if self._closes_inline():
            self.sync_session.close()
            return
        await super().close()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self._closes_inline():  # closed inline, not in a task of its own: nothing in it waits
            self.sync_session.close()
            return
        await super().__aexit__(type_, value, traceback)


class _InlineSessionTransaction(AsyncSessionTransaction):
    """``InlineAsyncSession.begin()``: begun inline on any engine; committed or rolled back inline when it
    holds a begun connection of an ``InlineSQLite`` engine; on asyncpg, the end of a transaction on one
    connection is asyncpg's COMMIT (of a clean session) or ROLLBACK awaited in the calling coroutine (no
    greenlet: SQLAlchemy's part of it then awaits nothing).

    As a context manager (``async with session.begin():``) it begins lazily: the session's transaction starts
    with its first use, as SQLAlchemy's autobegin starts it, and the context ends whatever transaction the
    session then has. A context in which nothing used the session ends without one: a request refused before
    its first statement (most refused bids) skipped beginning and rolling back a transaction that held
    nothing, a twentieth of its CPU."""

    __slots__ = ()

    async def start(self, is_ctxmanager: bool = False) -> AsyncSessionTransaction:
        if self.nested:  # a SAVEPOINT: a statement
            return await super().start(is_ctxmanager)
        sync_session = self.session.sync_session
        if is_ctxmanager and sync_session.get_transaction() is None:
            return self  # begun by the session's first use; ended in __aexit__
        self.sync_transaction = self._assign_proxied(sync_session.begin())
        if is_ctxmanager:
            self.sync_transaction.__enter__()
        return self

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if not self.nested and self.sync_transaction is None:  # begun lazily, if at all
            sync_session = self.session.sync_session
            root = sync_session.get_transaction()
            if root is None:
                if sync_session._is_clean():
                    return  # nothing used the session: no transaction to end
                root = sync_session.begin()  # objects added and not yet flushed: committed as ever
            self.sync_transaction = root  # ended "out of band" (never entered), as SQLAlchemy allows
        if cast(InlineAsyncSession, self.session)._holds_begun_connection():
            self._sync_transaction().__exit__(type_, value, traceback)
            return
        if not self.nested and self._holds_nothing(commit=type_ is None):
            self._sync_transaction().__exit__(type_, value, traceback)  # no connection: nothing to await
            return
        if not self.nested and (conn := self._asyncpg_to_end(commit=type_ is None)) is not None:
            await self._end_on_asyncpg(conn, type_, value, traceback)
            return
        await super().__aexit__(type_, value, traceback)

    def _root_to_end(self, *, commit: bool) -> Any:
        """The session's root transaction when it is active and, to commit, the session has nothing left to
        flush (a flush may need the greenlet); else None."""
        sync_session = self.session.sync_session
        root = sync_session.get_transaction()
        if root is None or not root.is_active or (commit and not sync_session._is_clean()):
            return None
        return root

    def _holds_nothing(self, *, commit: bool) -> bool:
        """Whether the transaction never took a connection (a request refused before its first statement):
        then it ends without touching a database."""
        root = self._root_to_end(commit=commit)
        return root is not None and not root.connections

    def _asyncpg_to_end(self, *, commit: bool) -> Any:
        """The session's one connection, when it is an asyncpg connection in a transaction: ending the
        transaction then awaits asyncpg's COMMIT or ROLLBACK alone."""
        root = self._root_to_end(commit=commit)
        if root is None or len(root.connections) != 1:
            return None
        conn = next(iter(root.connections))
        adapted = conn._dbapi_connection
        if conn.invalidated or adapted is None or not isinstance(adapted.dbapi_connection, _ASYNCPG):
            return None
        return conn if adapted.dbapi_connection._transaction is not None else None

    async def _end_on_asyncpg(self, conn: Any, type_: Any, value: Any, traceback: Any) -> None:
        """COMMIT (or, leaving on an exception, ROLLBACK) awaited on asyncpg in the calling coroutine, then
        SQLAlchemy's own end of the session's transaction, inline: the driver's transaction is gone, so
        nothing in it awaits (``after_commit`` and the other listeners run as always), unless the pool, full,
        is to close the connection it gets back (asyncpg's close awaits: then in a greenlet). A failed COMMIT
        or ROLLBACK goes through SQLAlchemy's handling (translated, ``handle_error``, a lost connection
        invalidated) and the session's rollback, in a greenlet, as SQLAlchemy's own would."""
        adapt: Any = conn._dbapi_connection.dbapi_connection
        end = adapt._transaction.commit if type_ is None else adapt._transaction.rollback
        try:
            try:
                await adapt._call_and_discard(end)
            except Exception as error:
                adapt._handle_exception(error)  # raises the DB-API error SQLAlchemy's adapter would
        except BaseException as error:
            try:
                await greenlet_spawn(statements.handle_dbapi_error, conn, error, None, None)
            except BaseException as raised:
                await greenlet_spawn(
                    self._sync_transaction().__exit__, type(raised), raised, raised.__traceback__
                )
                raise
            raise  # not reached: SQLAlchemy raised its own error
        pool: Any = conn.engine.pool
        if pool.checkedin() < pool.size():  # the session's close queues the connection in the pool: inline
            self._sync_transaction().__exit__(type_, value, traceback)
        else:  # an overflow connection, closed on check-in: asyncpg's close awaits
            await greenlet_spawn(self._sync_transaction().__exit__, type_, value, traceback)


def _sqlite_engine(
    url: str, *, begin: str | None, pool_size: int, gate: WriteGate | None = None
) -> AsyncEngine:
    """``begin``: the statement that opens a transaction, or None for an autocommit (read) engine. A file
    database's connections run inline (``InlineSQLite``); ``gate``: the write engine's ``WriteGate``."""
    options: dict[str, Any] = {}
    if begin is None:
        options = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
    if (database := _sqlite_file(url)) is not None:
        options["module"] = _InlineDBAPI(database, gated=gate is not None)
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        pool_use_lifo=True,  # InlineAsyncConnection: a reconnection handed to the greenlet
        **options,
    )

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


# PostgreSQL: how many autocommit connections a process keeps between one-statement reads and writes
# (``Database._one_row``). They count against the pool's limit (its size plus its overflow), whose rest
# serves the requests admitted at once (as many as the pool's size, ``app.kit.admission``) and the work
# outside requests.
KEPT_CONNECTIONS = 4


@dataclass
class Database:
    """The write engine, and for SQLite a separate read engine with deferred transactions."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    # SQLite file: the engine of the one connection ``read_first`` keeps checked out (a pool of its own, so
    # it never takes one the read pool's other users wait for), and that connection with its process's pid.
    lookup_engine: AsyncEngine | None = None
    _shared: tuple[int, Connection] | None = field(default=None, init=False, repr=False, compare=False)
    _opening: bool = field(default=False, init=False, repr=False, compare=False)
    # PostgreSQL: autocommit connections kept between one-statement reads and writes (``_one_row``), with
    # the pid of the process that checked them out.
    _kept: tuple[int, list[InlineAsyncConnection]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def is_sqlite(self) -> bool:
        return self.write_engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @property
    def request_slots(self) -> int | None:
        """How many requests of this process can use the database at once without waiting for a connection
        (``app.kit.admission`` queues the others): PostgreSQL's pool size. None on SQLite, where a request's
        statements run inline and never wait for a connection."""
        if self.is_sqlite:
            return None
        size: int = self.write_engine.sync_engine.pool.size()  # type: ignore[attr-defined]
        return size

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits on success, rolls back on any exception."""
        async with self.write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled read connection (autocommit) for Core statements: what ``read`` gives without the ORM
        session around it, which costs more CPU than a short statement (hot paths: the principal, the clock,
        an auction's state)."""
        async with InlineAsyncConnection(self.read_engine) as conn:
            yield conn

    async def read_first(self, statement: Any, params: dict[str, Any]) -> Any:
        """The first row of a read (autocommit), or None: what ``read_connection`` gives, for the one-row
        reads every request makes (its caller). On a SQLite file a prepared statement (``app.kit.statements``)
        runs on a connection this process keeps checked out for them (``lookup_engine``), with no checkout and
        check-in around it (a third of such a read's CPU): it runs to its last row in one call, so reads of
        concurrent requests never interleave on it. Anything else goes through ``read_connection``."""
        shared = await self._shared_reader()
        if shared is not None:
            try:
                result = statements.run(shared, statement, params)
            except BaseException:
                self._drop_shared_reader()  # a fresh one next time, should this one be broken
                raise
            if result is not None:
                return result.first()
        if not self.is_sqlite:
            return await self._one_row(statement, params)
        async with self.read_connection() as conn:
            return (await conn.execute(statement, params)).first()

    async def run_alone(self, statement: Any, params: dict[str, Any]) -> Any:
        """PostgreSQL: run one statement alone in autocommit, a transaction of its own (a read, or a write
        composed to need no other, ``app.kit.compose``), on a pooled connection; its first row, or None."""
        if self.is_sqlite:
            raise NotImplementedError("SQLite writes in BEGIN IMMEDIATE transactions (Database.transaction)")
        return await self._one_row(statement, params)

    async def _one_row(self, statement: Any, params: dict[str, Any]) -> Any:
        """PostgreSQL: the first row of one statement in autocommit, on a connection this process keeps
        checked out between such statements (up to ``KEPT_CONNECTIONS``), else on one checked out for it. A
        checkout and check-in cost more CPU than a one-row statement's own (SQLAlchemy's connection, its
        isolation level set and reset, the pool's events): a request made two of them, the caller's lookup
        and its own statement. A kept connection is checked before each use as the pool checks one at
        checkout (``_closed_by_server``), and one whose statement failed goes back to the pool, which
        discards it if it was lost."""
        conn = await self._take_kept()
        if conn is None:
            conn = await InlineAsyncConnection(self.read_engine).start()
        try:
            row = (await conn.execute(statement, params)).first()
        except BaseException as error:
            await conn.__aexit__(type(error), error, error.__traceback__)
            raise
        kept = self._kept_here()
        if len(kept) < KEPT_CONNECTIONS and not conn.sync_connection.invalidated:  # type: ignore[union-attr]
            kept.append(conn)
        else:
            await conn.__aexit__(None, None, None)
        return row

    @property
    def kept_connections(self) -> int:
        """How many connections this process keeps checked out of the pool for one-statement reads and writes
        (``_one_row``; a SQLite file's ``read_first`` keeps its own in ``lookup_engine``'s pool)."""
        return len(self._kept_here())

    def _kept_here(self) -> list[InlineAsyncConnection]:
        """The kept connections of this process (none it inherited: they are its parent's)."""
        pid = os.getpid()
        if self._kept is None or self._kept[0] != pid:
            self._kept = (pid, [])
        return self._kept[1]

    async def _take_kept(self) -> InlineAsyncConnection | None:
        kept = self._kept_here()
        while kept:
            conn = kept.pop()
            sync = conn.sync_connection
            adapted = sync._dbapi_connection if sync is not None else None
            driver = adapted.driver_connection if adapted is not None else None
            if driver is not None and not _closed_by_server(driver):
                return conn
            # Lost while kept (the server closed it): discarded, and its place in the pool freed.
            await conn.invalidate()
            await conn.close()
        return None

    async def _shared_reader(self) -> Connection | None:
        """The kept connection; None (read through the pool) while another request is opening it."""
        if self.lookup_engine is None or self._opening:
            return None
        pid, held = os.getpid(), self._shared
        if held is not None and held[0] == pid:
            if not held[1].invalidated:
                return held[1]
            self._drop_shared_reader()
        self._opening = True  # the engine's pool has the one connection: no second request waits for it
        try:
            conn = await InlineAsyncConnection(self.lookup_engine).start()
        finally:
            self._opening = False
        self._shared = (pid, cast(Connection, conn.sync_connection))
        return self._shared[1]

    def _drop_shared_reader(self) -> None:
        held, self._shared = self._shared, None
        if held is not None and held[0] == os.getpid():
            held[1].close()  # inline: a read connection's check-in is a plain call

    async def dispose(self) -> None:
        self._drop_shared_reader()
        if self._kept is not None and self._kept[0] == os.getpid():
            for conn in self._kept[1]:
                await conn.close()
        self._kept = None
        if self.lookup_engine is not None:
            await self.lookup_engine.dispose()
        await self.write_engine.dispose()
        if self.read_engine.sync_engine.pool is not self.write_engine.sync_engine.pool:
            await self.read_engine.dispose()


def create_database(url: str, *, pool_size: int = 10) -> Database:
    lookup = None
    if url.startswith("sqlite"):
        ensure_sqlite_directory(url)
        database = _sqlite_file(url)
        gate = WriteGate(database, SQLITE_BUSY_TIMEOUT_MS / 1000) if database is not None else None
        write = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=SQLITE_WRITE_POOL_SIZE, gate=gate)
        read = _sqlite_engine(url, begin=None, pool_size=pool_size)
        if database is not None:
            lookup = _sqlite_engine(url, begin=None, pool_size=1)
    else:
        write = _postgres_engine(url, pool_size=pool_size)
        read = write.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        url=url,
        write_engine=write,
        read_engine=read,
        write_sessions=async_sessionmaker(
            write, class_=InlineAsyncSession, expire_on_commit=False, autoflush=False
        ),
        read_sessions=async_sessionmaker(
            read, class_=InlineAsyncSession, expire_on_commit=False, autoflush=False
        ),
        lookup_engine=lookup,
    )


# --- when the database goes away (see the module docstring) ------------------------------------------------

_FRESH = "fresh_connection"


def _postgres_engine(url: str, *, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
        pool_use_lifo=True,  # InlineAsyncConnection: a reconnection handed to the greenlet
        connect_args={"timeout": PG_CONNECT_TIMEOUT_SECONDS},
    )
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if not in_greenlet():
            raise _NeedsGreenlet()  # asked by an inline checkout (InlineAsyncConnection.start): connecting awaits
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as error:  # refused, unreachable, timed out: asyncpg's, untranslated by SQLAlchemy
            raise DatabaseUnavailable() from error

    @event.listens_for(sync_engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return
        if _closed_by_server(dbapi_conn.driver_connection):
            raise sa_exc.DisconnectionError("the server closed this pooled connection")

    @event.listens_for(sync_engine, "handle_error")
    def _lost(context: ExceptionContext) -> None:
        if context.is_disconnect:
            return
        if any(_ends_session(e) for e in _causes(context.original_exception)) or _gone(context.connection):
            context.is_disconnect = True

    return engine


def _gone(connection: Any) -> bool:
    """Whether the statement's connection was closed by the server, whatever error asyncpg raised for it
    (during a shutdown it may be "another operation is in progress" rather than a connection error)."""
    if connection is None or connection.invalidated:
        return False
    try:
        driver = connection.connection.driver_connection
    except sa_exc.SQLAlchemyError:
        return False
    return driver is not None and _closed_by_server(driver)


def _closed_by_server(connection: Any) -> bool:
    """Whether an idle asyncpg connection was closed by the server, known without a round trip: asyncpg saw
    it, or its socket is readable although nothing was asked (the server's FATAL goodbye or EOF, which the
    event loop has not read yet). A false alarm costs one reconnection."""
    if connection.is_closed():
        return True
    transport = getattr(connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


# PostgreSQL SQLSTATEs: the server ended the session (admin_shutdown, crash_shutdown, idle_session_timeout)
# or would not start one (cannot_connect_now: starting up or shutting down); class 08 is "connection
# exception", class 53 "insufficient resources" (too_many_connections, disk_full, out_of_memory).
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P05"})
_UNAVAILABLE_STATES = _SESSION_ENDED | {"57P03"}
_UNAVAILABLE_CLASSES = ("08", "53")
# SQLite primary result codes: locked past the busy timeout, or a file it cannot use.
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, then what it wraps: SQLAlchemy's ``orig`` (the driver's error), the driver's own cause."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return chain


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def _ends_session(exc: BaseException) -> bool:
    """A PostgreSQL error after which the connection is gone, whether or not asyncpg has noticed yet."""
    state = _sqlstate(exc)
    return (state is not None and (state.startswith("08") or state in _SESSION_ENDED)) or getattr(
        exc, "severity", None
    ) == "FATAL"


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be used right now (lost or refused connection, no pooled
    connection free in time, SQLite locked past its busy timeout or its file unusable), as opposed to a
    bug or a refused statement. An ``OSError`` counts only as the cause of a database error: alone, it may
    be anything (a missing file)."""
    for depth, error in enumerate(_causes(exc)):
        if isinstance(error, DatabaseUnavailable | sa_exc.TimeoutError):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        state = _sqlstate(error)
        if state is not None and (state in _UNAVAILABLE_STATES or state.startswith(_UNAVAILABLE_CLASSES)):
            return True
        if getattr(error, "severity", None) == "FATAL":
            return True
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(error, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _SQLITE_UNAVAILABLE:
            return True
        if depth > 0 and isinstance(error, OSError):
            return True
    return False


_last_warned: dict[str, tuple[float, int]] = {}


def warn_unavailable(logger: logging.Logger, where: str, exc: BaseException) -> None:
    """Log that the database is unavailable, as one warning line without a traceback, at most once per
    ``UNAVAILABLE_LOG_SECONDS`` for each ``where`` in this process (counting the ones left out)."""
    now = time.monotonic()
    last, quiet = _last_warned.get(where, (float("-inf"), 0))
    if now - last < UNAVAILABLE_LOG_SECONDS:
        _last_warned[where] = (last, quiet + 1)
        return
    _last_warned[where] = (now, 0)
    root = _causes(exc)[-1]
    reason = f"{type(root).__name__}: {str(root).splitlines()[0] if str(root) else ''}"[:300]
    more = f" ({quiet} more since the last message)" if quiet else ""
    logger.warning("database unavailable (%s): %s%s", where, reason, more)


_CONNECTED = "holds_connection"


@event.listens_for(Session, "after_begin")
def _mark_connected(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[_CONNECTED] = True


_CONNECTION = "connection"


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """``session.connection()``, remembered with the transaction it belongs to: the bid path asks for it in
    six places, and each ask walks the session's transaction state through a greenlet switch.

    The transaction is remembered by a weak reference: it refers to its session, and the session's ``info``
    holding it would make a reference cycle of every write request's session, transaction and connection,
    which only the garbage collector frees (49 objects per bid, promoted to the oldest generation while
    requests are in flight: a full collection of ~20 ms every second or two under load)."""
    transaction = session.sync_session.get_transaction()
    remembered = session.info.get(_CONNECTION)
    if transaction is not None and remembered is not None and remembered[0]() is transaction:
        conn: AsyncConnection = remembered[1]
        return conn
    proxy = await session.connection()
    conn = InlineAsyncConnection(proxy.engine, proxy.sync_connection)
    session.info[_CONNECTION] = (weakref.ref(session.sync_session.get_transaction()), conn)
    return conn


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


def dialect_name(reader: AsyncSession | AsyncConnection) -> str:
    """``"sqlite"`` or ``"postgresql"``: the dialect of the engine a session or connection is bound to."""
    if isinstance(reader, AsyncConnection):
        return str(reader.dialect.name)
    return str(reader.get_bind().dialect.name)
