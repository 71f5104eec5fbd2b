"""The database going away (issue item 11): a lost, refused or locked database is a 503 problem with code
``database_unavailable`` and a ``Retry-After`` header on every route, never a 500; a pooled connection that
the server closed is replaced before anything is sent on it; the sweeper and the live streams outlive an
outage and go on once the database is back.

PostgreSQL connections are killed with ``pg_terminate_backend`` from an admin connection: only this test's
own backends (each test process has a database of its own), never the server."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import sqlite3
import threading
import uuid
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import Float, bindparam, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.auctions import events
from app.deadlines import sweeper
from app.kit import db as kit_db
from app.kit.db import Database, connection_of, create_database, is_unavailable
from app.kit.errors import DatabaseUnavailable
from app.kit.statements import prepared
from app.main import create_app
from tests import factories as f
from tests.auctions import helpers as h
from tests.conftest import Backend, make_settings
from tests.live import free_port


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outage warnings are rate-limited per process: each test starts with none logged."""
    monkeypatch.setattr(kit_db, "_last_warned", {})


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "database_unavailable"
    assert 1 <= int(r.headers["retry-after"]) <= 10


def _sqlite_error(message: str, code: int) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


# --- what counts as "the database is unavailable" ---------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DatabaseUnavailable(), True),
        (sa_exc.TimeoutError("QueuePool limit reached"), True),  # the pool had no connection to give
        (sa_exc.OperationalError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation"), True),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients"), True),
        (sa_exc.OperationalError(None, None, _sqlite_error("database is locked", 5), False), True),
        (sa_exc.OperationalError(None, None, _sqlite_error("unable to open database file", 14), False), True),
        (sa_exc.DatabaseError(None, None, _sqlite_error("file is not a database", 26), False), True),
        (kit_db._database_locked(), True),  # the write gate's own timeout
        # Bugs and refused input stay what they are (a 500 is logged with its traceback, a 409 ...).
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"), False), False),
        (sa_exc.OperationalError(None, None, _sqlite_error("no such table: x", 1), False), False),
        (sa_exc.ProgrammingError("SELEC", {}, Exception("syntax error"), False), False),
        (OSError("a font file is missing"), False),  # an OSError is the database's only from its driver
        (ValueError("x"), False),
    ],
)
def test_what_counts_as_unavailable(error: BaseException, expected: bool) -> None:
    assert is_unavailable(error) is expected


# --- 503 on every kind of route while the database is down ------------------------------------------------


@pytest.fixture
def down_url(backend: Backend, tmp_path: Path) -> str:
    """A database that cannot be used: a closed port (PostgreSQL), a file that is not a database (SQLite)."""
    if backend.name == "postgresql":
        return f"postgresql+asyncpg://exchange@127.0.0.1:{free_port()}/exchange"
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a SQLite database " * 200)
    return f"sqlite+aiosqlite:///{path}"


async def test_a_database_that_is_down_is_503_everywhere(down_url: str) -> None:
    down = create_database(down_url)
    try:
        async with _client(create_app(make_settings(down_url), db=down)) as client:
            _assert_unavailable(await client.get("/api/v1/listings"))
            _assert_unavailable(await client.get(f"/api/v1/auctions/{uuid.uuid4()}"))
            _assert_unavailable(await client.get(f"/api/v1/auctions/{uuid.uuid4()}/events"))
            _assert_unavailable(await client.get("/api/v1/me", headers={"X-API-Key": "k" * 40}))
            r = await client.post(
                "/api/v1/sandbox/clock", json={"advance_seconds": 1}, headers={"X-API-Key": "k" * 40}
            )
            _assert_unavailable(r)
            r = await client.post(
                "/api/v1/auth/token", data={"username": "a@b.example.cn", "password": f.PASSWORD}
            )
            _assert_unavailable(r)
            r = await client.post(
                "/api/v1/organizations",
                json={
                    "name": "宕机测试",
                    "kind": "enterprise",
                    "credit_code": f.credit_code(987_654),
                    "admin": {"email": "down@down.example.cn", "password": f.PASSWORD, "name": "某"},
                },
            )
            _assert_unavailable(r)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert 1 <= int(ready.headers["retry-after"]) <= 10
    finally:
        await down.dispose()


async def test_a_pool_with_no_free_connection_is_503(backend: Backend, db: Database) -> None:
    engine = create_async_engine(backend.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    small = Database(
        url=backend.url,
        write_engine=engine,
        read_engine=engine,
        write_sessions=kit_db.async_sessionmaker(engine, expire_on_commit=False),
        read_sessions=kit_db.async_sessionmaker(engine, expire_on_commit=False),
    )
    try:
        async with _client(create_app(make_settings(backend.url), db=small)) as client:
            async with engine.connect() as held:
                await held.execute(text("SELECT 1"))
                _assert_unavailable(await client.get("/api/v1/listings"))
            assert (await client.get("/api/v1/listings")).status_code == 200
    finally:
        await engine.dispose()


# --- SQLite: locked past the busy timeout -------------------------------------------------------------------


async def test_sqlite_locked_past_the_timeout_is_503_then_recovers(
    backend: Backend, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite's locks")
    monkeypatch.setattr(kit_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    mine = create_database(backend.url)
    path = str(kit_db.make_url(backend.url).database)
    try:
        async with _client(create_app(make_settings(backend.url), db=mine)) as client:

            async def sign_up() -> httpx.Response:
                n = uuid.uuid4().int % 10**8
                return await client.post(
                    "/api/v1/organizations",
                    json={
                        "name": f"锁测试{n}",
                        "kind": "enterprise",
                        "credit_code": f.credit_code(n),
                        "admin": {"email": f"lock{n}@lock.example.cn", "password": f.PASSWORD, "name": "某"},
                    },
                )

            # Another program holds SQLite's write lock: BEGIN IMMEDIATE waits the busy timeout, then gives up.
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                _assert_unavailable(await sign_up())
                assert (await client.get("/api/v1/listings")).status_code == 200  # readers are not blocked
            finally:
                other.execute("ROLLBACK")
                other.close()
            # Another process of the server holds the write gate for longer than the timeout.
            gate = open(f"{path}-writer.lock", "a+b")  # noqa: SIM115, ASYNC230
            fcntl.flock(gate.fileno(), fcntl.LOCK_EX)
            try:
                _assert_unavailable(await sign_up())
            finally:
                fcntl.flock(gate.fileno(), fcntl.LOCK_UN)
                gate.close()
            assert (await sign_up()).status_code == 201
    finally:
        await mine.dispose()


# --- PostgreSQL: connections the server closed -----------------------------------------------------------


async def _backend_pids(db: Database, n: int) -> set[int]:
    """The server pids of ``n`` pooled connections (held at once, so the pool has ``n``)."""
    async with AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(db.read()) for _ in range(n)]
        return {int(await s.scalar(text("SELECT pg_backend_pid()"))) for s in sessions}


async def _terminate(url: str, pids: set[int]) -> None:
    """Kill these backends from an admin connection and wait until they are gone."""
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):
                alive = await conn.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": list(pids)}
                )
                if not alive:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the backends did not exit")
    finally:
        await admin.dispose()


async def test_connections_killed_by_the_server_are_replaced_without_an_error(
    backend: Backend, db: Database
) -> None:
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL's server-side connection kill")
    mine = create_database(backend.url, pool_size=4)
    try:
        async with _client(create_app(make_settings(backend.url), db=mine)) as client:
            op = await f.operator(client, mine)
            pids = await _backend_pids(mine, 4)
            await _terminate(backend.url, pids)
            # Every pooled connection is dead: each request gets a live one before it sends anything.
            reads = await asyncio.gather(*[client.get("/api/v1/listings") for _ in range(4)])
            assert [r.status_code for r in reads] == [200] * 4, [r.text for r in reads]
            await _terminate(backend.url, await _backend_pids(mine, 4))
            seller = await f.organization(client, verified_by=op)  # writes, and authenticated requests
            assert seller.org_id
            await _terminate(backend.url, await _backend_pids(mine, 4))
            r = await client.get("/api/v1/me", headers=seller.headers)
            assert r.status_code == 200, r.text
            assert not (await _backend_pids(mine, 4)) & pids
    finally:
        await mine.dispose()


async def test_a_connection_lost_before_commit_is_unavailable_and_replaced(
    backend: Backend, db: Database
) -> None:
    """The COMMIT (awaited on asyncpg in the request's coroutine, app.kit.db) finds its connection gone: the
    error is SQLAlchemy's, marks the database unavailable (503) and invalidates the connection, which the
    pool replaces; nothing of the transaction was written."""
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL's server-side connection kill")
    mine = create_database(backend.url, pool_size=1)
    try:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            async with mine.transaction() as session:
                await session.execute(text("CREATE TEMPORARY TABLE lost (x INTEGER)"))
                pid = int(await session.scalar(text("SELECT pg_backend_pid()")))
                await _terminate(backend.url, {pid})
        assert is_unavailable(raised.value) and raised.value.connection_invalidated
        async with mine.transaction() as session:
            assert int(await session.scalar(text("SELECT pg_backend_pid()"))) != pid
    finally:
        await mine.dispose()


_SLEEP = prepared(select(func.pg_sleep(bindparam("p_seconds", type_=Float()))))


async def test_a_task_cancelled_in_a_commit_or_a_statement_ends_cancelled(backend: Backend) -> None:
    """A task cancelled while its COMMIT or one of its prepared statements is awaited on asyncpg in its own
    coroutine (app.kit.db, app.kit.statements) ends with ``CancelledError``, as under SQLAlchemy's own
    execution: the cancellation is not turned into another error (a worker that retries on errors would
    take it for one and never stop), and the connection, whose state is unknown, is dropped and replaced."""
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL's COMMIT and statements awaited in the calling coroutine")
    mine = create_database(backend.url, pool_size=1)
    try:
        async with mine.transaction() as session:  # COMMIT runs the deferred trigger, which sleeps
            await session.execute(text("CREATE TABLE slow_commit (x INTEGER)"))
            await session.execute(
                text(
                    "CREATE FUNCTION slow_commit_sleep() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$"
                )
            )
            await session.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER slow_commit_t AFTER INSERT ON slow_commit"
                    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_sleep()"
                )
            )

        async def commit_slowly() -> None:
            async with mine.transaction() as session:
                await session.execute(text("INSERT INTO slow_commit VALUES (1)"))

        async def sleep_in_a_statement() -> None:
            async with mine.transaction() as session:
                await (await connection_of(session)).execute(_SLEEP, {"p_seconds": 1.0})

        pool: Any = mine.write_engine.sync_engine.pool
        for work in (commit_slowly, sleep_in_a_statement):
            task = asyncio.create_task(work())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert pool.checkedout() == 0, work.__name__
            async with mine.transaction() as session:  # the pool's connection works
                assert await session.scalar(text("SELECT 1")) == 1
    finally:
        async with mine.transaction() as session:
            await session.execute(text("DROP TABLE IF EXISTS slow_commit"))
            await session.execute(text("DROP FUNCTION IF EXISTS slow_commit_sleep()"))
        await mine.dispose()


async def test_a_closed_connection_is_seen_at_checkout_without_a_round_trip(backend: Backend) -> None:
    """Even before the event loop has read the server's goodbye: the socket has something to read."""
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL's server-side connection kill")
    dsn = kit_db.make_url(backend.url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        assert not kit_db._closed_by_server(conn)  # idle and alive: no false alarm
        # Killed while this loop is blocked (the killing runs in a thread with a loop of its own).
        killer = threading.Thread(
            target=asyncio.run, args=(_terminate(backend.url, {conn.get_server_pid()}),)
        )
        killer.start()
        killer.join()
        assert not conn.is_closed()  # asyncpg has not seen it yet
        assert kit_db._closed_by_server(conn)
    finally:
        conn.terminate()


# --- the sweeper and the live streams ------------------------------------------------------------------------


class Flaky:
    """A database whose next ``failures`` reads fail as a lost connection does."""

    def __init__(self, db: Database, failures: int) -> None:
        self.db, self.failures = db, failures
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        self.reads += 1
        if self.failures > 0:
            self.failures -= 1
            raise sa_exc.InterfaceError(
                "SELECT 1", {}, Exception("connection is closed"), connection_invalidated=True
            )
        return self.db.read()


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]


async def test_the_sweeper_logs_an_outage_once_and_goes_on(
    app: Any, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = sweeper.sweep_context(app)
    flaky = Flaky(db, failures=5)
    ctx.db = flaky  # type: ignore[assignment]
    now = await sweeper.business_now(app)

    async def clock() -> Any:
        return now

    caplog.set_level(logging.WARNING)
    loop = asyncio.create_task(sweeper.sweep_loop(ctx, clock, 0.01))
    try:
        for _ in range(500):
            if flaky.reads > 8:
                break
            await asyncio.sleep(0.01)
        assert not loop.done()
        assert flaky.reads > 8, "the loop stopped sweeping"
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    logged = _records(caplog, "app.deadlines.sweeper")
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING, [r.getMessage() for r in logged]
    assert logged[0].exc_info is None  # one line, no traceback


async def test_a_stream_waits_out_an_outage(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "DATABASE_RETRY_SECONDS", 0.01, raising=False)
    case = await h.open_auction(client, db)
    assert (await h.bid(client, case, case.bidders[0], "100000.00")).status_code == 201
    flaky = Flaky(db, failures=3)
    caplog.set_level(logging.WARNING)

    async def never_due(_ends_at: Any) -> None:
        return None

    stream = events.stream(flaky, uuid.UUID(case.id), 0, close_if_due=never_due)  # type: ignore[arg-type]
    try:
        first = await asyncio.wait_for(anext(stream), 5)
    finally:
        await stream.aclose()
    assert (first.event, first.id) == ("bid", "1")
    logged = _records(caplog, "app.auctions.events")
    assert len(logged) <= 1 and all(r.exc_info is None for r in logged), [r.getMessage() for r in logged]
