"""Deadlines of payment (SPEC §7, §11), registered with the sweeper at import.

* ``payment_due`` — a deal still ``awaiting_payment`` at its ``pay_by`` defaults as of that time: the buyer's
  held deposit is forfeited to the seller and the listing the deal held fails
  (``app.settlement.service.default_unpaid_deal``).

Each deal is processed in its own transaction, claimed with ``FOR UPDATE SKIP LOCKED`` and re-checked under
the claim, so a second run (or another process) is a no-op; a payment racing the deadline is refused by its
own guard (``pay_by > now``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import SYSTEM_ACTOR
from app.deadlines.sweeper import Due, Outcome, SweepContext, claim, register
from app.models.trading import Deal, DealStatus
from app.settlement.service import default_unpaid_deal

PAYMENT_DUE = "payment_due"


async def _due_payments(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = await session.execute(
        select(Deal.pay_by, Deal.id)
        .where(Deal.status == DealStatus.awaiting_payment, Deal.pay_by <= now)
        .order_by(Deal.pay_by, Deal.id)
        .limit(limit)
    )
    return [Due(at, PAYMENT_DUE, deal_id) for at, deal_id in rows if at is not None]


async def _default_unpaid(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        deal = await claim(
            session, Deal, item.id, Deal.status == DealStatus.awaiting_payment, Deal.pay_by <= now
        )
        if deal is None or deal.pay_by is None:
            return Outcome.skipped
        await default_unpaid_deal(session, deal, at=deal.pay_by, actor=SYSTEM_ACTOR)
    return Outcome.handled


register(PAYMENT_DUE, _due_payments, _default_unpaid)
