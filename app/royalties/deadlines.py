"""Time-driven changes of royalty reports (SPEC §18.4), registered with the sweeper at import.

* ``royalty_period_end`` — a royalty-bearing licence record's period has ended (00:00 Shanghai on the day after
  its last day): its report is created, ``due``, as of that instant, and the licensee is told
  (``royalty_report_due``). A licence record not seen yet is scheduled at once; a sweeper that was down creates
  every missed period, one after the other, each as of its own end.
* ``royalty_overdue`` — a report not paid by its ``due_at`` is flagged ``overdue`` as of that instant, and both
  parties are told.

Each item is processed in its own transaction behind its own guard (a claimed schedule row and a unique
report per period; a conditional UPDATE), so a second run, or another process, is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.deadlines.sweeper import Due, Outcome, SweepContext, register
from app.royalties import service

PERIOD_END = "royalty_period_end"
OVERDUE = "royalty_overdue"


async def _due_periods(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [Due(at, PERIOD_END, i) for at, i in await service.due_periods(session, now, limit)]


async def _create(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        created = await service.create_next_report(session, item.id, now)
    if created is None:
        return Outcome.skipped
    return Outcome.spawned if created else Outcome.handled


async def _due_overdue(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [Due(at, OVERDUE, i) for at, i in await service.overdue_reports(session, now, limit)]


async def _mark(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        marked = await service.mark_overdue(session, item.id, now)
    return Outcome.handled if marked else Outcome.skipped


register(PERIOD_END, _due_periods, _create)
register(OVERDUE, _due_overdue, _mark)
