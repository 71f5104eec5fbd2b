"""Request and response models of auctions (SPEC §10).

The output models have no field for the reserve price; sealed amounts are left out by the service until the
close (``AuctionOut.current_price`` / ``leading_bidder_code`` are null, bid lists show only one's own bid).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.listings import AuctionFormat
from app.models.trading import AuctionStatus, ProxyStatus


class BidCreate(RequestModel):
    amount: PositiveMoneyIn


class BidPlaced(ResponseModel):
    """An accepted bid and the auction's state after the whole transaction, the automatic bids of proxies
    included (SPEC §17.1); a sealed auction's ``leading``, ``current_price`` and ``leading_bidder_code`` are
    null."""

    id: uuid.UUID
    amount: MoneyOut
    bidder_code: str
    placed_at: datetime
    ends_at: datetime
    auto: bool = False
    leading: bool | None = None
    current_price: MoneyOut | None = None
    leading_bidder_code: str | None = None


class BidOut(ResponseModel):
    id: uuid.UUID
    seq: int
    amount: MoneyOut
    bidder_code: str
    placed_at: datetime
    auto: bool = Field(description="Placed by the exchange for the bidder's proxy (SPEC §17.1)")
    priority_rank: int | None = Field(description="The bidder's priority rank (SPEC §17.2); null: none")


class AuctionOut(ResponseModel):
    """The public state of an auction. There is deliberately no reserve price here."""

    id: uuid.UUID
    listing_id: uuid.UUID
    format: AuctionFormat
    status: AuctionStatus
    start_price: MoneyOut
    increment: MoneyOut
    current_price: MoneyOut | None
    leading_bidder_code: str | None
    bid_count: int
    starts_at: datetime | None
    free_bidding_ends_at: datetime | None
    ends_at: datetime | None
    extensions: int
    reserve_met: bool | None = None
    winner_bidder_code: str | None = None
    deal_id: uuid.UUID | None = None
    leader_priority_rank: int | None = Field(
        default=None, description="The leader's priority rank (SPEC §17.2); null when it holds no right"
    )


class ProxyIn(RequestModel):
    max_amount: PositiveMoneyIn


class ProxyOut(ResponseModel):
    """A proxy (SPEC §17.1): shown to its holder only. ``leading`` and ``current_price`` are the auction's state
    after the call."""

    auction_id: uuid.UUID
    bidder_code: str
    max_amount: MoneyOut
    status: ProxyStatus
    set_at: datetime
    created_at: datetime
    leading: bool
    current_price: MoneyOut | None
