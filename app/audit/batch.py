"""Appending many audit events in a few statements (a batch of closing auctions, ``app.auctions.closing``).

The chains are the ones ``service.record`` writes, one event at a time: every row is ``chain.next_row`` of
its entity's last event, as ``record``'s is. Only the statements differ: one SELECT of the heads of every chain involved and one INSERT of every row. As
with ``record``, the caller holds each entity's row (its state change), so one transaction at a time writes an
entity's chain, and the unique (entity, seq) key backs that up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import next_row
from app.models.audit import AuditEvent


@dataclass(frozen=True)
class Event:
    """One event to append. ``new``: the entity was created in this transaction, so its chain starts here
    (no head to look up; a head that exists anyway makes the INSERT fail on the unique key)."""

    entity_type: str
    entity_id: uuid.UUID | str
    action: str
    actor: str
    at: datetime
    data: dict[str, Any]
    new: bool = False


_HEADS_SEQ = (
    select(AuditEvent.entity_type, AuditEvent.entity_id, func.max(AuditEvent.seq).label("seq"))
    .where(
        AuditEvent.entity_type.in_(bindparam("p_types", expanding=True, type_=String())),
        AuditEvent.entity_id.in_(bindparam("p_ids", expanding=True, type_=String())),
    )
    .group_by(AuditEvent.entity_type, AuditEvent.entity_id)
    .subquery()
)
_HEADS = select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.seq, AuditEvent.hash).join(
    _HEADS_SEQ,
    (AuditEvent.entity_type == _HEADS_SEQ.c.entity_type)
    & (AuditEvent.entity_id == _HEADS_SEQ.c.entity_id)
    & (AuditEvent.seq == _HEADS_SEQ.c.seq),
)
_INSERT = insert(cast(Table, AuditEvent.__table__))


async def record_many(session: AsyncSession, events: Sequence[Event]) -> None:
    """Append ``events`` to their entities' chains, in the order given (several events of one entity chain
    one after the other)."""
    if not events:
        return
    wanted = {(e.entity_type, str(e.entity_id)) for e in events if not e.new}
    heads: dict[tuple[str, str], tuple[int, str]] = {}
    if wanted:
        params = {"p_types": sorted({t for t, _ in wanted}), "p_ids": sorted({i for _, i in wanted})}
        for head in await session.execute(_HEADS, params):
            key = (head.entity_type, head.entity_id)
            if key in wanted:
                heads[key] = (head.seq, head.hash)
    rows: list[dict[str, Any]] = []
    for event in events:
        key = (event.entity_type, str(event.entity_id))
        row = next_row(
            last=heads.get(key),
            entity_type=event.entity_type,
            entity_id=key[1],
            at=event.at,
            actor=event.actor,
            action=event.action,
            data=event.data,
        )
        rows.append(row)
        heads[key] = (row["seq"], row["hash"])
    await session.execute(_INSERT, rows)
