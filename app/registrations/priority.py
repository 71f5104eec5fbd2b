"""Priority holders (优先购买权, SPEC §17.2; 法释〔2016〕18号 arts 16, 19, 21): registrants an operator confirms,
before the auction opens, as holding a right of first refusal — a co-owner, an existing licensee — with a rank
(1 comes first; several holders may share a rank).

* Designation: operators only, on a listed or English-auction listing (else 409 ``format_not_supported``),
  during its listing period — the auction, if any, opens when the period ends — (else 409 ``invalid_state``),
  for a ``qualified`` registration of that listing (another listing's: 404; not qualified: 409
  ``invalid_state``), once per registration (409 ``already_designated``). Removal: operators, during the
  listing period too (later 409 ``invalid_state``).
* A right holder that does not register has waived it; one disqualified or withdrawn loses it: only holders
  whose registration is still ``qualified`` count (``ranks``) or are listed.
* ``ranks`` is what the bid path asks (a holder who outranks the leader may bid the same amount);
  ``by_priority`` orders the qualified registrants of a listed listing that resolves to a deal without an
  auction (SPEC §9 as amended by §17.2).
* Bidders stay anonymous (SPEC §20): a designation shows the bidder code, never the organization, in responses
  and in the audit events on the listing's chain (``priority_holder_designated``, ``priority_holder_removed``).

Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.listings import queries as listing_queries
from app.models.listings import AuctionFormat, Listing, PricingMode, PriorityHolder
from app.models.trading import Registration, RegistrationStatus
from app.registrations import schemas
from app.registrations.service import in_listing_period


class AlreadyDesignated(Conflict):
    code = "already_designated"


class FormatNotSupported(Conflict):
    code = "format_not_supported"


# --- rules (pure) -----------------------------------------------------------------------------------------


def takes_priority(pricing_mode: PricingMode, auction_terms: Mapping[str, Any] | None) -> bool:
    """Priority holders exist on listed listings (whose auction is English) and English auctions only."""
    if pricing_mode == PricingMode.listed:
        return True
    if pricing_mode == PricingMode.auction and auction_terms is not None:
        return AuctionFormat(auction_terms["format"]) == AuctionFormat.english
    return False


def by_priority(registrations: Sequence[Registration], ranks: Mapping[uuid.UUID, int]) -> list[Registration]:
    """``registrations`` (earliest first) with the priority holders first, by rank number, then the others;
    within a rank, and among non-holders, the given order stands (SPEC §17.2: "the holder of the lowest rank
    number, then the earliest registration among them, before any non-holder")."""
    return sorted(registrations, key=lambda r: (0, ranks[r.id]) if r.id in ranks else (1, 0))


# --- reads ------------------------------------------------------------------------------------------------


async def ranks(session: AsyncSession, listing_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """registration_id → rank of the listing's priority holders whose registration is still ``qualified``
    (a holder disqualified or withdrawn loses the right, SPEC §17.2)."""
    rows = await session.execute(
        select(PriorityHolder.registration_id, PriorityHolder.rank)
        .join(Registration, Registration.id == PriorityHolder.registration_id)
        .where(
            PriorityHolder.listing_id == listing_id,
            Registration.status == RegistrationStatus.qualified,
        )
    )
    return {registration_id: rank for registration_id, rank in rows.all()}


def present(holder: PriorityHolder, bidder_code: str) -> schemas.PriorityHolderOut:
    return schemas.PriorityHolderOut(
        id=holder.id,
        listing_id=holder.listing_id,
        registration_id=holder.registration_id,
        bidder_code=bidder_code,
        rank=holder.rank,
        basis=holder.basis,
        note=holder.note,
        created_at=holder.created_at,
    )


async def list_holders(
    session: AsyncSession,
    principal: Principal | None,
    listing_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.PriorityHolderOut], str | None]:
    """The listing's priority holders in force, newest first, to whoever may see the listing (404 else)."""
    listing = await listing_queries.get_visible(session, principal, listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    query: Any = (
        select(PriorityHolder, Registration.bidder_code)
        .join(Registration, Registration.id == PriorityHolder.registration_id)
        .where(
            PriorityHolder.listing_id == listing.id,
            Registration.status == RegistrationStatus.qualified,
        )
    )
    keys = [
        datetime_key(PriorityHolder.created_at, descending=True),
        uuid_key(PriorityHolder.id, descending=True),
    ]
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return [present(holder, code) for holder, code in items], next_cursor


# --- designation and removal --------------------------------------------------------------------------------


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("Only exchange operators confirm priority holders.")


def _require_listing_period(listing: Listing, now: datetime, what: str) -> None:
    if not in_listing_period(listing, now):
        raise InvalidState(
            f"Priority holders are {what} only during the listing period, before any auction opens."
        )


async def _audit(
    session: AsyncSession,
    holder: PriorityHolder,
    bidder_code: str,
    action: str,
    *,
    actor: str,
    at: datetime,
) -> None:
    """On the listing's chain, naming the registration and its bidder code only (SPEC §20)."""
    await record(
        session,
        entity_type="listing",
        entity_id=holder.listing_id,
        action=action,
        actor=actor,
        at=at,
        data={
            "priority_holder_id": holder.id,
            "registration_id": holder.registration_id,
            "bidder_code": bidder_code,
            "rank": holder.rank,
            "basis": holder.basis,
            "note": holder.note,
        },
    )


async def designate(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    data: schemas.PriorityHolderIn,
    clock: Clock,
) -> schemas.PriorityHolderOut:
    """``POST /listings/{id}/priority-holders`` (operators): 201 the designation; see the module's rules."""
    _require_operator(principal)
    # Locked in the order of the listing-end resolution (listing, then registrations): a designation racing
    # the end of the period either lands before it, and counts, or sees the period over.
    listing = await listing_queries.get_visible(session, principal, listing_id, for_update=True)
    if listing is None:
        raise NotFound("No such listing.")
    if not takes_priority(listing.pricing_mode, listing.auction_terms):
        raise FormatNotSupported("Priority holders exist on listed and English-auction listings only.")
    now = clock.now()
    _require_listing_period(listing, now, "confirmed")
    registration = await session.get(
        Registration, data.registration_id, with_for_update=True, populate_existing=True
    )
    if registration is None or registration.listing_id != listing.id:
        raise NotFound("No such registration on this listing.")
    if registration.status != RegistrationStatus.qualified:
        raise InvalidState(
            f"Only a qualified registration can hold a priority (it is {registration.status})."
        )
    existing = await session.scalar(
        select(PriorityHolder.id).where(PriorityHolder.registration_id == registration.id)
    )
    if existing is not None:
        raise AlreadyDesignated("This registration already holds a priority: remove it first to change it.")
    holder = PriorityHolder(
        id=uuid.uuid4(),
        listing_id=listing.id,
        registration_id=registration.id,
        rank=data.rank,
        basis=data.basis,
        note=data.note,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(holder)
            await session.flush()
    except IntegrityError:
        raise AlreadyDesignated("This registration already holds a priority.") from None
    await _audit(
        session, holder, registration.bidder_code, "priority_holder_designated", actor=principal.label, at=now
    )
    return present(holder, registration.bidder_code)


async def remove(session: AsyncSession, principal: Principal, holder_id: uuid.UUID, clock: Clock) -> None:
    """``DELETE /priority-holders/{id}`` (operators): during the listing period, else 409 ``invalid_state``."""
    _require_operator(principal)
    holder = await session.get(PriorityHolder, holder_id)
    if holder is None:
        raise NotFound("No such priority holder.")
    listing = await session.get(Listing, holder.listing_id, with_for_update=True, populate_existing=True)
    assert listing is not None
    _require_listing_period(listing, clock.now(), "removed")
    bidder_code = await session.scalar(
        select(Registration.bidder_code).where(Registration.id == holder.registration_id)
    )
    await session.delete(holder)
    await session.flush()
    await _audit(
        session, holder, bidder_code or "", "priority_holder_removed", actor=principal.label, at=clock.now()
    )
