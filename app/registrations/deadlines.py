"""The ``listing_end`` deadline: a listed or auction listing resolved at the end of its listing period by its
qualified registrations (SPEC §9 for listed trading, §5 for auction mode; DOMAIN.md "Listing (挂牌) flow").

Listed mode — 0 qualified: extend by ``extension_days`` working days while extensions remain, else
``expired``; 1: a deal with that buyer at the listed price; ≥ ``min_bidders_for_auction``: an English auction
among the registrants, starting at the end of the period, deposits carried over, listing ``in_auction``; at
least 1 but fewer than the threshold (threshold > 2): a deal at the listed price with the priority holder of
the lowest rank number, else the earliest qualified registrant (SPEC §17.2: between holders of one rank, the
earliest registration), the others refunded.

Auction mode — ≥ 1 qualified: the listing's scheduled auction opens at the end of the period and the listing
is ``in_auction``; none: extend (the auction moves to the new end) or expire (the auction is cancelled).

In every case a registration still ``pending_review`` when the period ends was not qualified in time: it is
disqualified and refunded. Decisions where the SPEC is silent:

* A non-exclusive licence listing resolved by a deal also becomes ``under_contract`` (``create_deal`` only
  moves exclusive kinds): its listing period is over and the deal is its outcome; it then follows the deal
  (``sold``/``failed``). The seller lists again to license further buyers; a non-exclusive listing never
  blocks the patents for other listings.
* The winner's deposit stays held by the deal (``create_deal``: applied at payment); losers of a one-winner
  resolution keep their ``qualified`` status and are refunded at once.

Everything is done as of the period's end (the listing's ``listing_ends_at``, i.e. the item's due time), with
actor ``system``, in one transaction per listing. An extension also reports ``Outcome.spawned``: the new end
may already be due, and the sweeper should look again before handling later items.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import lifecycle
from app.audit.service import SYSTEM_ACTOR, record
from app.deadlines.sweeper import Due, Outcome, SweepContext, claim, register
from app.deals.fees import FeeSchedule
from app.deals.service import create_deal
from app.kit.workdays import WorkdayCalendar
from app.ledger import deposits
from app.listings import service as listings
from app.models.listings import Listing, ListingStatus, PricingMode
from app.models.trading import Auction, AuctionStatus, DealSource, Registration, RegistrationStatus
from app.registrations import priority
from app.registrations.service import ACTIVE, TRADED_MODES

log = logging.getLogger(__name__)
KIND = "listing_end"
R = RegistrationStatus
NOT_QUALIFIED_IN_TIME = "not qualified by the end of the listing period"


class Resolution(StrEnum):
    no_buyer = "no_buyer"  # extend or expire
    deal = "deal"  # with the only, or the earliest, qualified registrant
    auction = "auction"


def listed_resolution(qualified: int, min_bidders: int) -> Resolution:
    """SPEC §9 for a listed listing with ``qualified`` registrants (pure)."""
    if qualified == 0:
        return Resolution.no_buyer
    if qualified >= max(min_bidders, 2):
        return Resolution.auction
    return Resolution.deal


def _traded_and_due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Listed or auction listings still published whose period has ended by ``now``."""
    return (
        Listing.pricing_mode.in_([m.value for m in TRADED_MODES]),
        Listing.status == ListingStatus.published,
        Listing.listing_ends_at <= now,
    )


async def due(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    rows = (
        await session.execute(
            select(Listing.id, Listing.listing_ends_at)
            .where(*_traded_and_due(now))
            .order_by(Listing.listing_ends_at, Listing.id)
            .limit(limit)
        )
    ).all()
    return [Due(at=row.listing_ends_at, kind=KIND, id=row.id) for row in rows]


async def process(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        listing = await claim(session, Listing, item.id, *_traded_and_due(now))
        if listing is None:
            return Outcome.skipped
        return await resolve_listing_end(session, listing, fees=ctx.fees, calendar=ctx.calendar)


def _resolution_order(registration: Registration) -> tuple[uuid.UUID, uuid.UUID]:
    return registration.organization_id, registration.id


async def _refund(session: AsyncSession, registration: Registration, at: datetime, reason: str) -> None:
    if await deposits.refund(session, registration, at=at, actor=SYSTEM_ACTOR):
        registration.updated_at = at
        await session.flush()
        await record(
            session,
            entity_type="registration",
            entity_id=registration.id,
            action="deposit_refunded",
            actor=SYSTEM_ACTOR,
            at=at,
            data={
                "listing_id": registration.listing_id,
                "status": registration.status,
                "deposit_status": registration.deposit_status,
                "reason": reason,
            },
        )


async def resolve_listing_end(
    session: AsyncSession, listing: Listing, *, fees: FeeSchedule, calendar: WorkdayCalendar
) -> Outcome:
    """Resolve one listing whose period has ended; the caller holds its row (claimed, ``published``)."""
    assert listing.listing_ends_at is not None
    at = listing.listing_ends_at
    registrations = (
        await session.scalars(
            select(Registration)
            .where(Registration.listing_id == listing.id, Registration.status.in_([s.value for s in ACTIVE]))
            .order_by(Registration.created_at, Registration.id)
            .with_for_update()
        )
    ).all()
    qualified = [r for r in registrations if r.status == R.qualified]
    # Deposits are resolved in one order everywhere (organization, then registration), so two transactions
    # resolving deposits of the same organizations never deadlock on their ledger accounts.
    for late in sorted((r for r in registrations if r.status == R.pending_review), key=_resolution_order):
        late.status, late.reason = R.disqualified, NOT_QUALIFIED_IN_TIME
        await _refund(session, late, at, NOT_QUALIFIED_IN_TIME)
    if listing.pricing_mode == PricingMode.listed:
        return await _resolve_listed(session, listing, qualified, at=at, fees=fees, calendar=calendar)
    return await _resolve_auction_mode(session, listing, qualified, at=at, calendar=calendar)


async def _resolve_listed(
    session: AsyncSession,
    listing: Listing,
    qualified: list[Registration],
    *,
    at: datetime,
    fees: FeeSchedule,
    calendar: WorkdayCalendar,
) -> Outcome:
    resolution = listed_resolution(len(qualified), listing.min_bidders_for_auction)
    if resolution == Resolution.no_buyer:
        extended = await listings.extend_or_expire(
            session, listing, at=at, calendar=calendar, actor=SYSTEM_ACTOR
        )
        return Outcome.spawned if extended else Outcome.handled
    if resolution == Resolution.auction:
        auction = await lifecycle.open_listed_trading_auction(
            session, listing, starts_at=at, actor=SYSTEM_ACTOR
        )
        await listings.set_status(
            session,
            listing,
            ListingStatus.in_auction,
            actor=SYSTEM_ACTOR,
            action="auction_opened",
            at=at,
            data={"auction_id": auction.id, "bidders": len(qualified)},
        )
        return Outcome.spawned
    # The holders of a priority first (lowest rank number), then the earliest registration (SPEC §9, §17.2).
    ordered = priority.by_priority(qualified, await priority.ranks(session, listing.id))
    winner, losers = ordered[0], ordered[1:]
    assert listing.price is not None
    deal = await create_deal(
        session,
        listing=listing,
        buyer_org_id=winner.organization_id,
        price=listing.price,
        source=DealSource.listing,
        at=at,
        actor=SYSTEM_ACTOR,
        calendar=calendar,
        fees=fees,
        registration=winner,
    )
    if listing.status != ListingStatus.under_contract:  # a non-exclusive licence (see the module doc)
        await listings.set_status(
            session,
            listing,
            ListingStatus.under_contract,
            actor=SYSTEM_ACTOR,
            action="deal_made",
            at=at,
            data={"deal_id": deal.id, "price": deal.price, "source": DealSource.listing},
        )
    for loser in sorted(losers, key=_resolution_order):
        await _refund(session, loser, at, "another registrant was earlier")
    return Outcome.handled


async def _resolve_auction_mode(
    session: AsyncSession,
    listing: Listing,
    qualified: list[Registration],
    *,
    at: datetime,
    calendar: WorkdayCalendar,
) -> Outcome:
    auction = (
        await session.get(Auction, listing.auction_id, with_for_update=True)
        if listing.auction_id is not None
        else None
    )
    if auction is None:  # approval schedules it; make up for a listing approved before that rule existed
        auction = await lifecycle.schedule_for_listing(session, listing, at=at, actor=SYSTEM_ACTOR)
    if qualified:
        if auction.status != AuctionStatus.scheduled:
            raise RuntimeError(
                f"auction {auction.id} of listing {listing.id} is {auction.status}, not scheduled"
            )
        await lifecycle.open_auction(session, auction, starts_at=at, actor=SYSTEM_ACTOR)
        await listings.set_status(
            session,
            listing,
            ListingStatus.in_auction,
            actor=SYSTEM_ACTOR,
            action="auction_opened",
            at=at,
            data={"auction_id": auction.id, "bidders": len(qualified)},
        )
        return Outcome.spawned
    extended = await listings.extend_or_expire(session, listing, at=at, calendar=calendar, actor=SYSTEM_ACTOR)
    if not extended:
        await lifecycle.cancel(session, auction.id, at=at, actor=SYSTEM_ACTOR)
        return Outcome.handled
    auction.starts_at, auction.updated_at = listing.listing_ends_at, at
    await session.flush()
    await record(
        session,
        entity_type="auction",
        entity_id=auction.id,
        action="rescheduled",
        actor=SYSTEM_ACTOR,
        at=at,
        data={"starts_at": auction.starts_at, "reason": "listing period extended"},
    )
    return Outcome.spawned


register(KIND, due, process)
