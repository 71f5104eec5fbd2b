"""Deposit holds (SPEC §7): held from the buyer's available balance when it registers, then resolved
exactly once — refunded, applied to the deal's escrow, or forfeited to the seller.

"Exactly once" is a compare-and-set on the registration's ``deposit_status`` (``WHERE deposit_status =
'held'``): a second resolution, concurrent or late, changes nothing and posts nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, Uuid, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.kit.types import UTCDateTime
from app.ledger.service import Entry, Line, account_id, account_ids, post_many, transfer
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


@dataclass(frozen=True)
class Hold:
    """A held deposit to resolve: its registration, the organization it was held from, and the amount."""

    registration_id: uuid.UUID
    organization_id: uuid.UUID
    deposit: int


_CLAIM_MANY = (
    update(Registration)
    .where(
        Registration.id.in_(bindparam("p_ids", expanding=True, type_=Uuid())),
        Registration.deposit_status == DepositStatus.held,
    )
    .values(
        deposit_status=bindparam("p_outcome", type_=String()),
        deposit_resolved_at=bindparam("p_at", type_=UTCDateTime()),
    )
    .returning(Registration.id)
    .execution_options(synchronize_session=False)
)


async def claim_many(
    session: AsyncSession, holds: Sequence[Hold], outcome: DepositStatus, *, at: datetime
) -> list[Hold]:
    """The compare-and-set of several resolutions in one UPDATE (``WHERE deposit_status = 'held'``): returns
    the holds this call resolved, in (organization, registration) order; the others were resolved already.
    The caller posts their journal entries (``refund_entry``, ``forfeit_entry``) in the same transaction."""
    if not holds:
        return []
    params = {"p_ids": [h.registration_id for h in holds], "p_outcome": outcome, "p_at": at}
    claimed = set((await session.execute(_CLAIM_MANY, params)).scalars())
    return sorted(
        (h for h in holds if h.registration_id in claimed),
        key=lambda h: (h.organization_id, h.registration_id),
    )


AccountMap = Mapping[tuple[AccountKind, uuid.UUID], uuid.UUID]


def accounts_needed(holds: Iterable[Hold]) -> set[tuple[AccountKind, uuid.UUID]]:
    """The accounts a refund of these holds touches (held and available of each organization)."""
    return {(kind, h.organization_id) for h in holds for kind in (AccountKind.held, AccountKind.available)}


def refund_entry(hold: Hold, accounts: AccountMap) -> Entry:
    """held → available, one journal entry per registration, so each deposit's resolution stays traceable."""
    return Entry(
        EntryKind.deposit_refund,
        [
            Line(accounts[AccountKind.held, hold.organization_id], -hold.deposit),
            Line(accounts[AccountKind.available, hold.organization_id], hold.deposit),
        ],
        memo="deposit refunded",
        organization_id=hold.organization_id,
        registration_id=hold.registration_id,
    )


def forfeit_entry(
    hold: Hold, seller_org_id: uuid.UUID, accounts: AccountMap, *, deal_id: uuid.UUID | None = None
) -> Entry:
    """held → the seller's available balance."""
    return Entry(
        EntryKind.deposit_forfeit,
        [
            Line(accounts[AccountKind.held, hold.organization_id], -hold.deposit),
            Line(accounts[AccountKind.available, seller_org_id], hold.deposit),
        ],
        memo="deposit forfeited to the seller",
        organization_id=hold.organization_id,
        registration_id=hold.registration_id,
        deal_id=deal_id,
    )


async def refund_many(
    session: AsyncSession, registrations: Sequence[Registration], *, at: datetime, actor: str
) -> list[Registration]:
    """``refund`` for several registrations at once (an auction's losers): the same claims and the same
    journal entries (one per registration), in a few statements instead of eight per deposit, and with every
    account updated in id order, so two transactions refunding the same organizations never deadlock.
    Returns the registrations it refunded (the others were resolved already)."""
    if not registrations:
        return []
    by_id = {r.id: r for r in registrations}
    done = await claim_many(
        session,
        [Hold(r.id, r.organization_id, r.deposit) for r in registrations],
        DepositStatus.refunded,
        at=at,
    )
    for hold in done:
        set_committed_value(by_id[hold.registration_id], "deposit_status", DepositStatus.refunded)
        set_committed_value(by_id[hold.registration_id], "deposit_resolved_at", at)
    accounts = await account_ids(session, accounts_needed(done))
    await post_many(session, [refund_entry(h, accounts) for h in done], at=at, actor=actor)
    return [by_id[h.registration_id] for h in done]


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
