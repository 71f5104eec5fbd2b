"""Prepared statements (app.kit.statements): on a SQLite file they run straight on ``sqlite3``, on
PostgreSQL on asyncpg without SQLAlchemy's greenlet, and must give what SQLAlchemy gives (the same rows,
values of the same types, the same errors); wherever the shortcut does not apply (an expanding IN, a
Python-side default, a statement listener), the same statement runs through SQLAlchemy as before."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, literal, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite

import app
import app.auctions.service
import app.deps
import app.webhooks.deliveries
from app.kit import statements
from app.kit.db import Database, connection_of
from app.kit.statements import PreparedResult, prepared
from app.models.audit import AuditEvent
from app.models.platform import CalendarYear

_EVENTS = cast(Table, AuditEvent.__table__)
_YEARS = cast(Table, CalendarYear.__table__)
_COLUMNS = (_EVENTS.c.id, _EVENTS.c.seq, _EVENTS.c.at, _EVENTS.c.data, _EVENTS.c.actor)


def _of_entity() -> Any:
    return (
        select(*_COLUMNS, literal("fixed").label("tag"))
        .where(_EVENTS.c.entity_id == bindparam("p_id"), _EVENTS.c.entity_type == "test")
        .order_by(_EVENTS.c.seq)
    )


_INSERT_EVENTS = prepared(insert(_EVENTS))
_OF_ENTITY = prepared(_of_entity())
_OF_ENTITY_UNPREPARED = _of_entity()
_RENAME = prepared(
    update(_YEARS).where(_YEARS.c.year >= bindparam("p_from")).values(updated_by=bindparam("p_by"))
)
_SEQS_IN = prepared(select(_EVENTS.c.seq).where(_EVENTS.c.seq.in_(bindparam("p_seqs", expanding=True))))
_INSERT_YEAR = prepared(insert(_YEARS))  # holidays and workdays have Python-side defaults


def _event(seq: int, at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "entity_type": "test",
        "entity_id": "e1",
        "seq": seq,
        "at": at,
        "actor": f"actor {seq}",
        "action": "tested",
        "data": {"n": seq, "text": "专利", "list": [1, None]},
        "prev_hash": "0" * 64,
        "hash": f"{seq:064d}",
    }


async def test_prepared_statements_read_and_write_what_sqlalchemy_does(db: Database) -> None:
    at = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    rows = [_event(1, at), _event(2, at + timedelta(seconds=1))]
    async with db.transaction() as session:
        conn = await connection_of(session)
        await conn.execute(_INSERT_EVENTS, rows[0])  # the first statement begins the transaction
        written = await conn.execute(_INSERT_EVENTS, rows[1:])  # executemany
        assert isinstance(written, PreparedResult)
        assert written.rowcount == 1
        got = await conn.execute(_OF_ENTITY, {"p_id": "e1"})
        assert isinstance(got, PreparedResult)
        want = (await conn.execute(_OF_ENTITY_UNPREPARED, {"p_id": "e1"})).all()
        got_rows = got.all()
        assert got_rows == want
        first = got_rows[0]
        assert first.id == rows[0]["id"] and isinstance(first.id, uuid.UUID)
        assert first.at == at and first.at.tzinfo is not None
        assert first.data == rows[0]["data"] and first.tag == "fixed"
        assert dict(first._mapping) == dict(want[0]._mapping)
        assert list(first._mapping) == ["id", "seq", "at", "data", "actor", "tag"]
        assert await conn.scalar(_OF_ENTITY, {"p_id": "e1"}) == rows[0]["id"]
        assert (await conn.execute(_OF_ENTITY, {"p_id": "nobody"})).first() is None
        with pytest.raises(sa_exc.MultipleResultsFound):
            (await conn.execute(_OF_ENTITY, {"p_id": "e1"})).one()


async def test_results_of_one_statement_share_a_row_maker_and_stay_their_own(db: Database) -> None:
    """Each result of a prepared statement is given the row maker the first one built (not built again per
    result); reshaping one result (``columns``, ``scalars``, ``mappings``) leaves the next one whole."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    async with db.transaction() as session:
        conn = await connection_of(session)
        rows = [_event(seq, at) for seq in (1, 2)]
        await conn.execute(_INSERT_EVENTS, rows)
        first = await conn.execute(_OF_ENTITY, {"p_id": "e1"})
        second = await conn.execute(_OF_ENTITY, {"p_id": "e1"})
        assert isinstance(first, PreparedResult) and isinstance(second, PreparedResult)
        assert second._row_getter is first._row_getter
        assert [(r.seq, r.tag) for r in first.columns("seq", "tag").all()] == [(1, "fixed"), (2, "fixed")]
        assert [r.actor for r in second.all()] == ["actor 1", "actor 2"]
        assert (await conn.execute(_OF_ENTITY, {"p_id": "e1"})).scalars().all() == [r["id"] for r in rows]
        mapped = (await conn.execute(_OF_ENTITY, {"p_id": "e1"})).mappings().first()
        assert mapped is not None and mapped["seq"] == 1 and mapped["at"] == at
        third = (await conn.execute(_OF_ENTITY, {"p_id": "e1"})).first()
        assert third is not None and tuple(third)[1:3] == (1, at)


async def test_several_parameter_sets_take_the_shortcut_as_one_statement(db: Database) -> None:
    """A bid and the countdown's extension are two live events of one INSERT (asyncpg: one pipelined round
    trip); a failing set fails the statement with SQLAlchemy's error, and the transaction writes nothing."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    async with db.transaction() as session:
        conn = await connection_of(session)
        await conn.execute(_INSERT_EVENTS, _event(1, at))
        written = await conn.execute(_INSERT_EVENTS, [_event(seq, at) for seq in (2, 3, 4)])
        assert isinstance(written, PreparedResult)
    async with db.read() as session:
        assert [r.seq for r in (await session.execute(_OF_ENTITY, {"p_id": "e1"})).all()] == [1, 2, 3, 4]
    with pytest.raises(sa_exc.IntegrityError) as raised:
        async with db.transaction() as session:
            conn = await connection_of(session)
            await conn.execute(_INSERT_EVENTS, _event(5, at))
            await conn.execute(_INSERT_EVENTS, [_event(6, at), _event(2, at)])  # seq 2 is taken
    assert "INSERT INTO audit_events" in str(raised.value.statement)
    async with db.read() as session:
        assert len((await session.execute(_OF_ENTITY, {"p_id": "e1"})).all()) == 4


async def test_an_update_reports_its_rowcount(db: Database) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        conn = await connection_of(session)
        for year in (2040, 2041, 2042):
            await conn.execute(
                insert(_YEARS).values(year=year, holidays=[], workdays=[], updated_at=at, updated_by="a")
            )
        renamed = await conn.execute(_RENAME, {"p_from": 2041, "p_by": "b"})
        assert isinstance(renamed, PreparedResult)
        assert renamed.rowcount == 2
    async with db.read() as session:
        by = dict((await session.execute(select(_YEARS.c.year, _YEARS.c.updated_by))).all())
    assert by == {2040: "a", 2041: "b", 2042: "b"}


async def test_a_failed_statement_raises_sqlalchemy_s_error_and_writes_nothing(db: Database) -> None:
    row = _event(1, datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(sa_exc.IntegrityError) as raised:
        async with db.transaction() as session:
            conn = await connection_of(session)
            await conn.execute(_INSERT_EVENTS, row)
            await conn.execute(_INSERT_EVENTS, row | {"id": uuid.uuid4()})  # the same (entity, seq)
    assert raised.value.orig is not None and "INSERT INTO audit_events" in str(raised.value.statement)
    async with db.read() as session:
        assert (await session.execute(_OF_ENTITY, {"p_id": "e1"})).all() == []


async def test_a_statement_listener_sees_prepared_statements(db: Database) -> None:
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.write_engine.sync_engine, "before_cursor_execute", listen)
    try:
        async with db.transaction() as session:
            conn = await connection_of(session)
            await conn.execute(_INSERT_EVENTS, _event(1, datetime(2026, 3, 1, tzinfo=UTC)))
            result = await conn.execute(_OF_ENTITY, {"p_id": "e1"})
            assert not isinstance(result, PreparedResult) and len(result.all()) == 1
    finally:
        event.remove(db.write_engine.sync_engine, "before_cursor_execute", listen)
    assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["INSERT", "SELECT"]


async def test_what_the_shortcut_cannot_do_runs_through_sqlalchemy(db: Database) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        conn = await connection_of(session)
        await conn.execute(_INSERT_EVENTS, [_event(seq, at) for seq in (1, 2, 3)])
        found = await conn.execute(_SEQS_IN, {"p_seqs": [1, 3, 7]})  # an expanding IN
        assert not isinstance(found, PreparedResult)
        assert sorted(found.scalars().all()) == [1, 3]
        year = await conn.execute(_INSERT_YEAR, {"year": 2050, "updated_at": at, "updated_by": "a"})
        assert not isinstance(year, PreparedResult)  # its defaults are computed by SQLAlchemy
    async with db.read() as session:
        holidays = await session.scalar(select(_YEARS.c.holidays).where(_YEARS.c.year == 2050))
    assert holidays == []


def test_every_prepared_statement_of_the_exchange_takes_the_shortcut_on_sqlite() -> None:
    """A statement marked for the hot path that quietly fell back to SQLAlchemy would cost what the mark was
    for: each compiles for SQLite (an INSERT with every column of its table given)."""
    dialect = sqlite.dialect()
    mine = {id(s) for s in (_INSERT_EVENTS, _OF_ENTITY, _RENAME, _SEQS_IN, _INSERT_YEAR)}
    checked = 0
    for key, entry in statements._PREPARED.items():
        if key in mine:
            continue
        table = getattr(entry.statement, "table", None)
        keys = [c.key for c in table.columns] if entry.by_keys and table is not None else []
        assert entry.supported, entry.statement
        assert entry.form(dialect, keys) is not None, str(entry.statement)
        checked += 1
    assert checked >= 16


def test_no_statement_is_changed_after_it_is_marked() -> None:
    """``prepared(select(...)).where(...)`` marks the statement before its WHERE and keeps the one with it
    unmarked: it works, through SQLAlchemy, and costs what the mark was for (a refused bid's statement did)."""
    root = Path(app.__file__).parent
    misplaced = [
        f"{path.relative_to(root.parent)}:{node.lineno} .{node.attr}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "prepared"
    ]
    assert misplaced == []
