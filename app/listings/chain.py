"""The relist chain (SPEC §17.3): a relisted listing points to the listing it relists (``previous_listing_id``)
and that one back to it (``next_listing_id``). What the chain decides besides the relist itself
(``app.listings.relisting``):

* a relisted draft keeps the patents and the transaction kind, and its price stays at or above 80% of the
  previous price, at PATCH and at submission (``check_relisted_draft``);
* the buyer of a ``defaulted`` deal on a listing may not register for, nor offer on, any later listing of
  the chain: 409 ``bidder_barred`` (``check_not_barred``; 法释〔2016〕18号 art 24), before anything is held
  or created;
* the relisting window of a ``failed`` or ``expired`` listing (``relist_by``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import Conflict
from app.listings import repository as repo
from app.listings import rules
from app.models.listings import Listing, TransactionKind
from app.models.trading import Deal, DealStatus


class BidderBarred(Conflict):
    code = "bidder_barred"


def ended_at(listing: Listing | repo.AnyRow) -> datetime | None:
    """The instant a ``failed`` or ``expired`` listing became so. A listing that an auction's close failed
    before that instant was stored took its last change then: a terminal listing changes no more (the relist
    itself stores the instant before it links the listings)."""
    if listing.status not in rules.RELISTABLE:
        return None
    return listing.ended_at if listing.ended_at is not None else listing.updated_at


def relist_by(listing: Listing | repo.AnyRow) -> datetime | None:
    """Until when the listing may be relisted (null unless ``failed`` or ``expired``)."""
    return rules.relist_by(listing.status, ended_at(listing))


async def earlier_listings(session: AsyncSession, listing: Listing) -> list[uuid.UUID]:
    """The listings this one relists, directly or through others, nearest first (one query per step: a
    chain grows by one listing per failure, at most monthly)."""
    earlier: list[uuid.UUID] = []
    current = listing.previous_listing_id
    while current is not None and current not in earlier and current != listing.id:
        earlier.append(current)
        current = await session.scalar(select(Listing.previous_listing_id).where(Listing.id == current))
    return earlier


async def check_not_barred(session: AsyncSession, listing: Listing, org_id: uuid.UUID) -> None:
    """409 ``bidder_barred`` when ``org_id`` was the buyer of a ``defaulted`` deal on an earlier listing of the
    chain. Called before anything is created or held."""
    earlier = await earlier_listings(session, listing)
    if not earlier:
        return
    defaulted = await session.scalar(
        select(Deal.id)
        .where(
            Deal.listing_id.in_(earlier),
            Deal.buyer_org_id == org_id,
            Deal.status == DealStatus.defaulted,
        )
        .limit(1)
    )
    if defaulted is not None:
        raise BidderBarred(
            "This organization defaulted on a deal for an earlier listing of the same object: it may not take "
            "part in this listing."
        )


async def check_relisted_draft(
    session: AsyncSession,
    listing: Listing,
    *,
    price: int | None,
    transaction_kind: TransactionKind,
    patent_ids: list[uuid.UUID],
) -> None:
    """A relisted draft's terms as PATCH would leave them, or as submitted: the patents and the transaction
    kind of the previous listing (422 ``relist_terms_fixed``), a price of at least 80% of its price (422
    ``relist_price_too_low``). Nothing to check for a listing that relists none."""
    if listing.previous_listing_id is None:
        return
    previous = await session.get(Listing, listing.previous_listing_id)
    if previous is None:  # pragma: no cover - listings are never deleted
        return
    rules.check_relist_terms(
        kind=previous.transaction_kind,
        new_kind=transaction_kind,
        patent_ids=await repo.patent_ids_of(session, previous.id),
        new_patent_ids=patent_ids,
    )
    rules.check_relist_price(price, previous.price)
