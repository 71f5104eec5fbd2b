"""Filing deadlines, registered with the sweeper (SPEC §18.6).

* ``transfer_filing_overdue`` — a transfer task still ``pending`` when its ``filing_due`` passes (00:00
  Asia/Shanghai the day after) is flagged ``overdue`` and both parties are told, as of that instant.
* ``licence_filing_overdue`` — the same for a licence record.

Each item is processed in its own transaction; the flag is set by one conditional UPDATE (not flagged, still
pending, past due) and only the transaction whose UPDATE matched notifies, so two sweepers never notify twice.
Nothing is unwound: the deal, the licence and the transfer stand.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.deadlines.sweeper import Due, Outcome, SweepContext, register
from app.filings import service

TRANSFER_FILING_OVERDUE = "transfer_filing_overdue"
LICENCE_FILING_OVERDUE = "licence_filing_overdue"


async def _due_transfers(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [
        Due(at, TRANSFER_FILING_OVERDUE, task_id)
        for at, task_id in await service.overdue_transfer_tasks(session, now, limit)
    ]


async def _flag_transfer(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        flagged = await service.mark_transfer_overdue(session, item.id, now)
    return Outcome.handled if flagged else Outcome.skipped


async def _due_licences(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [
        Due(at, LICENCE_FILING_OVERDUE, licence_id)
        for at, licence_id in await service.overdue_licence_records(session, now, limit)
    ]


async def _flag_licence(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        flagged = await service.mark_licence_overdue(session, item.id, now)
    return Outcome.handled if flagged else Outcome.skipped


register(TRANSFER_FILING_OVERDUE, _due_transfers, _flag_transfer)
register(LICENCE_FILING_OVERDUE, _due_licences, _flag_licence)
