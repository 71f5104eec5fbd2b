"""Registrations and their deposits (SPEC §7; DOMAIN.md "Listing (挂牌) flow").

A verified buyer organization registers for a listed or auction listing during its listing period; the
listing's deposit is held from its available balance in the same transaction (``app.ledger.deposits``), so a
short balance (409 ``insufficient_funds``) leaves no registration behind. Every deposit is resolved exactly once
by ``app.ledger.deposits`` (compare-and-set on ``deposit_status``); this module never moves money itself.

Rules the SPEC leaves open, as decided here:

* One registration per organization per listing, for good: a withdrawn or disqualified registration still
  counts, so registering again is 409 ``already_registered`` (the unique key ``(listing_id, organization_id)``).
* The seller's own organization may not register: 403 ``forbidden`` (a function its role may not use).
* A registration is made, withdrawn, qualified or disqualified only *in the listing period*: the listing is
  ``published`` and business now < ``listing_ends_at``. A ``suspended`` listing refuses registrations
  (SPEC §5) but its period is only paused, so registrants may still withdraw and operators may still review.
* Bidders are anonymous to the seller and to each other until a deal names the buyer (SPEC §20): the seller
  sees bidder codes, statuses and deposits, but ``organization_id`` is shown only to operators and to the
  registrant itself. The audit events naming the registrant (``registered``, ``withdrawn``: its user is the
  actor) are withheld from the seller by ``app.audit.access``, not rewritten; the review and deposit events
  name nobody and stay readable.
* ``bidder_code`` is ``B01``, ``B02``… in registration order per listing (the listing row is locked while the
  code is chosen, so codes and "earliest registrant" follow the same order).

Services flush, never commit; every change writes an audit event (``entity_type="registration"``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.equity.rules import check_investee
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.ledger import deposits
from app.listings import chain
from app.listings import queries as listing_queries
from app.models.listings import Listing, ListingStatus, PricingMode
from app.models.trading import DepositStatus, Registration, RegistrationStatus
from app.registrations import schemas

TRADED_MODES = frozenset({PricingMode.listed, PricingMode.auction})
R = RegistrationStatus
# Registrations still taking part in the listing (the others have been refunded).
ACTIVE = frozenset({R.pending_review, R.qualified})


class AlreadyRegistered(Conflict):
    code = "already_registered"


def bidder_code(position: int) -> str:
    """The pseudonym of the ``position``-th registrant (1-based): ``B01``, ``B02``… ``B99``, ``B100``…"""
    return f"B{position:02d}"


def in_listing_period(listing: Listing, now: datetime) -> bool:
    """Published with its period still running, or suspended (the period is paused, not over)."""
    if listing.status == ListingStatus.suspended:
        return True
    return (
        listing.status == ListingStatus.published
        and listing.listing_ends_at is not None
        and now < listing.listing_ends_at
    )


def present(principal: Principal, registration: Registration) -> schemas.RegistrationOut:
    """The response model; the buyer organization is shown to operators and to the registrant only."""
    shows_buyer = principal.is_operator or principal.organization_id == registration.organization_id
    return schemas.RegistrationOut(
        id=registration.id,
        listing_id=registration.listing_id,
        organization_id=registration.organization_id if shows_buyer else None,
        status=registration.status,
        bidder_code=registration.bidder_code,
        deposit=registration.deposit,
        deposit_status=registration.deposit_status,
        reason=registration.reason,
        created_at=registration.created_at,
    )


async def _audit(
    session: AsyncSession,
    registration: Registration,
    action: str,
    *,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    await record(
        session,
        entity_type="registration",
        entity_id=registration.id,
        action=action,
        actor=actor,
        at=at,
        data={
            "listing_id": registration.listing_id,
            "status": registration.status,
            "deposit_status": registration.deposit_status,
            **(data or {}),
        },
    )


# --- registering ------------------------------------------------------------------------------------------


async def register(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, clock: Clock
) -> Registration:
    """Register the caller's (verified) organization for a listed or auction listing and hold its deposit.

    409 ``invalid_state`` outside the listing period, for a suspended listing or a negotiated one;
    409 ``bidder_barred`` for the buyer of a defaulted deal on an earlier listing of its relist chain;
    409 ``already_registered``; 409 ``insufficient_funds`` (nothing is left behind: the caller's transaction
    rolls back the registration with the failed hold); 403 for the seller itself.
    """
    org_id = principal.verified_org_id("Only members of a buyer organization may register.")
    # The listing row is locked: state checks and bidder codes are race-free (PostgreSQL row lock; SQLite
    # serialises write transactions with BEGIN IMMEDIATE).
    listing = await listing_queries.get_visible(session, principal, listing_id, for_update=True)
    if listing is None:
        raise NotFound("No such listing.")
    if listing.seller_org_id == org_id:
        raise Forbidden("The seller cannot register for its own listing.")
    check_investee(listing.transaction_kind, principal.org_kind)  # 403: an equity listing's buyer, SPEC §18.2
    if listing.pricing_mode not in TRADED_MODES:
        raise InvalidState("Registration is only for listed and auction listings; make an offer instead.")
    if listing.status == ListingStatus.suspended:
        raise InvalidState("The listing is suspended: no registrations meanwhile.")
    now = clock.now()
    if listing.status != ListingStatus.published or not in_listing_period(listing, now):
        raise InvalidState("Registration is open only during the listing period.")
    await chain.check_not_barred(session, listing, org_id)  # 409 bidder_barred, SPEC §17.3
    existing = await session.scalar(
        select(Registration.id).where(
            Registration.listing_id == listing.id, Registration.organization_id == org_id
        )
    )
    if existing is not None:
        raise AlreadyRegistered("The organization has already registered for this listing.")
    count = await session.scalar(
        select(func.count()).select_from(Registration).where(Registration.listing_id == listing.id)
    )
    assert listing.deposit is not None
    registration = Registration(
        id=uuid.uuid4(),
        listing_id=listing.id,
        organization_id=org_id,
        status=R.pending_review if listing.requires_qualification_review else R.qualified,
        bidder_code=bidder_code((count or 0) + 1),
        deposit=listing.deposit,
        deposit_status=DepositStatus.held,
        created_at=now,
        updated_at=now,
    )
    session.add(registration)
    await session.flush()
    await deposits.hold(session, registration, at=now, actor=principal.label)
    # Restricted, not redacted: the event names the registrant (actor and organization_id), so only operators
    # and the registrant read it (app.audit.access); the seller follows the registration by its other events.
    await _audit(
        session,
        registration,
        "registered",
        actor=principal.label,
        at=now,
        data={
            "organization_id": org_id,
            "bidder_code": registration.bidder_code,
            "deposit": registration.deposit,
        },
    )
    return registration


# --- reading ----------------------------------------------------------------------------------------------


async def _load(session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> Registration:
    """The registration if the caller may see it (registrant, the listing's seller, operators), else 404."""
    registration = await session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("No such registration.")
    if principal.is_operator or principal.organization_id == registration.organization_id:
        return registration
    seller = await session.scalar(select(Listing.seller_org_id).where(Listing.id == registration.listing_id))
    if principal.organization_id is None or seller != principal.organization_id:
        raise NotFound("No such registration.")
    return registration


async def get_registration(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Registration:
    return await _load(session, principal, registration_id)


async def list_registrations(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Registration], str | None]:
    """Operators and the seller see every registration of the listing, a buyer only its own; in registration
    order. 404 when the caller may not see the listing."""
    listing = await listing_queries.get_visible(session, principal, listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    query = select(Registration).where(Registration.listing_id == listing.id)
    if not principal.is_operator and principal.organization_id != listing.seller_org_id:
        query = query.where(Registration.organization_id == principal.organization_id)
    keys = [datetime_key(Registration.created_at), uuid_key(Registration.id)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda r: (r.created_at, r.id))


async def own_registration(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID
) -> Registration | None:
    """The caller's organization's latest registration for the listing (a listing page shows its bidder
    code and status), or None."""
    if principal.organization_id is None:
        return None
    query = (
        select(Registration)
        .where(
            Registration.listing_id == listing_id,
            Registration.organization_id == principal.organization_id,
        )
        .order_by(Registration.created_at.desc())
        .limit(1)
    )
    found: Registration | None = await session.scalar(query)
    return found


async def list_own_registrations(
    session: AsyncSession, principal: Principal, *, limit: int
) -> list[tuple[Registration, Listing]]:
    """The caller's organization's registrations with their listings, newest first (the dashboard)."""
    if principal.organization_id is None:
        return []
    rows = await session.execute(
        select(Registration, Listing)
        .join(Listing, Listing.id == Registration.listing_id)
        .where(Registration.organization_id == principal.organization_id)
        .order_by(Registration.created_at.desc(), Registration.id.desc())
        .limit(limit)
    )
    return [(registration, listing) for registration, listing in rows]


# --- review and withdrawal --------------------------------------------------------------------------------


async def _lock(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> tuple[Registration, Listing]:
    """The registration and its listing, locked in the order the listing-end resolution takes them
    (listing first), so a review racing the end of the period never deadlocks and never acts on a stale row."""
    registration = await _load(session, principal, registration_id)
    listing = await session.get(
        Listing, registration.listing_id, with_for_update=True, populate_existing=True
    )
    assert listing is not None
    locked = await session.get(Registration, registration.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    return locked, listing


async def qualify(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID, clock: Clock
) -> Registration:
    """Operator: ``pending_review`` → ``qualified``, during the listing period."""
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may qualify bidders.")
    registration, listing = await _lock(session, principal, registration_id)
    now = clock.now()
    if registration.status != R.pending_review:
        raise InvalidState(
            f"Only a registration pending review can be qualified (it is {registration.status})."
        )
    if not in_listing_period(listing, now):
        raise InvalidState("The listing period is over.")
    registration.status, registration.updated_at = R.qualified, now
    await session.flush()
    await _audit(session, registration, "qualified", actor=principal.label, at=now)
    return registration


async def disqualify(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID, reason: str, clock: Clock
) -> Registration:
    """Operator: ``pending_review`` or ``qualified`` → ``disqualified`` during the listing period; the deposit
    is refunded in the same transaction."""
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may disqualify bidders.")
    registration, listing = await _lock(session, principal, registration_id)
    now = clock.now()
    if registration.status not in ACTIVE:
        raise InvalidState(f"The registration is already {registration.status}.")
    if not in_listing_period(listing, now):
        raise InvalidState("The listing period is over.")
    registration.status, registration.reason, registration.updated_at = R.disqualified, reason, now
    await session.flush()
    await deposits.refund(session, registration, at=now, actor=principal.label)
    await _audit(
        session, registration, "disqualified", actor=principal.label, at=now, data={"reason": reason}
    )
    return registration


async def withdraw(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID, clock: Clock
) -> Registration:
    """The registrant withdraws during the listing period → ``withdrawn``, deposit refunded; after the period
    409 ``invalid_state`` (its deposit then follows the outcome: carried into the auction, applied, refunded)."""
    registration, listing = await _lock(session, principal, registration_id)
    if principal.is_operator or principal.organization_id != registration.organization_id:
        raise Forbidden("Only the registrant may withdraw its registration.")
    now = clock.now()
    if registration.status not in ACTIVE:
        raise InvalidState(f"The registration is already {registration.status}.")
    if not in_listing_period(listing, now):
        raise InvalidState("The listing period is over: the registration can no longer be withdrawn.")
    registration.status, registration.updated_at = R.withdrawn, now
    await session.flush()
    await deposits.refund(session, registration, at=now, actor=principal.label)
    await _audit(session, registration, "withdrawn", actor=principal.label, at=now)
    return registration
