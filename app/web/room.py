"""What the bidding room (SPEC §19.5) renders: the API's public state of the auction, its latest event
number, the latest 20 bids and the viewer's own standing, read with the same services as the API."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.auctions import deadlines
from app.auctions import service as auctions
from app.auctions.schemas import AuctionOut, ProxyOut
from app.deadlines.sweeper import sweep_context
from app.kit.db import Database
from app.kit.errors import NotFound
from app.kit.security import Principal
from app.models.listings import AuctionFormat, Listing, PriorityHolder
from app.models.trading import Auction, AuctionStatus, Bid, Deal, RegistrationStatus
from app.registrations import service as registrations

LATEST_BIDS = 20


@dataclass(frozen=True)
class Room:
    auction: AuctionOut
    last_event_id: int
    bids: list[Bid]
    my_code: str | None
    my_rank: int | None
    unavailable: str | None  # why the viewer cannot bid at all (None: a qualified registrant)
    phase: str
    dutch: DutchTerms | None
    my_sealed_bid: int | None  # the viewer's own sealed bid (fen), shown to it alone
    my_proxy: ProxyOut | None  # the viewer's own proxy (SPEC §17.1), shown to it alone
    my_contract_id: uuid.UUID | None  # the winner's contract (shown to the winner)


@dataclass(frozen=True)
class DutchTerms:
    """What room.js needs to follow a Dutch clock price between events (SPEC §10)."""

    decrement: int
    step_seconds: int
    floor_price: int


def phase_of(auction: AuctionOut, now: datetime) -> str:
    """未开始, 自由报价期, 限时报价期, 已结束, 流拍 or 已取消 (SPEC §19.5); the same rule as room.js."""
    if auction.status == AuctionStatus.scheduled:
        return "未开始"
    if auction.status == AuctionStatus.open:
        if auction.starts_at is not None and now < auction.starts_at:
            return "未开始"
        if auction.free_bidding_ends_at is not None and now < auction.free_bidding_ends_at:
            return "自由报价期"
        return "限时报价期"
    return {AuctionStatus.closed: "已结束", AuctionStatus.failed: "流拍"}.get(auction.status, "已取消")


def countdown(ends_at: datetime | None, now: datetime) -> str:
    """``HH:MM:SS``, or ``D天 HH:MM:SS`` from 24 h; ``00:00:00`` at and after the end (room.js ticks it on)."""
    if ends_at is None:
        return "—"
    left = max(0, math.ceil((ends_at - now).total_seconds()))
    days, rest = divmod(left, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}天 {clock}" if days else clock


async def read_room(
    app: Any, db: Database, principal: Principal | None, auction_id: uuid.UUID, now: datetime
) -> Room:
    """The room as of ``now``: an open auction past its end is closed first (the API's lazy close). The
    event number is read before the state, so the stream the page opens after it never misses a change (an
    event it replays that the state already shows carries that same state)."""
    async with db.read() as session:
        due = await auctions.past_its_end(session, auction_id, now)
    if due is None:
        raise NotFound("No such auction.")
    if due:
        await deadlines.close_if_due(sweep_context(app), auction_id, now)
    async with db.read() as session:
        found = (
            await session.execute(
                select(
                    Auction.event_seq,
                    Listing.id,
                    Listing.seller_org_id,
                    Auction.decrement,
                    Auction.step_seconds,
                    Auction.floor_price,
                )
                .join(Listing, Listing.id == Auction.listing_id)
                .where(Auction.id == auction_id)
            )
        ).one()
        last_event_id, listing_id, seller_org_id = found[0], found[1], found[2]
        view, _ = await auctions.read_auction(await session.connection(), auction_id, now)
        dutch = None
        if view.format == AuctionFormat.dutch:
            dutch = DutchTerms(found.decrement, found.step_seconds, found.floor_price)
        bids, _ = await auctions.list_bids(session, principal, auction_id, limit=LATEST_BIDS, cursor=None)
        registration = None
        if principal is not None and principal.organization_id not in (None, seller_org_id):
            registration = await registrations.own_registration(session, principal, listing_id)
        my_rank = None
        if registration is not None:
            my_rank = await session.scalar(
                select(PriorityHolder.rank).where(PriorityHolder.registration_id == registration.id)
            )
        if principal is None:
            unavailable: str | None = "请先登录"
        elif principal.organization_id is not None and principal.organization_id == seller_org_id:
            unavailable = "卖方不能出价"
        elif registration is None or registration.status == RegistrationStatus.withdrawn:
            unavailable = "未报名"
        elif registration.status == RegistrationStatus.pending_review:
            unavailable = "资格审核中"
        elif registration.status != RegistrationStatus.qualified or not principal.org_verified:
            unavailable = "您未取得本次竞价资格"
        else:
            unavailable = None
        my_proxy = None
        if unavailable is None and view.format == AuctionFormat.english and principal is not None:
            try:
                my_proxy = await auctions.get_proxy(session, principal, auction_id)
            except NotFound:
                my_proxy = None
        my_contract_id = None
        won = registration is not None and view.winner_bidder_code == registration.bidder_code
        if won and view.deal_id is not None:
            my_contract_id = await session.scalar(select(Deal.contract_id).where(Deal.id == view.deal_id))
    my_code = registration.bidder_code if registration is not None else None
    my_sealed = None
    if view.format == AuctionFormat.sealed and my_code is not None:
        own = [b.amount for b in bids if b.bidder_code == my_code]
        my_sealed = own[0] if own else None
    return Room(
        view,
        last_event_id,
        list(bids),
        my_code,
        my_rank,
        unavailable,
        phase_of(view, now),
        dutch,
        my_sealed,
        my_proxy,
        my_contract_id,
    )
