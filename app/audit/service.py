"""Writing and verifying the audit trail. Every state change calls ``record`` in its own transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, and_, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import GENESIS, event_hash, next_row
from app.kit import compose
from app.kit.compose import Write
from app.kit.db import connection_of
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.statements import prepared
from app.models.audit import AuditEvent

SYSTEM_ACTOR = "system"
_SCAN_BATCH = 200  # events read at a time when some are withheld from the reader


def _last_of_chain(entity_type: Any, entity_id: Any) -> Any:
    """The ``seq`` and ``hash`` of the last event of an entity's chain."""
    return (
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )


_LAST_OF_CHAIN = prepared(
    _last_of_chain(bindparam("p_type", type_=String()), bindparam("p_id", type_=String()))
)
_INSERT = prepared(insert(cast(Table, AuditEvent.__table__)))


async def record(
    session: AsyncSession,
    *,
    entity_type: str,
    entity_id: uuid.UUID | str,
    action: str,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the entity's chain. The caller holds the entity's row (its state change), so the
    chain of one entity is written by one transaction at a time; the unique (entity, seq) key backs that up.

    The row is written with a Core INSERT (the returned ``AuditEvent`` is a detached copy of it); pending
    ORM changes are flushed first, as the ORM flush that used to write the row did."""
    await session.flush()
    conn = await connection_of(session)  # Core: every state change writes here, so skip the ORM layers
    entity_key = str(entity_id)
    last = (await conn.execute(_LAST_OF_CHAIN, {"p_type": entity_type, "p_id": entity_key})).first()
    values = next_row(
        last=(last[0], last[1]) if last else None,
        entity_type=entity_type,
        entity_id=entity_key,
        at=at,
        actor=actor,
        action=action,
        data=data or {},
    )
    await conn.execute(_INSERT, values)
    return AuditEvent(**values)


async def record_series(
    session: AsyncSession,
    *,
    entity_type: str,
    entity_id: uuid.UUID | str,
    events: Sequence[tuple[str, str, datetime, dict[str, Any]]],
) -> None:
    """Append several events ``(action, actor, at, data)`` to one entity's chain, in order: one read of the
    chain's head and one INSERT for them all (a bid and the automatic bids that answer it)."""
    if not events:
        return
    await session.flush()
    conn = await connection_of(session)
    entity_key = str(entity_id)
    last = (await conn.execute(_LAST_OF_CHAIN, {"p_type": entity_type, "p_id": entity_key})).first()
    head = (last[0], last[1]) if last else None
    await conn.execute(_INSERT, _chain_rows(head, entity_type, entity_key, events))


def _chain_rows(
    head: tuple[int, str] | None,
    entity_type: str,
    entity_key: str,
    events: Sequence[tuple[str, str, datetime, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The rows that continue the chain whose last event is ``head`` ``(seq, hash)`` with ``events``."""
    rows = []
    for action, actor, at, data in events:
        row = next_row(
            last=head,
            entity_type=entity_type,
            entity_id=entity_key,
            at=at,
            actor=actor,
            action=action,
            data=data,
        )
        rows.append(row)
        head = (row["seq"], row["hash"])
    return rows


def chain_head(entity_type: str, entity_id: Any) -> tuple[Any, Any]:
    """The ``seq`` and ``hash`` of the last event of an entity's chain as two scalar subqueries, to be read
    with the entity's own row (``entity_id``: a bind parameter or a column of the entity's id, as text)."""

    last = _last_of_chain(entity_type, entity_id)
    return tuple(
        last.with_only_columns(column).scalar_subquery().label(f"audit_{column.key}")
        for column in (AuditEvent.seq, AuditEvent.hash)
    )


def series_after(
    head: tuple[int, str] | None,
    *,
    entity_type: str,
    entity_id: uuid.UUID | str,
    events: Sequence[tuple[str, str, datetime, dict[str, Any]]],
) -> tuple[Write, tuple[int, str]]:
    """``record_series`` as a write of a composed statement (``app.kit.compose``), for a chain whose last
    event was read as ``head`` (``chain_head``), and the chain's head after it. Should another event have
    joined the chain since, the unique (entity, seq) key fails the statement, and nothing of it is written."""
    rows = _chain_rows(head, entity_type, str(entity_id), events)
    return compose.rows("au", cast(Table, AuditEvent.__table__), rows), (rows[-1]["seq"], rows[-1]["hash"])


@dataclass
class VerifyReport:
    ok: bool = True
    count: int = 0
    broken: list[dict[str, Any]] = field(default_factory=list)


class _Rehash:
    """Re-hashes events given in (entity, seq) order into ``report``: each chain from ``GENESIS`` and seq 1."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        self.prev: tuple[str, str] | None = None
        self.prev_hash = GENESIS
        self.expected_seq = 1

    def check(self, ev: AuditEvent) -> None:
        key = (ev.entity_type, ev.entity_id)
        if key != self.prev:
            self.prev, self.prev_hash, self.expected_seq = key, GENESIS, 1
        self.report.count += 1
        recomputed = event_hash(
            prev_hash=self.prev_hash,
            entity_type=ev.entity_type,
            entity_id=ev.entity_id,
            seq=ev.seq,
            at=ev.at,
            actor=ev.actor,
            action=ev.action,
            data=ev.data,
        )
        problem = None
        if ev.seq != self.expected_seq:
            problem = "sequence_gap"
        elif ev.prev_hash != self.prev_hash:
            problem = "prev_hash_mismatch"
        elif ev.hash != recomputed:
            problem = "hash_mismatch"
        if problem:
            self.report.ok = False
            self.report.broken.append(
                {
                    "entity_type": ev.entity_type,
                    "entity_id": ev.entity_id,
                    "seq": ev.seq,
                    "problem": problem,
                }
            )
        self.prev_hash = ev.hash
        self.expected_seq = ev.seq + 1


async def verify_all(session: AsyncSession, batch: int = 5000) -> VerifyReport:
    """Re-hash every chain in (entity, seq) order, streaming in keyset batches."""
    report = VerifyReport()
    rehash = _Rehash(report)
    last_key: tuple[str, str, int] | None = None
    while True:
        query = select(AuditEvent).order_by(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.seq)
        if last_key is not None:
            t, i, s = last_key
            query = query.where(
                or_(
                    AuditEvent.entity_type > t,
                    and_(AuditEvent.entity_type == t, AuditEvent.entity_id > i),
                    and_(AuditEvent.entity_type == t, AuditEvent.entity_id == i, AuditEvent.seq > s),
                )
            )
        rows: Sequence[AuditEvent] = (await session.scalars(query.limit(batch))).all()
        if not rows:
            return report
        for ev in rows:
            rehash.check(ev)
        last = rows[-1]
        last_key = (last.entity_type, last.entity_id, last.seq)


async def verify_chains(session: AsyncSession, chains: Iterable[tuple[str, str]]) -> VerifyReport:
    """Re-hash the whole chains of the given ``(entity_type, entity_id)`` entities (a deal's dossier, SPEC
    §18.7), as ``verify_all`` does every chain."""
    report = VerifyReport()
    rehash = _Rehash(report)
    for entity_type, entity_id in sorted(set(chains)):
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.seq)
        )
        for ev in rows:
            rehash.check(ev)
    return report


async def list_events(
    session: AsyncSession,
    *,
    entity_type: str | None,
    entity_ids: Sequence[str] | None,
    limit: int,
    cursor: str | None,
    shows: Callable[[AuditEvent], bool] | None = None,
) -> tuple[list[AuditEvent], str | None]:
    """Events in time order (chain order within an entity). ``entity_ids=None`` means no restriction
    (operators). ``shows``: which events the reader may see (``access.reader_view``); the others are skipped
    and the page filled from the events after them, so a page is short only at the end of the list."""
    query = select(AuditEvent)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_ids is not None:
        query = query.where(AuditEvent.entity_id.in_(list(entity_ids)))
    keys = [
        datetime_key(AuditEvent.at),
        SortKey(AuditEvent.entity_type, str),
        SortKey(AuditEvent.entity_id, str),
        SortKey(AuditEvent.seq, int),
    ]

    def key_of(e: AuditEvent) -> tuple[datetime, str, str, int]:
        return (e.at, e.entity_type, e.entity_id, e.seq)

    if shows is None:
        rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
        return page_of(rows, limit, key_of)
    batch = max(limit, _SCAN_BATCH)
    kept: list[AuditEvent] = []
    scanned_to = cursor
    while len(kept) <= limit:
        rows = (await session.scalars(keyset_query(query, keys, scanned_to).limit(batch + 1))).all()
        scanned, scanned_to = page_of(rows, batch, key_of)
        kept += [e for e in scanned if shows(e)]
        if scanned_to is None:
            break
    # The cursor is the last event returned, so the next page scans the skipped events after it again.
    return page_of(kept, limit, key_of)
