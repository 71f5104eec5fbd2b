"""Deadlines of public notice and signing (SPEC §8, §11), registered with the sweeper at import.

* ``notice_end`` — a deal in ``public_notice`` whose ``notice_ends_at`` has passed, with no pending
  objection, moves to ``awaiting_signatures`` with ``sign_by`` 5 working days after ``notice_ends_at``. A
  deal with a pending objection is not due: it stays in notice until the objection is resolved
  (``service.resolve_objection``).
* ``signing_due`` — a deal still ``awaiting_signatures`` at ``sign_by``: if the buyer has not signed, the deal
  is ``defaulted`` (the buyer's deposit forfeited to the seller, the listing ``failed``) — also when neither
  signed, since the SPEC names the buyer's default without condition; if only the seller has not signed, the
  deal is ``cancelled`` (the deposit refunded, the listing back per SPEC §5).

Each item is claimed with ``FOR UPDATE SKIP LOCKED`` in its own transaction and re-checked under the claim,
and handled as of its own due time with actor ``system``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import SYSTEM_ACTOR
from app.contracts import rules
from app.contracts.service import end_deal, start_signing
from app.deadlines.sweeper import Due, Outcome, SweepContext, claim, register
from app.deals.rules import By
from app.models.contracts import ContractSignature, Objection, ObjectionStatus, Party
from app.models.trading import Deal, DealStatus

NOTICE_END = "notice_end"
SIGNING_DUE = "signing_due"


def _notice_over(now: datetime) -> tuple[ColumnElement[bool], ...]:
    pending = exists().where(Objection.deal_id == Deal.id, Objection.status == ObjectionStatus.pending)
    return (Deal.status == DealStatus.public_notice, Deal.notice_ends_at <= now, ~pending)


def _signing_over(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Deal.status == DealStatus.awaiting_signatures, Deal.sign_by <= now)


async def _due_notices(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = await session.execute(
        select(Deal.notice_ends_at, Deal.id)
        .where(*_notice_over(now))
        .order_by(Deal.notice_ends_at, Deal.id)
        .limit(limit)
    )
    return [Due(at, NOTICE_END, deal_id) for at, deal_id in rows if at is not None]


async def _end_notice(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        deal = await claim(session, Deal, item.id, *_notice_over(now))
        if deal is None or deal.notice_ends_at is None:
            return Outcome.skipped
        await start_signing(
            session,
            deal,
            by=By.sweeper,
            at=deal.notice_ends_at,
            actor=SYSTEM_ACTOR,
            calendar=ctx.calendar,
            reason="notice period over",
        )
    # Its signing deadline is new (and may already be due when the clock jumped far).
    return Outcome.spawned


async def _due_signings(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = await session.execute(
        select(Deal.sign_by, Deal.id).where(*_signing_over(now)).order_by(Deal.sign_by, Deal.id).limit(limit)
    )
    return [Due(at, SIGNING_DUE, deal_id) for at, deal_id in rows if at is not None]


async def _signing_deadline(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        deal = await claim(session, Deal, item.id, *_signing_over(now))
        if deal is None or deal.sign_by is None:
            return Outcome.skipped
        signed = set(
            (
                await session.scalars(
                    select(ContractSignature.party).where(ContractSignature.contract_id == deal.contract_id)
                )
            ).all()
        )
        outcome = rules.signing_outcome(Party.buyer in signed, Party.seller in signed)
        if outcome == rules.SigningOutcome.buyer_default:
            await end_deal(
                session,
                deal,
                DealStatus.defaulted,
                by=By.sweeper,
                reason="the buyer did not sign the contract by sign_by",
                action="defaulted",
                at=deal.sign_by,
                actor=SYSTEM_ACTOR,
            )
        elif outcome == rules.SigningOutcome.seller_cancel:
            await end_deal(
                session,
                deal,
                DealStatus.cancelled,
                by=By.sweeper,
                reason="the seller did not sign the contract by sign_by",
                action="cancelled",
                at=deal.sign_by,
                actor=SYSTEM_ACTOR,
            )
        else:  # both signed: signing already moved it on; nothing to do
            return Outcome.skipped
    return Outcome.handled


register(NOTICE_END, _due_notices, _end_notice)
register(SIGNING_DUE, _due_signings, _signing_deadline)
