"""Negotiated pricing (协议定价, SPEC §8; DOMAIN.md "Why the three pricing modes").

A buyer opens a thread on a ``negotiated`` listing with an offer; the receiving party counters, accepts or
rejects it, its maker may withdraw it. Acceptance makes the deal in the same transaction
(``app.deals.service.create_deal``: a public-institution seller's deal first spends 15 days in
``public_notice``). An exclusive kind (assignment, exclusive or sole licence) sells once, so its first
acceptance puts the listing ``under_contract`` and closes every other open offer; a non-exclusive licence
listing stays ``published`` and its other threads go on.

Races: every move of an offer is a conditional UPDATE on ``status = 'open'``; an acceptance also holds the
listing's row lock (offers and counters its shared lock) and re-checks the listing's state under it, so of
twenty acceptances on one exclusive listing exactly one makes a deal and the rest get 409. Services flush,
never commit; every change is audited (``entity_type="offer"``) in the caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import SYSTEM_ACTOR, record
from app.deals.fees import FeeSchedule
from app.deals.service import create_deal
from app.equity.rules import check_investee
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, NotFound
from app.kit.security import Principal
from app.kit.workdays import WorkdayCalendar
from app.listings import chain
from app.models.listings import Listing
from app.models.trading import DealSource, Offer, OfferStatus
from app.negotiation import repository as repo
from app.negotiation import rules, schemas
from app.negotiation.rules import OfferAlreadyOpen, OfferExpired, Party
from app.notifications import service as notifications

ENTITY = "offer"


# --- helpers --------------------------------------------------------------------------------------------


def _require_verified_org(principal: Principal) -> uuid.UUID:
    """Offering, countering and accepting are for members of verified organizations (SPEC §3)."""
    return principal.verified_org_id("Only members of the negotiating organizations may do this.")


async def _audit(
    session: AsyncSession, offer_id: uuid.UUID, action: str, actor: str, at: datetime, **data: Any
) -> None:
    await record(
        session, entity_type=ENTITY, entity_id=offer_id, action=action, actor=actor, at=at, data=data
    )


async def _load(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> tuple[Offer, uuid.UUID, Party | None]:
    """The offer, its listing's seller, and the caller's side (None for operators). Anyone but the two
    parties and operators gets 404: another organization's offer is private (SPEC §2)."""
    found = await repo.offer_and_seller(session, offer_id)
    if found is None:
        raise NotFound("No such offer.")
    offer, seller_org_id = found
    if principal.is_operator:
        return offer, seller_org_id, None
    if principal.organization_id is not None and principal.organization_id == offer.buyer_org_id:
        return offer, seller_org_id, Party.buyer
    if principal.organization_id is not None and principal.organization_id == seller_org_id:
        return offer, seller_org_id, Party.seller
    raise NotFound("No such offer.")


def _require_side(party: Party | None, side: Party, what: str) -> None:
    if party != side:
        raise Forbidden(f"Only the {side} may {what} this offer.")


async def _lock_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, *, exclusive: bool
) -> Listing:
    listing = await repo.lock_listing(session, principal, listing_id, exclusive=exclusive)
    if listing is None:
        raise NotFound("No such listing.")
    return listing


def _require_open(offer: Offer, now: datetime) -> None:
    """Why an offer takes no more moves: it lapsed (409 ``offer_expired``) or it is no longer open (409
    ``invalid_state``). Checked on the row as read, before any lock, and again on the conditional UPDATE."""
    status = rules.effective_status(offer.status, offer.expires_at, now)
    if status == OfferStatus.expired:
        raise OfferExpired("The offer has expired.")
    if status != OfferStatus.open:
        raise InvalidState(f"The offer is {status}, not open.")


async def _move(session: AsyncSession, offer: Offer, target: OfferStatus, now: datetime) -> None:
    """``open → target`` with the conditional UPDATE; when it changes nothing, say why: the offer lapsed
    (409 ``offer_expired``) or it is no longer open (409 ``invalid_state``)."""
    if await repo.move_open(session, offer.id, target, at=now, unless_lapsed_at=now):
        await session.refresh(offer)
        return
    await session.refresh(offer)
    _require_open(offer, now)
    raise InvalidState("The offer changed meanwhile.")  # pragma: no cover - refreshed row is not open


async def _insert(session: AsyncSession, offer: Offer) -> None:
    """Insert an open offer; the partial unique index (one open offer per thread) decides a race."""
    try:
        async with session.begin_nested():
            session.add(offer)
            await session.flush()
    except IntegrityError:
        raise OfferAlreadyOpen(
            "This buyer's thread already has an open offer: counter, accept, reject or withdraw it first."
        ) from None


async def _lapse_thread(
    session: AsyncSession, listing_id: uuid.UUID, buyer_org_id: uuid.UUID, now: datetime
) -> None:
    """The sweeper's expiry, done on the spot for this thread, so a lapsed offer never blocks a new one."""
    for offer_id, expires_at in await repo.lapse_thread(session, listing_id, buyer_org_id, now):
        await _audit(session, offer_id, "expired", SYSTEM_ACTOR, expires_at, status=OfferStatus.expired)


def present(offer: Offer, now: datetime) -> schemas.OfferOut:
    return schemas.OfferOut(
        id=offer.id,
        listing_id=offer.listing_id,
        buyer_org_id=offer.buyer_org_id,
        price=offer.price,
        message=offer.message,
        status=rules.effective_status(offer.status, offer.expires_at, now),
        made_by=Party(offer.made_by),
        expires_at=offer.expires_at,
        previous_offer_id=offer.previous_offer_id,
        deal_id=offer.deal_id,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
    )


# --- moves ----------------------------------------------------------------------------------------------


async def make_offer(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    data: schemas.OfferCreate,
    clock: Clock,
) -> Offer:
    """A buyer opens (or reopens) its thread on a published negotiated listing (SPEC §8). One open offer per
    thread → 409 ``offer_already_open``; the seller may not offer on its own listing (403)."""
    buyer_org_id = _require_verified_org(principal)
    listing = await _lock_listing(session, principal, listing_id, exclusive=False)
    if listing.seller_org_id == buyer_org_id:
        raise Forbidden("The seller cannot make offers on its own listing.")
    check_investee(listing.transaction_kind, principal.org_kind)  # 403: an equity listing's buyer, SPEC §18.2
    await chain.check_not_barred(session, listing, buyer_org_id)  # 409 bidder_barred, SPEC §17.3
    now = clock.now()
    rules.check_listing_takes_offers(listing, now)
    rules.check_expires_at(data.expires_at, now)
    await _lapse_thread(session, listing.id, buyer_org_id, now)
    if await repo.open_offer_in_thread(session, listing.id, buyer_org_id) is not None:
        raise OfferAlreadyOpen(
            "This buyer's thread already has an open offer: counter, accept, reject or withdraw it first."
        )
    offer = Offer(
        id=uuid.uuid4(),
        listing_id=listing.id,
        buyer_org_id=buyer_org_id,
        price=data.price,
        message=data.message,
        status=OfferStatus.open,
        made_by=Party.buyer,
        expires_at=data.expires_at,
        previous_offer_id=None,
        deal_id=None,
        created_at=now,
        updated_at=now,
    )
    await _insert(session, offer)
    await _audit(
        session,
        offer.id,
        "made",
        principal.label,
        now,
        listing_id=listing.id,
        buyer_org_id=buyer_org_id,
        made_by=Party.buyer,
        price=data.price,
        expires_at=data.expires_at,
        status=OfferStatus.open,
    )
    await notifications.offer_received(session, offer, seller_org_id=listing.seller_org_id, at=now)
    return offer


async def counter_offer(
    session: AsyncSession,
    principal: Principal,
    offer_id: uuid.UUID,
    data: schemas.OfferCreate,
    clock: Clock,
) -> Offer:
    """The receiver answers with its own price: the offer becomes ``countered`` and a new ``open`` offer,
    made by the receiver, continues the thread (``previous_offer_id``)."""
    offer, seller_org_id, party = await _load(session, principal, offer_id)
    receiver = rules.receiver_of(offer.made_by)
    _require_side(party, receiver, "counter")
    _require_verified_org(principal)
    now = clock.now()
    _require_open(offer, now)
    listing = await _lock_listing(session, principal, offer.listing_id, exclusive=False)
    rules.check_listing_takes_offers(listing, now)
    rules.check_expires_at(data.expires_at, now)
    await _move(session, offer, OfferStatus.countered, now)
    counter = Offer(
        id=uuid.uuid4(),
        listing_id=offer.listing_id,
        buyer_org_id=offer.buyer_org_id,
        price=data.price,
        message=data.message,
        status=OfferStatus.open,
        made_by=receiver,
        expires_at=data.expires_at,
        previous_offer_id=offer.id,
        deal_id=None,
        created_at=now,
        updated_at=now,
    )
    await _insert(session, counter)
    await _audit(
        session,
        offer.id,
        "countered",
        principal.label,
        now,
        status=OfferStatus.countered,
        counter_offer_id=counter.id,
    )
    await _audit(
        session,
        counter.id,
        "made",
        principal.label,
        now,
        listing_id=counter.listing_id,
        buyer_org_id=counter.buyer_org_id,
        made_by=receiver,
        price=data.price,
        expires_at=data.expires_at,
        previous_offer_id=offer.id,
        status=OfferStatus.open,
    )
    # The counter goes to whoever made the offer it answers.
    maker_org_id = offer.buyer_org_id if offer.made_by == Party.buyer else seller_org_id
    await notifications.offer_countered(session, counter, recipient_org_id=maker_org_id, at=now)
    return counter


async def accept_offer(
    session: AsyncSession,
    principal: Principal,
    offer_id: uuid.UUID,
    clock: Clock,
    calendar: WorkdayCalendar,
    fees: FeeSchedule,
) -> Offer:
    """The receiver accepts: ``accepted`` and a deal at the offer's price, in this transaction (SPEC §8).

    Exactly one acceptance wins a race: the listing's row lock (re-read under it: still ``published``, its
    period not over) keeps two acceptances on one exclusive listing apart, and the conditional UPDATE of the
    offer (still open, not lapsed) keeps two acceptances of one offer apart. Losers get 409.
    """
    offer, seller_org_id, party = await _load(session, principal, offer_id)
    _require_side(party, rules.receiver_of(offer.made_by), "accept")
    _require_verified_org(principal)
    now = clock.now()
    _require_open(offer, now)
    listing = await _lock_listing(session, principal, offer.listing_id, exclusive=True)
    rules.check_listing_takes_offers(listing, now)
    await _move(session, offer, OfferStatus.accepted, now)
    deal = await create_deal(
        session,
        listing=listing,
        buyer_org_id=offer.buyer_org_id,
        price=offer.price,
        source=DealSource.offer,
        at=now,
        actor=principal.label,
        calendar=calendar,
        fees=fees,
        offer_id=offer.id,
    )
    await repo.set_deal(session, offer.id, deal.id)
    await _audit(
        session,
        offer.id,
        "accepted",
        principal.label,
        now,
        status=OfferStatus.accepted,
        deal_id=deal.id,
        price=offer.price,
    )
    if rules.is_exclusive(listing.transaction_kind):
        for other in await repo.end_open_offers(
            session, listing.id, OfferStatus.closed, at=now, except_id=offer.id
        ):
            await _audit(
                session, other, "closed", principal.label, now, status=OfferStatus.closed, deal_id=deal.id
            )
    maker_org_id = offer.buyer_org_id if offer.made_by == Party.buyer else seller_org_id
    await notifications.offer_accepted(session, offer, maker_org_id=maker_org_id, deal_id=deal.id, at=now)
    await session.refresh(offer)
    return offer


async def reject_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, clock: Clock
) -> Offer:
    """The receiver declines the offer; the thread stays, the buyer may offer again."""
    offer, _seller, party = await _load(session, principal, offer_id)
    _require_side(party, rules.receiver_of(offer.made_by), "reject")
    now = clock.now()
    await _move(session, offer, OfferStatus.rejected, now)
    await _audit(session, offer.id, "rejected", principal.label, now, status=OfferStatus.rejected)
    return offer


async def withdraw_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, clock: Clock
) -> Offer:
    """The maker takes its open offer back."""
    offer, _seller, party = await _load(session, principal, offer_id)
    _require_side(party, Party(offer.made_by), "withdraw")
    now = clock.now()
    await _move(session, offer, OfferStatus.withdrawn, now)
    await _audit(session, offer.id, "withdrawn", principal.label, now, status=OfferStatus.withdrawn)
    return offer


# --- reads ----------------------------------------------------------------------------------------------


async def get_offer(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> Offer:
    """For the two parties and operators; 404 for anyone else."""
    offer, _seller, _party = await _load(session, principal, offer_id)
    return offer


async def list_listing_offers(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    *,
    status: OfferStatus | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[Offer], str | None]:
    """The seller and operators see every thread, a buyer its own; another organization sees an empty list
    for a listing it may see (it has no thread there) and 404 for one it may not."""
    listing = await repo.visible_listing(session, principal, listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    everything = principal.is_operator or principal.organization_id == listing.seller_org_id
    if not everything and principal.organization_id is None:
        return [], None
    return await repo.list_offers(
        session,
        listing.id,
        buyer_org_id=None if everything else principal.organization_id,
        status=status,
        now=now,
        limit=limit,
        cursor=cursor,
    )


async def list_own_threads(
    session: AsyncSession, principal: Principal, *, now: datetime, limit: int
) -> list[tuple[schemas.OfferOut, str]]:
    """The caller's organization's threads as a buyer, each by its latest offer (presented as the API does)
    with the listing's title, newest first."""
    if principal.organization_id is None:
        return []
    rows = await repo.latest_of_buyer_threads(session, principal.organization_id, limit=limit)
    return [(present(offer, now), title) for offer, title in rows]
