"""Registrations, offers, auctions, bids and deals (SPEC §7–§11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin
from app.models.listings import AuctionFormat, SealedPricing


class RegistrationStatus(StrEnum):
    pending_review = "pending_review"
    qualified = "qualified"
    disqualified = "disqualified"
    withdrawn = "withdrawn"


class DepositStatus(StrEnum):
    held = "held"
    refunded = "refunded"
    applied = "applied"
    forfeited = "forfeited"


class Registration(IdMixin, TimestampMixin, Base):
    """A buyer's registration for a listed or auction listing, with its deposit hold (resolved once)."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("listing_id", "organization_id"),
        UniqueConstraint("listing_id", "bidder_code"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[RegistrationStatus] = mapped_column(String(16))
    bidder_code: Mapped[str] = mapped_column(String(8))
    deposit: Mapped[int] = mapped_column(BigInteger)
    deposit_status: Mapped[DepositStatus] = mapped_column(String(16))
    deposit_resolved_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(1000))


class OfferStatus(StrEnum):
    open = "open"
    countered = "countered"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"
    expired = "expired"
    closed = "closed"


class Offer(IdMixin, TimestampMixin, Base):
    """One move in a negotiation thread (listing × buyer). At most one open offer per thread."""

    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_listing_id_buyer_org_id", "listing_id", "buyer_org_id"),
        Index(
            "uq_offers_open_thread",
            "listing_id",
            "buyer_org_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"))
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    price: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[OfferStatus] = mapped_column(String(16))
    made_by: Mapped[str] = mapped_column(String(8))  # buyer | seller
    expires_at: Mapped[datetime | None]
    previous_offer_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None]


class AuctionStatus(StrEnum):
    scheduled = "scheduled"
    open = "open"
    closed = "closed"
    failed = "failed"
    cancelled = "cancelled"


class Auction(IdMixin, TimestampMixin, Base):
    """An auction's state. Bids change it with one conditional UPDATE (DESIGN.md "The bid").

    ``version`` counts accepted bids (a bid's ``seq``); ``event_seq`` counts live events. The reserve price
    and, for sealed auctions, the leader and price are never exposed before the close.
    """

    __tablename__ = "auctions"
    __table_args__ = (
        Index("ix_auctions_status_starts_at", "status", "starts_at"),
        Index("ix_auctions_status_ends_at", "status", "ends_at"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"), unique=True)
    format: Mapped[AuctionFormat] = mapped_column(String(8))
    status: Mapped[AuctionStatus] = mapped_column(String(16))
    start_price: Mapped[int] = mapped_column(BigInteger)
    increment: Mapped[int] = mapped_column(BigInteger)
    reserve_price: Mapped[int | None] = mapped_column(BigInteger)
    free_bidding_seconds: Mapped[int]
    countdown_seconds: Mapped[int]
    sealed_pricing: Mapped[SealedPricing | None] = mapped_column(String(16))
    decrement: Mapped[int | None] = mapped_column(BigInteger)
    step_seconds: Mapped[int | None]
    floor_price: Mapped[int | None] = mapped_column(BigInteger)
    # Listed-trading auctions forfeit every deposit when nobody bids (SPEC §7).
    from_listed_trading: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[datetime | None]
    free_bidding_ends_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    current_price: Mapped[int | None] = mapped_column(BigInteger)
    leader_registration_id: Mapped[uuid.UUID | None]
    bid_count: Mapped[int] = mapped_column(default=0)
    extensions: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=0)
    event_seq: Mapped[int] = mapped_column(default=0)
    reserve_met: Mapped[bool | None]
    winner_registration_id: Mapped[uuid.UUID | None]
    final_price: Mapped[int | None] = mapped_column(BigInteger)
    deal_id: Mapped[uuid.UUID | None]
    closed_at: Mapped[datetime | None]
    # SPEC §17: the leader's priority rank (public); the leader before the last bid transaction (set from the
    # old value by the bid's UPDATE, so RETURNING tells who was outbid); whether any proxy was ever set (so an
    # auction without proxies skips their read); whether ``auction_ending_soon`` went out. The last three are
    # internal: no response shows them (a proxy's existence is secret, §17.1).
    leader_priority_rank: Mapped[int | None]
    previous_leader_registration_id: Mapped[uuid.UUID | None]
    has_proxies: Mapped[bool] = mapped_column(default=False, server_default=false())
    ending_soon_notified: Mapped[bool] = mapped_column(default=False, server_default=false())


class ProxyStatus(StrEnum):
    active = "active"
    exhausted = "exhausted"
    ended = "ended"


class ProxyBid(IdMixin, TimestampMixin, Base):
    """A registrant's maximum for an English auction (代理出价, SPEC §17.1): the exchange bids for it, never
    more than it takes to lead. Secret until the close: only its holder reads it."""

    __tablename__ = "proxy_bids"
    __table_args__ = (UniqueConstraint("auction_id", "registration_id"),)

    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"))
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"))
    bidder_code: Mapped[str] = mapped_column(String(8))
    max_amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ProxyStatus] = mapped_column(String(16))
    set_at: Mapped[datetime]


class Bid(IdMixin, Base):
    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("auction_id", "seq"),
        # Sealed auctions: one bid per bidder (SPEC §10, already_bid).
        Index(
            "uq_bids_sealed_bidder",
            "auction_id",
            "registration_id",
            unique=True,
            sqlite_where=text("sealed"),
            postgresql_where=text("sealed"),
        ),
    )

    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"))
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"))
    bidder_code: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    placed_at: Mapped[datetime]
    seq: Mapped[int]
    sealed: Mapped[bool] = mapped_column(default=False)
    # SPEC §17: placed by the exchange for a proxy; the bidder's priority rank (null: no right).
    auto: Mapped[bool] = mapped_column(default=False, server_default=false())
    priority_rank: Mapped[int | None]


class AuctionEvent(Base):
    """Live events of an auction, numbered from 1, replayed to SSE clients by ``Last-Event-ID``."""

    __tablename__ = "auction_events"

    auction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auctions.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class DealSource(StrEnum):
    offer = "offer"
    listing = "listing"
    auction = "auction"
    open_license = "open_license"
    trial = "trial"  # SPEC §18.3: a trial licence converted on the offer's terms


class DealStatus(StrEnum):
    public_notice = "public_notice"
    awaiting_signatures = "awaiting_signatures"
    awaiting_payment = "awaiting_payment"
    paid = "paid"
    settled = "settled"
    completed = "completed"  # SPEC §18.1: every completion step of the deal's kind done
    cancelled = "cancelled"
    defaulted = "defaulted"


class Deal(IdMixin, TimestampMixin, Base):
    """An agreed price between a buyer and a seller (SPEC §11). Fees and ``amount_due`` are fixed when the
    deal is made; ``registration_id`` names the deposit applied to it, if any."""

    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_buyer_org_id_created_at", "buyer_org_id", "created_at"),
        Index("ix_deals_seller_org_id_created_at", "seller_org_id", "created_at"),
        Index("ix_deals_status_sign_by", "status", "sign_by"),
        Index("ix_deals_status_pay_by", "status", "pay_by"),
        Index("ix_deals_status_notice_ends_at", "status", "notice_ends_at"),
    )

    listing_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("listings.id"), index=True)
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    source: Mapped[DealSource] = mapped_column(String(16))
    transaction_kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[DealStatus] = mapped_column(String(24))
    price: Mapped[int] = mapped_column(BigInteger)
    buyer_fee: Mapped[int] = mapped_column(BigInteger)
    seller_fee: Mapped[int] = mapped_column(BigInteger)
    deposit_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    registration_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("registrations.id"))
    offer_id: Mapped[uuid.UUID | None]
    auction_id: Mapped[uuid.UUID | None]
    related_party: Mapped[bool] = mapped_column(default=False)
    contract_id: Mapped[uuid.UUID | None]
    notice_ends_at: Mapped[datetime | None]
    sign_by: Mapped[datetime | None]
    pay_by: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    certificate_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    # SPEC §18.1/§18.2: the price paid in money (= price, 0 for an equity contribution); when every completion
    # step was done; the equity object (equity contributions only); the trial a deal converts (§18.3).
    cash_price: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[datetime | None]
    equity: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    trial_id: Mapped[uuid.UUID | None]


class IdempotencyKey(IdMixin, Base):
    """A stored response for an ``Idempotency-Key`` (SPEC §2), written in the request's own transaction."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal", "method", "path", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    principal: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
