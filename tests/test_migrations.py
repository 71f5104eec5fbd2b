"""Migrations are the only way the schema is made: each revision goes up, down and up again (stairway),
and the head matches the models (no drift), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from app.kit.migrate import alembic_config, include_name
from app.models import Base
from tests.conftest import BACKENDS, PG_ADMIN_URL, _create_pg_database, _drop_pg_database


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def _diff(url: str) -> list[object]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:

        def compare(sync_conn):  # type: ignore[no-untyped-def]
            ctx = MigrationContext.configure(
                sync_conn, opts={"include_name": include_name, "compare_type": True}
            )
            return compare_metadata(ctx, Base.metadata)

        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
        return
    assert PG_ADMIN_URL
    name = f"exchange_stairway_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await _create_pg_database(PG_ADMIN_URL, name)
    yield url
    await _drop_pg_database(PG_ADMIN_URL, name)


async def test_stairway_and_no_drift(empty_database: str) -> None:
    cfg = alembic_config(empty_database)
    previous = "base"
    for revision in _revisions():
        await asyncio.to_thread(command.upgrade, cfg, revision)
        await asyncio.to_thread(command.downgrade, cfg, previous)
        await asyncio.to_thread(command.upgrade, cfg, revision)
        previous = revision
    assert await _diff(empty_database) == []
