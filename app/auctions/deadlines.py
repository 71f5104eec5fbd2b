"""The ``auction_close`` deadline (SPEC §10; DESIGN.md "Deadlines"): an open auction whose ``ends_at`` has
passed is closed as of that instant — by the sweeper, by the sandbox clock, or lazily by a read.

An auction opened late (the sweeper catching up) closes at its stored ``ends_at``, never at "now". The claim
is ``FOR UPDATE SKIP LOCKED`` and re-checks ``ends_at <= now``: a bid may have extended it meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import service
from app.audit.service import SYSTEM_ACTOR
from app.deadlines.sweeper import Due, Outcome, SweepContext, process_one, register
from app.models.trading import Auction, AuctionStatus

AUCTION_CLOSE = "auction_close"
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


async def process_close(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        auction = (
            await session.scalars(
                select(Auction)
                .where(Auction.id == item.id, Auction.status == AuctionStatus.open, Auction.ends_at <= now)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if auction is None or auction.ends_at is None:
            return Outcome.skipped
        await service.close_auction(
            session,
            auction,
            at=auction.ends_at,
            fees=ctx.fees,
            calendar=ctx.calendar,
            actor=SYSTEM_ACTOR,
        )
        return Outcome.handled


register(AUCTION_CLOSE, due_closes, process_close)


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
