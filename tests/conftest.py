"""Test harness: every database test runs on SQLite (a file, never ``:memory:``) and on PostgreSQL.

Each backend gets a fresh database built by ``alembic upgrade head`` once per session; every test starts
from empty tables. ``EXCHANGE_TEST_BACKENDS`` picks the backends (default ``sqlite,postgresql``);
PostgreSQL needs ``EXCHANGE_TEST_POSTGRES_URL`` (an admin URL; ``scripts/test.sh`` starts a server and sets
it). A backend that is asked for and not configured fails the run: it is never silently skipped.

No test reads the wall clock for a business rule (SPEC §21): every test starts with the sandbox business clock
at ``EXCHANGE_TEST_BUSINESS_TIME`` (an ISO instant with offset; default ``DEFAULT_BUSINESS_TIME``, an ordinary
Wednesday), written as the clock's offset when the database is emptied. ``scripts/test.sh`` runs the calendar-
and deadline-dependent tests (marker ``business_calendar``) again with the clock pinned to a Saturday, to
31 December and to the eve of the Spring Festival.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.ext.asyncio import engine as async_engine
from sqlalchemy.ext.asyncio import session as async_session

from app.audit import guards
from app.config import Settings
from app.kit.clock import utcnow
from app.kit.db import Database, create_database
from app.kit.migrate import upgrade
from app.main import create_app
from app.models import Base
from app.models.platform import SandboxClock
from tests import sandbox
from tests.world import world  # noqa: F401  (the fixture, pytest.mark.world: tests/world.py)

# Property tests judge rules, not speed: on a loaded machine (CI shares its cores) an example may take longer
# than Hypothesis's 200 ms deadline, or generating inputs may look "too slow", without anything being wrong.
settings.register_profile(
    "exchange", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("exchange")

BACKENDS = [
    b.strip() for b in os.environ.get("EXCHANGE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()
]
PG_ADMIN_URL = os.environ.get("EXCHANGE_TEST_POSTGRES_URL")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
DEFAULT_BUSINESS_TIME = "2026-11-25T10:00:00+08:00"


def business_start() -> datetime:
    """The business instant every test starts at (``EXCHANGE_TEST_BUSINESS_TIME``)."""
    raw = os.environ.get("EXCHANGE_TEST_BUSINESS_TIME") or DEFAULT_BUSINESS_TIME
    start = datetime.fromisoformat(raw)
    if start.tzinfo is None:
        raise pytest.UsageError(f"EXCHANGE_TEST_BUSINESS_TIME needs an offset: {raw!r}")
    return start


# The tests whose outcome depends on the business day (working-day deadlines, listing periods, notices,
# signing and payment deadlines, closes): ``scripts/test.sh`` runs them again on pinned days.
BUSINESS_CALENDAR_TESTS = (
    "tests/kit/test_workdays.py",
    "tests/calendar/",
    "tests/listings/",
    "tests/registrations/",
    "tests/negotiation/",
    "tests/contracts/",
    "tests/settlement/",
    "tests/demands/",  # deadlines are Shanghai days after today
    "tests/dossier/",  # notices, signing and payment deadlines on the way to each item
    "tests/auctions/test_closing.py",
    "tests/auctions/test_end_to_end.py",
    "tests/test_end_to_end.py",
)
# Files under those directories that no business day can change (pure rules with explicit dates, search
# relevance, capital numerals, the fonts of a PDF): the pinned days skip them.
DAY_INDEPENDENT_TESTS = (
    "tests/listings/test_rules.py",
    "tests/listings/test_search.py",
    "tests/contracts/test_capital_numerals.py",
    "tests/contracts/test_pdf.py",
)


# The longest test files (``--durations``), longest first: they start first, so that a parallel run (each file in
# one worker, scripts/test.sh) does not end with one worker alone on one of them while the others are idle.
LONGEST_FIRST = (
    "tests/test_api_schema.py",
    "tests/accounts/test_refresh_tokens.py",
    "tests/auctions/test_concurrency.py",
    "tests/auctions/test_closing.py",
    "tests/trials/test_offers.py",
    "tests/auctions/test_fanout.py",
    "tests/auctions/test_english.py",
    "tests/web/test_sessions.py",
    "tests/test_hostile_queries.py",
    "tests/listings/test_search.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    rank: dict[pytest.Item, int] = {}
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if where.startswith(BUSINESS_CALENDAR_TESTS) and where not in DAY_INDEPENDENT_TESTS:
            item.add_marker(pytest.mark.business_calendar)
        rank[item] = LONGEST_FIRST.index(where) if where in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank.__getitem__)  # stable: the rest keep their order


def pytest_configure(config: pytest.Config) -> None:
    unknown = set(BACKENDS) - {"sqlite", "postgresql"}
    if unknown:
        raise pytest.UsageError(f"unknown EXCHANGE_TEST_BACKENDS: {sorted(unknown)}")
    if "postgresql" in BACKENDS and not PG_ADMIN_URL:
        raise pytest.UsageError(
            "PostgreSQL tests need EXCHANGE_TEST_POSTGRES_URL (run scripts/test.sh, which starts a server), "
            "or set EXCHANGE_TEST_BACKENDS=sqlite to run the SQLite half only."
        )


@dataclass
class Backend:
    name: str
    url: str
    db: Database
    tables: list[str]

    async def reset(self) -> None:
        async with self.db.write_engine.begin() as conn:
            if self.name == "postgresql":
                # A statement a finished test left running on this database (a live stream cut mid-read)
                # would hold its table lock and make TRUNCATE wait forever: end such sessions first.
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
                    )
                )
                # TRUNCATE's cost grows with the tables it names (each gets new files): name only those a test
                # wrote to, found in one round trip.
                used = (
                    await conn.execute(
                        text(
                            " UNION ALL ".join(
                                f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in self.tables
                            )
                        )
                    )
                ).scalars()
                names = ", ".join(f'"{t}"' for t in used)
                if names:
                    await conn.execute(text(f"TRUNCATE {names} CASCADE"))
            else:
                # Emptying the append-only audit table needs its guards lifted for the moment.
                for ddl in guards.SQLITE_DROP:
                    await conn.execute(text(ddl))
                for table in reversed(self.tables):
                    await conn.execute(text(f'DELETE FROM "{table}"'))
                for ddl in guards.SQLITE_CREATE:
                    await conn.execute(text(ddl))
        await pin_business_clock(self.db)


async def pin_business_clock(db: Database, at: datetime | None = None) -> None:
    """Move the sandbox business clock so that it reads ``at`` (default: ``business_start()``) now."""
    offset = ((at or business_start()) - utcnow()).total_seconds()
    async with db.transaction() as session:
        row = await session.get(SandboxClock, 1)
        if row is None:
            session.add(SandboxClock(id=1, offset_seconds=offset))
        else:
            row.offset_seconds = offset


async def _create_pg_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


class Backends:
    """Each backend's database, made on first use and kept for the whole session. pytest keeps one value of a
    parametrized session fixture at a time and remakes it whenever the parameter changes; a parallel run sends
    each worker whole files, whose tests alternate SQLite and PostgreSQL, so ``backend`` must be cheap to remake."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.made: dict[str, Backend] = {}
        self.pg_name = f"exchange_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def get(self, name: str) -> Backend:
        if name not in self.made:
            if name == "sqlite":
                path: Path = self.tmp_path_factory.mktemp("sqlite") / "exchange.db"
                url = f"sqlite+aiosqlite:///{path}"
            else:
                assert PG_ADMIN_URL
                url = await _create_pg_database(PG_ADMIN_URL, self.pg_name)
            await asyncio.to_thread(upgrade, url)
            # read_versions only counts (triggers write it): emptied, it would cache nothing until reseeded.
            tables = [t.name for t in Base.metadata.sorted_tables if t.name != "read_versions"]
            self.made[name] = Backend(name=name, url=url, db=create_database(url), tables=tables)
        return self.made[name]

    async def close(self) -> None:
        for made in self.made.values():
            await made.db.dispose()
        if "postgresql" in self.made:
            assert PG_ADMIN_URL
            await _drop_pg_database(PG_ADMIN_URL, self.pg_name)


@pytest.fixture(scope="session")
async def backends(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Backends]:
    made = Backends(tmp_path_factory)
    yield made
    await made.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(request: pytest.FixtureRequest, backends: Backends) -> Backend:
    return await backends.get(request.param)


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    await backend.reset()
    yield backend.db


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "secret_key": SECRET,
        "database_url": url,
        "sandbox": True,
        "fast_password_hashing": True,
        "log_json": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def app(backend: Backend, db: Database):  # type: ignore[no-untyped-def]
    return create_app(make_settings(backend.url), db=db)


@pytest.fixture
async def client(app, db: Database) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        sandbox.use_database(c, db)  # moving the sandbox clock needs an operator (tests/sandbox.py)
        yield c


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions SQLAlchemy's AsyncConnection and AsyncSession ran in a greenlet, in order:
    a statement that took the hot path's shortcut (app.kit.statements) or ran inline adds none."""
    seen: list[str] = []
    real = async_engine.greenlet_spawn

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(async_engine, "greenlet_spawn", counting)
    monkeypatch.setattr(async_session, "greenlet_spawn", counting)
    return seen


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_network() -> Iterator[None]:
    yield
