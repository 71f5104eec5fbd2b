"""The ``auction_close`` deadline (SPEC §10; DESIGN.md "Deadlines"): an open auction whose ``ends_at`` has
passed is closed as of that instant — by the sweeper, by the sandbox clock, or lazily by a read.

An auction opened late (the sweeper catching up) closes at its stored ``ends_at``, never at "now". The claim
is ``FOR UPDATE SKIP LOCKED`` and re-checks ``ends_at <= now``: a bid may have extended it meanwhile.
The sweeper closes due auctions in batches of ``closing.CLOSE_BATCH`` per transaction (``process_closes``),
and one at a time when a batch fails or a read closes one lazily (``process_close``); both run
``closing.close_auctions``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import closing, notices
from app.audit.service import SYSTEM_ACTOR
from app.deadlines.sweeper import Due, Outcome, SweepContext, process_one, register
from app.models.trading import Auction, AuctionStatus

AUCTION_CLOSE = "auction_close"
AUCTION_ENDING_SOON = "auction_ending_soon"
LAZY_CLOSE_ATTEMPTS = 40
LAZY_CLOSE_WAIT_SECONDS = 0.05


async def due_closes(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = (
        await session.execute(
            select(Auction.id, Auction.ends_at)
            .where(Auction.status == AuctionStatus.open, Auction.ends_at <= now)
            .order_by(Auction.ends_at, Auction.id)
            .limit(limit)
        )
    ).all()
    return [Due(at=row.ends_at, kind=AUCTION_CLOSE, id=row.id) for row in rows]


async def process_closes(ctx: SweepContext, items: Sequence[Due], now: datetime) -> dict[Due, Outcome]:
    async with ctx.db.transaction() as session:
        closed = set(
            await closing.close_auctions(
                session,
                [item.id for item in items],
                now=now,
                fees=ctx.fees,
                calendar=ctx.calendar,
                actor=SYSTEM_ACTOR,
            )
        )
    return {item: Outcome.handled if item.id in closed else Outcome.skipped for item in items}


async def process_close(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    return (await process_closes(ctx, [item], now))[item]


register(AUCTION_CLOSE, due_closes, process_close, process_many=process_closes, batch=closing.CLOSE_BATCH)


async def due_ending_soon(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = (
        await session.execute(
            select(Auction.id, Auction.ends_at)
            .where(
                Auction.status == AuctionStatus.open,
                Auction.ending_soon_notified.is_(False),
                Auction.ends_at <= now + notices.ENDING_SOON,
            )
            .order_by(Auction.ends_at, Auction.id)
            .limit(limit)
        )
    ).all()
    return [Due(at=row.ends_at - notices.ENDING_SOON, kind=AUCTION_ENDING_SOON, id=row.id) for row in rows]


async def process_ending_soon(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    """``auction_ending_soon`` (SPEC §17.4), once: the flag is set in the transaction that notifies."""
    async with ctx.db.transaction() as session:
        sent = await notices.ending_soon(session, item.id, at=item.at)
    return Outcome.handled if sent else Outcome.skipped


register(AUCTION_ENDING_SOON, due_ending_soon, process_ending_soon)


async def close_if_due(ctx: SweepContext, auction_id: uuid.UUID, now: datetime) -> None:
    """A read of an open auction past its ``ends_at`` closes it first (lazy close). When another transaction
    holds the row (a bid in flight, or another process closing it), wait for it and look again."""
    for _ in range(LAZY_CLOSE_ATTEMPTS):
        async with ctx.db.read() as session:
            row = (
                await session.execute(select(Auction.status, Auction.ends_at).where(Auction.id == auction_id))
            ).first()
        if row is None or row.status != AuctionStatus.open or row.ends_at is None or row.ends_at > now:
            return
        outcome = await process_one(ctx, Due(at=row.ends_at, kind=AUCTION_CLOSE, id=auction_id), now)
        if outcome is not Outcome.skipped:
            return
        await asyncio.sleep(LAZY_CLOSE_WAIT_SECONDS)
