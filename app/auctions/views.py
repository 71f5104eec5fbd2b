"""The public views of an auction (SPEC §10, §17.2): what a read, a bid response and a live event show. No
reserve price, and a sealed auction's amounts and leader stay hidden until its close."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.auctions import rules
from app.auctions.schemas import AuctionOut
from app.kit.money import format_fen
from app.models.listings import AuctionFormat
from app.models.trading import Auction, AuctionStatus

LIVE = frozenset({AuctionStatus.scheduled, AuctionStatus.open})

# The columns the views need; the bid's UPDATE returns exactly these, so an event needs no second read.
STATE_COLUMNS = (
    Auction.id,
    Auction.listing_id,
    Auction.format,
    Auction.status,
    Auction.start_price,
    Auction.increment,
    Auction.current_price,
    Auction.bid_count,
    Auction.starts_at,
    Auction.free_bidding_ends_at,
    Auction.ends_at,
    Auction.extensions,
    Auction.reserve_met,
    Auction.deal_id,
    Auction.decrement,
    Auction.step_seconds,
    Auction.floor_price,
    Auction.version,
    Auction.event_seq,
    Auction.leader_priority_rank,
)


def auction_view(a: Any, *, leading_code: str | None, winner_code: str | None, now: datetime) -> AuctionOut:
    """The public state: sealed amounts and leader hidden until the close; a Dutch auction's clock price
    while it runs. ``a`` is an Auction or a row of ``STATE_COLUMNS``."""
    fmt, status = AuctionFormat(a.format), AuctionStatus(a.status)
    current, leading = a.current_price, leading_code
    if fmt == AuctionFormat.sealed and status in LIVE:
        current, leading = None, None
    elif fmt == AuctionFormat.dutch and status in LIVE:
        current = a.start_price
        if status == AuctionStatus.open and a.starts_at is not None:
            current = rules.dutch_price(
                a.start_price, a.floor_price, a.decrement, a.step_seconds, a.starts_at, now
            )
    return AuctionOut(
        id=a.id,
        listing_id=a.listing_id,
        format=fmt,
        status=status,
        start_price=a.start_price,
        increment=a.increment,
        current_price=current,
        leading_bidder_code=leading,
        bid_count=a.bid_count,
        starts_at=a.starts_at,
        free_bidding_ends_at=a.free_bidding_ends_at,
        ends_at=a.ends_at,
        extensions=a.extensions,
        reserve_met=None if status in LIVE else a.reserve_met,
        winner_bidder_code=winner_code,
        deal_id=a.deal_id,
        leader_priority_rank=a.leader_priority_rank if leading is not None else None,
    )


def event_data(a: Any, *, leading_code: str | None, winner_code: str | None, at: datetime) -> dict[str, Any]:
    """A live event's data: the public state; for a sealed auction its phase and close time only."""
    if AuctionFormat(a.format) == AuctionFormat.sealed:
        return {
            "id": str(a.id),
            "format": AuctionFormat.sealed.value,
            "status": AuctionStatus(a.status).value,
            "starts_at": a.starts_at.isoformat() if a.starts_at else None,
            "ends_at": a.ends_at.isoformat() if a.ends_at else None,
        }
    view = auction_view(a, leading_code=leading_code, winner_code=winner_code, now=at)
    return view.model_dump(mode="json")


# What the bid transaction needs besides the public state: who leads and led, and whether proxies may answer.
BID_EXTRAS = (Auction.leader_registration_id, Auction.previous_leader_registration_id, Auction.has_proxies)


def bid_object(
    bid_id: uuid.UUID,
    seq: int,
    amount: int,
    code: str,
    *,
    auto: bool,
    rank: int | None,
    placed_at: datetime,
) -> dict[str, Any]:
    """The ``bid`` of a live ``bid`` event (SPEC §17.2), with the bid's own time (the room's row shows it)."""
    return {
        "id": str(bid_id),
        "seq": seq,
        "amount": format_fen(amount),
        "bidder_code": code,
        "auto": auto,
        "priority_rank": rank,
        "placed_at": placed_at.isoformat(),
    }
