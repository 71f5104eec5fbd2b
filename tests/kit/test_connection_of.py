"""app.kit.db.connection_of: a session's connection, asked once per transaction; never one of a transaction
that has ended; and remembering it makes no reference cycle of the session."""

from __future__ import annotations

import gc
import weakref

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


async def test_a_session_that_asked_for_its_connection_is_freed_without_the_garbage_collector(
    db: Database,
) -> None:
    """Every write request asks for its session's connection; were the session, its transaction and the
    connection a reference cycle, each request would leave them to the garbage collector, which under load
    promotes them to its oldest generation while requests are in flight and then walks it in full."""
    gc.collect()
    gc.disable()
    try:
        async with db.write_sessions() as session:
            await connection_of(session)
            transaction = session.sync_session.get_transaction()
            assert transaction is not None
            freed = [weakref.ref(session.sync_session), weakref.ref(transaction)]
            await (await connection_of(session)).execute(text("SELECT 1"))
            await session.commit()
            del transaction
        del session
        assert [ref() for ref in freed] == [None, None]
    finally:
        gc.enable()
