"""``record_many`` (a batch of closing auctions): the same per-entity chains as ``record``, continued from
each chain's head, several events of one entity chained in order, a new entity's chain from GENESIS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.batch import Event, record_many
from app.audit.chain import GENESIS
from app.audit.service import record, verify_all
from app.models.audit import AuditEvent

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


async def test_record_many_continues_every_chain(db) -> None:  # type: ignore[no-untyped-def]
    old, other, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        for n in range(3):
            await record(session, entity_type="auction", entity_id=old, action=f"step{n}", actor="t", at=AT)
        await record(session, entity_type="listing", entity_id=other, action="created", actor="t", at=AT)
    later = AT + timedelta(seconds=1)
    async with db.transaction() as session:
        await record_many(
            session,
            [
                Event("auction", old, "closed", "system", later, {"price": 100, "deal_id": new}),
                Event("deal", new, "created", "system", later, {"listing_id": other}, new=True),
                Event("listing", other, "deal_made", "system", later, {"from": "in_auction"}),
                Event("auction", old, "after", "system", later, {}),
            ],
        )
    async with db.read() as session:
        rows = (
            await session.scalars(
                select(AuditEvent).order_by(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.seq)
            )
        ).all()
        report = await verify_all(session)
    assert report.ok and report.count == 8, report.broken
    chains: dict[str, list[AuditEvent]] = {}
    for row in rows:
        chains.setdefault(row.entity_id, []).append(row)
    assert [e.action for e in chains[str(old)]] == ["step0", "step1", "step2", "closed", "after"]
    assert [e.seq for e in chains[str(old)]] == [1, 2, 3, 4, 5]
    assert [e.action for e in chains[str(other)]] == ["created", "deal_made"]
    (deal,) = chains[str(new)]
    assert deal.seq == 1 and deal.prev_hash == GENESIS
    # stored as it reads back, like ``record``: the UUID as text
    assert chains[str(old)][3].data == {"price": 100, "deal_id": str(new)}


async def test_a_new_entity_with_a_chain_already_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    key = uuid.uuid4()
    async with db.transaction() as session:
        await record(session, entity_type="deal", entity_id=key, action="created", actor="t", at=AT)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await record_many(session, [Event("deal", key, "created", "t", AT, {}, new=True)])
    async with db.read() as session:
        assert (await verify_all(session)).count == 1
