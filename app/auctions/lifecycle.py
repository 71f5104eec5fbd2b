"""An auction's life before bidding: scheduled at approval, opened when the listing period ends (SPEC §5,
§9, §10). Bidding and closing live in ``app.auctions.service``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import notices, proxies, rules
from app.audit.service import record
from app.listings.rules import DEFAULT_COUNTDOWN_SECONDS, default_increment
from app.models.listings import AuctionFormat, Listing, SealedPricing
from app.models.trading import Auction, AuctionStatus

LISTED_TRADING_COUNTDOWN_SECONDS = 300  # SPEC §9


def _new_auction(listing: Listing, at: datetime, **fields: object) -> Auction:
    return Auction(
        id=uuid.uuid4(),
        listing_id=listing.id,
        created_at=at,
        updated_at=at,
        bid_count=0,
        extensions=0,
        version=0,
        event_seq=0,
        **fields,
    )


async def schedule_for_listing(
    session: AsyncSession, listing: Listing, *, at: datetime, actor: str
) -> Auction:
    """At approval an auction-mode listing gets its ``scheduled`` auction; it opens at ``listing_ends_at``."""
    terms = listing.auction_terms or {}
    assert listing.price is not None
    auction = _new_auction(
        listing,
        at,
        format=AuctionFormat(terms["format"]),
        status=AuctionStatus.scheduled,
        start_price=listing.price,
        increment=terms.get("increment") or default_increment(listing.price),
        reserve_price=terms.get("reserve_price"),
        free_bidding_seconds=int(terms.get("free_bidding_minutes", 1440)) * 60,
        countdown_seconds=int(terms.get("countdown_seconds", DEFAULT_COUNTDOWN_SECONDS)),
        sealed_pricing=SealedPricing(terms.get("sealed_pricing") or SealedPricing.first_price),
        decrement=terms.get("decrement"),
        step_seconds=terms.get("step_seconds"),
        floor_price=terms.get("floor_price"),
        from_listed_trading=False,
        starts_at=listing.listing_ends_at,
    )
    session.add(auction)
    await session.flush()
    listing.auction_id = auction.id
    await record(
        session,
        entity_type="auction",
        entity_id=auction.id,
        action="scheduled",
        actor=actor,
        at=at,
        data={
            "listing_id": listing.id,
            "format": auction.format,
            "start_price": auction.start_price,
            "increment": auction.increment,
        },
    )
    return auction


async def open_auction(session: AsyncSession, auction: Auction, *, starts_at: datetime, actor: str) -> None:
    """scheduled → open, with its schedule computed from ``starts_at`` (the end of the listing period)."""
    plan = rules.schedule(
        AuctionFormat(auction.format),
        starts_at,
        free_bidding_seconds=auction.free_bidding_seconds,
        countdown_seconds=auction.countdown_seconds,
        start_price=auction.start_price,
        decrement=auction.decrement,
        step_seconds=auction.step_seconds,
        floor_price=auction.floor_price,
    )
    auction.status = AuctionStatus.open
    auction.starts_at, auction.free_bidding_ends_at, auction.ends_at = (
        plan.starts_at,
        plan.free_bidding_ends_at,
        plan.ends_at,
    )
    if auction.format == AuctionFormat.dutch:
        auction.current_price = auction.start_price
    auction.updated_at = starts_at
    await session.flush()
    await record(
        session,
        entity_type="auction",
        entity_id=auction.id,
        action="opened",
        actor=actor,
        at=starts_at,
        data={
            "starts_at": plan.starts_at,
            "free_bidding_ends_at": plan.free_bidding_ends_at,
            "ends_at": plan.ends_at,
        },
    )
    await notices.opening(session, auction, at=starts_at)
    if auction.format == AuctionFormat.english and auction.has_proxies:
        await proxies.answer_opening(session, auction.id, at=plan.starts_at)
        await session.refresh(auction)


async def open_listed_trading_auction(
    session: AsyncSession, listing: Listing, *, starts_at: datetime, actor: str
) -> Auction:
    """Several qualified registrants at the end of a listed listing: an English auction among them, starting
    at the listed price, free bidding 0 minutes, countdown 300 s, deposits carried over (SPEC §9)."""
    assert listing.price is not None
    terms = listing.auction_terms or {}
    auction = _new_auction(
        listing,
        starts_at,
        format=AuctionFormat.english,
        status=AuctionStatus.scheduled,
        start_price=listing.price,
        increment=terms.get("increment") or default_increment(listing.price),
        reserve_price=None,
        free_bidding_seconds=0,
        countdown_seconds=LISTED_TRADING_COUNTDOWN_SECONDS,
        sealed_pricing=None,
        from_listed_trading=True,
        starts_at=starts_at,
    )
    session.add(auction)
    await session.flush()
    listing.auction_id = auction.id
    await record(
        session,
        entity_type="auction",
        entity_id=auction.id,
        action="scheduled",
        actor=actor,
        at=starts_at,
        data={
            "listing_id": listing.id,
            "format": auction.format,
            "start_price": auction.start_price,
            "increment": auction.increment,
            "from_listed_trading": True,
        },
    )
    await open_auction(session, auction, starts_at=starts_at, actor=actor)
    return auction


async def cancel(session: AsyncSession, auction_id: uuid.UUID, *, at: datetime, actor: str) -> None:
    """A withdrawn or terminated listing cancels its auction (SPEC §20) unless it has already closed or failed.
    Nothing opens, closes or takes a bid on a cancelled auction: each of those requires another status."""
    auction = await session.get(Auction, auction_id, with_for_update=True)
    if auction is None or auction.status not in (AuctionStatus.scheduled, AuctionStatus.open):
        return
    auction.status, auction.updated_at, auction.closed_at = AuctionStatus.cancelled, at, at
    await session.flush()
    await record(
        session,
        entity_type="auction",
        entity_id=auction.id,
        action="cancelled",
        actor=actor,
        at=at,
        data={"status": AuctionStatus.cancelled},
    )
    if auction.has_proxies:
        await proxies.end_proxies(session, [auction.id], at=at)
