"""Deadlines of trials (SPEC §18.3), registered with the sweeper at import.

* ``trial_ending`` — an active trial at its ``reminder_at``: ``trial_ending`` to licensee and licensor, once.
* ``trial_lapse`` — a trial still ``trial_active`` at its ``ends_at`` lapses as of that instant (``trial_lapsed``
  to both).

Each trial is claimed with ``FOR UPDATE SKIP LOCKED`` in its own transaction and re-checked under the claim (a
conditional UPDATE), so a second run or another process is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.deadlines.sweeper import Due, Outcome, SweepContext, claim, register
from app.models.trials import Trial, TrialStatus
from app.trials import service

TRIAL_ENDING = "trial_ending"
TRIAL_LAPSE = "trial_lapse"


async def _due_reminders(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = await session.execute(
        select(Trial.reminder_at, Trial.id)
        .where(Trial.status == TrialStatus.trial_active, Trial.reminded.is_(False), Trial.reminder_at <= now)
        .order_by(Trial.reminder_at, Trial.id)
        .limit(limit)
    )
    return [Due(at, TRIAL_ENDING, trial_id) for at, trial_id in rows]


async def _remind(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        trial = await claim(
            session,
            Trial,
            item.id,
            Trial.status == TrialStatus.trial_active,
            Trial.reminded.is_(False),
            Trial.reminder_at <= now,
        )
        if trial is None or not await service.remind(session, trial):
            return Outcome.skipped
    return Outcome.handled


async def _due_lapses(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = await session.execute(
        select(Trial.ends_at, Trial.id)
        .where(Trial.status == TrialStatus.trial_active, Trial.ends_at <= now)
        .order_by(Trial.ends_at, Trial.id)
        .limit(limit)
    )
    return [Due(at, TRIAL_LAPSE, trial_id) for at, trial_id in rows]


async def _lapse(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        trial = await claim(
            session, Trial, item.id, Trial.status == TrialStatus.trial_active, Trial.ends_at <= now
        )
        if trial is None or not await service.lapse(session, trial):
            return Outcome.skipped
    return Outcome.handled


register(TRIAL_ENDING, _due_reminders, _remind)
register(TRIAL_LAPSE, _due_lapses, _lapse)
