"""app.kit.db.connection_of: a session's connection, asked once per transaction; never one of a transaction
that has ended."""

from __future__ import annotations

from sqlalchemy import text

from app.kit.db import Database, connection_of


async def test_one_connection_per_transaction_and_a_fresh_one_after_it_ends(db: Database) -> None:
    async with db.write_sessions() as session:
        first = await connection_of(session)
        assert await connection_of(session) is first
        assert first is await session.connection()
        await session.commit()
        after_commit = await connection_of(session)
        assert after_commit is not first and after_commit is await session.connection()
        assert await after_commit.scalar(text("SELECT 1")) == 1
        await session.rollback()
        after_rollback = await connection_of(session)
        assert after_rollback is not after_commit
        assert await after_rollback.scalar(text("SELECT 2")) == 2
        async with session.begin_nested():  # a savepoint keeps its transaction's connection
            assert await connection_of(session) is after_rollback
