"""Deposit holds (SPEC §7): held from the buyer's available balance when it registers, then resolved
exactly once — refunded, applied to the deal's escrow, or forfeited to the seller.

"Exactly once" is a compare-and-set on the registration's ``deposit_status`` (``WHERE deposit_status =
'held'``): a second resolution, concurrent or late, changes nothing and posts nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.ledger.service import account_id, transfer
from app.models.ledger import AccountKind, EntryKind
from app.models.trading import DepositStatus, Registration


async def hold(session: AsyncSession, registration: Registration, *, at: datetime, actor: str) -> None:
    """available → held; ``insufficient_funds`` (409) if the buyer's available balance is short."""
    org = registration.organization_id
    await transfer(
        session,
        EntryKind.deposit_hold,
        await account_id(session, AccountKind.available, org),
        await account_id(session, AccountKind.held, org),
        registration.deposit,
        at=at,
        actor=actor,
        organization_id=org,
        registration_id=registration.id,
        memo="deposit held",
    )


async def _claim(
    session: AsyncSession, registration: Registration, outcome: DepositStatus, at: datetime
) -> bool:
    result = await session.execute(
        update(Registration)
        .where(Registration.id == registration.id, Registration.deposit_status == DepositStatus.held)
        .values(deposit_status=outcome, deposit_resolved_at=at)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(registration, "deposit_status", outcome)
    set_committed_value(registration, "deposit_resolved_at", at)
    return True


async def refund(session: AsyncSession, registration: Registration, *, at: datetime, actor: str) -> bool:
    """held → available. Returns False (and does nothing) if the deposit was already resolved."""
    if not await _claim(session, registration, DepositStatus.refunded, at):
        return False
    org = registration.organization_id
    await transfer(
        session,
        EntryKind.deposit_refund,
        await account_id(session, AccountKind.held, org),
        await account_id(session, AccountKind.available, org),
        registration.deposit,
        at=at,
        actor=actor,
        organization_id=org,
        registration_id=registration.id,
        memo="deposit refunded",
    )
    return True


async def apply_to_deal(
    session: AsyncSession, registration: Registration, deal_id: uuid.UUID, *, at: datetime, actor: str
) -> bool:
    """held → the deal's escrow, as part of the price (SPEC §7, §11)."""
    if not await _claim(session, registration, DepositStatus.applied, at):
        return False
    org = registration.organization_id
    await transfer(
        session,
        EntryKind.deposit_apply,
        await account_id(session, AccountKind.held, org),
        await account_id(session, AccountKind.escrow, deal_id),
        registration.deposit,
        at=at,
        actor=actor,
        organization_id=org,
        registration_id=registration.id,
        deal_id=deal_id,
        memo="deposit applied to the price",
    )
    return True


async def forfeit(
    session: AsyncSession,
    registration: Registration,
    seller_org_id: uuid.UUID,
    *,
    at: datetime,
    actor: str,
    deal_id: uuid.UUID | None = None,
) -> bool:
    """held → the seller's available balance (no signature or payment in time; nobody bid in a listed-trading
    auction — SPEC §7)."""
    if not await _claim(session, registration, DepositStatus.forfeited, at):
        return False
    await transfer(
        session,
        EntryKind.deposit_forfeit,
        await account_id(session, AccountKind.held, registration.organization_id),
        await account_id(session, AccountKind.available, seller_org_id),
        registration.deposit,
        at=at,
        actor=actor,
        organization_id=registration.organization_id,
        registration_id=registration.id,
        deal_id=deal_id,
        memo="deposit forfeited to the seller",
    )
    return True
