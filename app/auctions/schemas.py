"""Request and response models of auctions (SPEC §10).

The output models have no field for the reserve price; sealed amounts are left out by the service until the
close (``AuctionOut.current_price`` / ``leading_bidder_code`` are null, bid lists show only one's own bid).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from app.kit.money import MoneyOut, PositiveMoneyIn
from app.kit.schemas import RequestModel, ResponseModel
from app.models.listings import AuctionFormat
from app.models.trading import AuctionStatus


class BidCreate(RequestModel):
    amount: PositiveMoneyIn


class BidPlaced(ResponseModel):
    id: uuid.UUID
    amount: MoneyOut
    bidder_code: str
    placed_at: datetime
    ends_at: datetime


class BidOut(ResponseModel):
    id: uuid.UUID
    seq: int
    amount: MoneyOut
    bidder_code: str
    placed_at: datetime


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
