"""All SQL of negotiation. Every state change of an offer is a conditional UPDATE on ``status = 'open'`` (and,
where it matters, on ``expires_at``), so of two racing requests only one changes the row (DESIGN.md "The
bid": the same shape serves offer acceptance); the other sees zero rows and is told why."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.listings.queries import visible_to
from app.models.listings import Listing, ListingStatus, PricingMode
from app.models.trading import Offer, OfferStatus

OPEN = OfferStatus.open.value


def not_lapsed(now: datetime) -> ColumnElement[bool]:
    return or_(Offer.expires_at.is_(None), Offer.expires_at > now)


async def lock_listing(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, *, exclusive: bool
) -> Listing | None:
    """The listing as the caller may see it, locked and re-read from the database.

    Offers and counters take a shared lock (many may be made at once); an acceptance takes the exclusive
    lock, so it waits for them and they for it: an offer cannot slip in beside the acceptance that closes
    every other thread. On SQLite ``BEGIN IMMEDIATE`` already serialises writers and the clause is a no-op.
    """
    query = (
        select(Listing)
        .where(Listing.id == listing_id)
        .with_for_update(read=not exclusive)
        .execution_options(populate_existing=True)
    )
    condition = visible_to(principal)
    if condition is not None:
        query = query.where(condition)
    listing: Listing | None = await session.scalar(query)
    return listing


async def visible_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID
) -> Listing | None:
    query = select(Listing).where(Listing.id == listing_id)
    condition = visible_to(principal)
    if condition is not None:
        query = query.where(condition)
    listing: Listing | None = await session.scalar(query)
    return listing


async def offer_and_seller(session: AsyncSession, offer_id: uuid.UUID) -> tuple[Offer, uuid.UUID] | None:
    row = (
        await session.execute(
            select(Offer, Listing.seller_org_id)
            .join(Listing, Listing.id == Offer.listing_id)
            .where(Offer.id == offer_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def open_offer_in_thread(
    session: AsyncSession, listing_id: uuid.UUID, buyer_org_id: uuid.UUID
) -> Offer | None:
    offer: Offer | None = await session.scalar(
        select(Offer).where(
            Offer.listing_id == listing_id, Offer.buyer_org_id == buyer_org_id, Offer.status == OPEN
        )
    )
    return offer


async def lapse_thread(
    session: AsyncSession, listing_id: uuid.UUID, buyer_org_id: uuid.UUID, now: datetime
) -> list[tuple[uuid.UUID, datetime]]:
    """Mark the thread's open offer ``expired`` if its ``expires_at`` has passed (the sweeper's work, done
    lazily so a lapsed offer never blocks a new one). Returns (id, expires_at) of what changed."""
    rows = await session.execute(
        update(Offer)
        .where(
            Offer.listing_id == listing_id,
            Offer.buyer_org_id == buyer_org_id,
            Offer.status == OPEN,
            Offer.expires_at <= now,
        )
        .values(status=OfferStatus.expired.value, updated_at=Offer.expires_at)
        .returning(Offer.id, Offer.expires_at)
        .execution_options(synchronize_session=False)
    )
    return [(r[0], r[1]) for r in rows if r[1] is not None]


async def move_open(
    session: AsyncSession,
    offer_id: uuid.UUID,
    target: OfferStatus,
    *,
    at: datetime,
    unless_lapsed_at: datetime | None,
) -> bool:
    """``open → target`` if still open (and, given ``unless_lapsed_at``, not past ``expires_at`` then).
    True if this call made the change."""
    conditions = [Offer.id == offer_id, Offer.status == OPEN]
    if unless_lapsed_at is not None:
        conditions.append(not_lapsed(unless_lapsed_at))
    changed = await session.execute(
        update(Offer)
        .where(*conditions)
        .values(status=target.value, updated_at=at)
        .returning(Offer.id)
        .execution_options(synchronize_session=False)
    )
    return changed.first() is not None


async def set_deal(session: AsyncSession, offer_id: uuid.UUID, deal_id: uuid.UUID) -> None:
    await session.execute(
        update(Offer)
        .where(Offer.id == offer_id)
        .values(deal_id=deal_id)
        .execution_options(synchronize_session=False)
    )


async def end_open_offers(
    session: AsyncSession,
    listing_id: uuid.UUID,
    target: OfferStatus,
    *,
    at: datetime,
    except_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Every open offer of the listing → ``target`` (``closed`` when another offer won an exclusive listing,
    ``expired`` when the listing expired). Returns the ids changed, in a stable order."""
    conditions = [Offer.listing_id == listing_id, Offer.status == OPEN]
    if except_id is not None:
        conditions.append(Offer.id != except_id)
    rows = await session.execute(
        update(Offer)
        .where(*conditions)
        .values(status=target.value, updated_at=at)
        .returning(Offer.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(r[0] for r in rows)


def _status_filter(status: OfferStatus, now: datetime) -> ColumnElement[bool]:
    """Filter by what readers see (``rules.effective_status``): a lapsed open offer counts as expired."""
    if status == OfferStatus.open:
        return and_(Offer.status == OPEN, not_lapsed(now))
    if status == OfferStatus.expired:
        return or_(
            Offer.status == OfferStatus.expired.value, and_(Offer.status == OPEN, Offer.expires_at <= now)
        )
    return Offer.status == status.value


async def list_offers(
    session: AsyncSession,
    listing_id: uuid.UUID,
    *,
    buyer_org_id: uuid.UUID | None,
    status: OfferStatus | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[Offer], str | None]:
    """Offers of a listing, newest first; ``buyer_org_id`` restricts them to one buyer's thread."""
    query = select(Offer).where(Offer.listing_id == listing_id)
    if buyer_org_id is not None:
        query = query.where(Offer.buyer_org_id == buyer_org_id)
    if status is not None:
        query = query.where(_status_filter(status, now))
    keys = [datetime_key(Offer.created_at, descending=True), SortKey(Offer.id, uuid.UUID, descending=True)]
    rows: Sequence[Any] = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda o: (o.created_at, o.id))


async def latest_of_buyer_threads(
    session: AsyncSession, buyer_org_id: uuid.UUID, *, limit: int
) -> list[tuple[Offer, str]]:
    """The organization's offer threads as a buyer, each by its latest move (an offer no counter followed),
    with the listing's title, newest first (the dashboard)."""
    later = aliased(Offer)
    rows = await session.execute(
        select(Offer, Listing.title)
        .join(Listing, Listing.id == Offer.listing_id)
        .where(
            Offer.buyer_org_id == buyer_org_id,
            ~select(later.id).where(later.previous_offer_id == Offer.id).exists(),
        )
        .order_by(Offer.created_at.desc(), Offer.id.desc())
        .limit(limit)
    )
    return [(offer, title) for offer, title in rows]


# --- deadlines ------------------------------------------------------------------------------------------


async def lapsed_offers(session: AsyncSession, now: datetime, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    rows = await session.execute(
        select(Offer.expires_at, Offer.id)
        .where(Offer.status == OPEN, Offer.expires_at <= now)
        .order_by(Offer.expires_at, Offer.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows if r[0] is not None]


async def claim_lapsed_offer(session: AsyncSession, offer_id: uuid.UUID, now: datetime) -> Offer | None:
    """The offer locked for expiry if it is still open and lapsed; None if another process holds it or it
    changed meanwhile."""
    offer: Offer | None = await session.scalar(
        select(Offer)
        .where(Offer.id == offer_id, Offer.status == OPEN, Offer.expires_at <= now)
        .with_for_update(skip_locked=True)
    )
    return offer


async def ended_negotiations(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[datetime, uuid.UUID]]:
    rows = await session.execute(
        select(Listing.listing_ends_at, Listing.id)
        .where(
            Listing.pricing_mode == PricingMode.negotiated.value,
            Listing.status == ListingStatus.published.value,
            Listing.listing_ends_at <= now,
        )
        .order_by(Listing.listing_ends_at, Listing.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows if r[0] is not None]


async def claim_ended_negotiation(
    session: AsyncSession, listing_id: uuid.UUID, now: datetime
) -> Listing | None:
    listing: Listing | None = await session.scalar(
        select(Listing)
        .where(
            Listing.id == listing_id,
            Listing.pricing_mode == PricingMode.negotiated.value,
            Listing.status == ListingStatus.published.value,
            Listing.listing_ends_at <= now,
        )
        .with_for_update(skip_locked=True)
    )
    return listing
