"""Completion deadlines of equity contributions, registered with the sweeper (SPEC §18.2).

* ``equity_completion_overdue`` — a completion step (the transfer's registration, the equity registration) not
  done when its ``due_on`` passes (00:00 Asia/Shanghai the day after) is flagged ``overdue`` and both parties
  are told, once per step, as of that instant. The deal stays ``settled``; nothing is unwound.

Each deal is processed in its own transaction, its row locked (``SKIP LOCKED`` on PostgreSQL) and re-checked, so
two sweepers never flag or notify twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.deadlines.sweeper import Due, Outcome, SweepContext, register
from app.equity import service

EQUITY_COMPLETION_OVERDUE = "equity_completion_overdue"


async def _due(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [
        Due(at, EQUITY_COMPLETION_OVERDUE, deal_id)
        for at, deal_id in await service.overdue_deals(session, now, limit)
    ]


async def _flag(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        flagged = await service.flag_overdue(session, item.id, now)
    return Outcome.handled if flagged else Outcome.skipped


register(EQUITY_COMPLETION_OVERDUE, _due, _flag)
