"""Time-driven changes of demands, registered with the sweeper (SPEC §17.6: expiry).

* ``demand_expiry`` — a demand in ``draft``, ``pending_review`` or ``published`` whose ``expires_at`` (00:00
  Asia/Shanghai of the day after its deadline) has passed becomes ``expired`` as of that instant.

Each item is processed in its own transaction, claimed with ``FOR UPDATE SKIP LOCKED`` and re-checked under
the claim, so a second run (or another process) is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.deadlines.sweeper import Due, Outcome, SweepContext, claim, register
from app.demands import repository as repo
from app.demands import service
from app.models.demands import EXPIRING_STATUSES, Demand

DEMAND_EXPIRY = "demand_expiry"


async def _due(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [Due(at, DEMAND_EXPIRY, demand_id) for at, demand_id in await repo.lapsed(session, now, limit)]


async def _expire(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        demand = await claim(
            session,
            Demand,
            item.id,
            Demand.status.in_([s.value for s in EXPIRING_STATUSES]),
            Demand.expires_at <= now,
        )
        if demand is None:
            return Outcome.skipped
        await service.expire(session, demand)
    return Outcome.handled


register(DEMAND_EXPIRY, _due, _expire)
