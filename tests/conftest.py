"""Test harness: every database test runs on SQLite (a file, never ``:memory:``) and on PostgreSQL.

Each backend gets a fresh database built by ``alembic upgrade head`` once per session; every test starts
from empty tables. ``EXCHANGE_TEST_BACKENDS`` picks the backends (default ``sqlite,postgresql``);
PostgreSQL needs ``EXCHANGE_TEST_POSTGRES_URL`` (an admin URL; ``scripts/test.sh`` starts a server and sets
it). A backend that is asked for and not configured fails the run: it is never silently skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import guards
from app.config import Settings
from app.kit.db import Database, create_database
from app.kit.migrate import upgrade
from app.main import create_app
from app.models import Base

BACKENDS = [
    b.strip() for b in os.environ.get("EXCHANGE_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()
]
PG_ADMIN_URL = os.environ.get("EXCHANGE_TEST_POSTGRES_URL")
SECRET = "test-secret-key-that-is-long-enough-0123456789"


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
                await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in self.tables) + " CASCADE"))
            else:
                # Emptying the append-only audit table needs its guards lifted for the moment.
                for ddl in guards.SQLITE_DROP:
                    await conn.execute(text(ddl))
                for table in reversed(self.tables):
                    await conn.execute(text(f'DELETE FROM "{table}"'))
                for ddl in guards.SQLITE_CREATE:
                    await conn.execute(text(ddl))


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


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    name: str = request.param
    pg_name = f"exchange_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    if name == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "exchange.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        assert PG_ADMIN_URL
        url = await _create_pg_database(PG_ADMIN_URL, pg_name)
    await asyncio.to_thread(upgrade, url)
    db = create_database(url)
    tables = [t.name for t in Base.metadata.sorted_tables]
    yield Backend(name=name, url=url, db=db, tables=tables)
    await db.dispose()
    if name == "postgresql":
        assert PG_ADMIN_URL
        await _drop_pg_database(PG_ADMIN_URL, pg_name)


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
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_network() -> Iterator[None]:
    yield
