from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class TransactionKind(StrEnum):
    assignment = "assignment"
    exclusive_license = "exclusive_license"
    sole_license = "sole_license"
    nonexclusive_license = "nonexclusive_license"
    equity_contribution = "equity_contribution"  # 作价入股 (SPEC §18.2): an assignment for a shareholding


EXCLUSIVE_KINDS = frozenset(
    {
        TransactionKind.assignment,
        TransactionKind.exclusive_license,
        TransactionKind.sole_license,
        TransactionKind.equity_contribution,
    }
)


class PricingMode(StrEnum):
    negotiated = "negotiated"
    listed = "listed"
    auction = "auction"


class AuctionFormat(StrEnum):
    english = "english"
    sealed = "sealed"
    dutch = "dutch"


class SealedPricing(StrEnum):
    first_price = "first_price"
    second_price = "second_price"


class ListingStatus(StrEnum):
    draft = "draft"
    pending_review = "pending_review"
    published = "published"
    suspended = "suspended"
    in_auction = "in_auction"
    under_contract = "under_contract"
    sold = "sold"
    expired = "expired"
    failed = "failed"
    withdrawn = "withdrawn"
    terminated = "terminated"


# States in which a listing holds its patents (SPEC §5: patent_already_listed).
ACTIVE_STATUSES = frozenset(
    {
        ListingStatus.pending_review,
        ListingStatus.published,
        ListingStatus.suspended,
        ListingStatus.in_auction,
        ListingStatus.under_contract,
    }
)
# States the public may see.
PUBLIC_STATUSES = frozenset(set(ListingStatus) - {ListingStatus.draft, ListingStatus.pending_review})


class Listing(IdMixin, TimestampMixin, Base):
    __tablename__ = "listings"
    __table_args__ = (
        Index("ix_listings_status_published_at", "status", "published_at"),
        Index("ix_listings_seller_org_id", "seller_org_id"),
        Index("ix_listings_price", "price"),
        Index("ix_listings_listing_ends_at", "listing_ends_at"),
        # The public list's default order (newest first) walks this index and filters by status.
        Index("ix_listings_published_at_id", "published_at", "id"),
        Index("uq_listings_previous_listing_id", "previous_listing_id", unique=True),
    )

    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    transaction_kind: Mapped[TransactionKind] = mapped_column(String(32))
    pricing_mode: Mapped[PricingMode] = mapped_column(String(16))
    price: Mapped[int | None] = mapped_column(BigInteger)
    deposit: Mapped[int | None] = mapped_column(BigInteger)
    listing_days: Mapped[int]
    extension_days: Mapped[int]
    max_extensions: Mapped[int]
    min_bidders_for_auction: Mapped[int]
    requires_qualification_review: Mapped[bool]
    license_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Auction settings, reserve price included: never serialised to a response as a whole.
    auction_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[ListingStatus] = mapped_column(String(16), default=ListingStatus.draft)
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    published_at: Mapped[datetime | None]
    listing_ends_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    extensions_used: Mapped[int] = mapped_column(default=0)
    auction_id: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(default=1)
    # Relisting (SPEC §17.3): the listing this one relists (one relist per listing: unique), the one that
    # relists this one, and the instant this one became ``failed`` or ``expired`` (its window runs from there).
    # Plain columns like ``auction_id`` (adding a foreign key would make SQLite copy the table).
    previous_listing_id: Mapped[uuid.UUID | None]
    next_listing_id: Mapped[uuid.UUID | None]
    ended_at: Mapped[datetime | None]


class ListingPatent(Base):
    __tablename__ = "listing_patents"

    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    __table_args__ = (Index("ix_listing_patents_patent_id", "patent_id"),)


class ListingSearch(Base):
    """Search document of a listing: its text (title, summary, patents' titles and abstracts).

    ``body`` is the normalised text (NFKC, lower case) for substring checks; ``terms`` the space-separated
    index terms (CJK bigrams and single characters, Latin words) from ``app.listings.search.index_terms``, and
    ``title_terms`` those of the title alone, so that "the title contains the query" is an index look-up too.
    SQLite indexes both with the two columns of an FTS5 table, PostgreSQL with a GIN index each (see the
    migrations l1a2b3c4d5e6 and s2a2b3c4d5e6).
    """

    __tablename__ = "listing_search"
    __table_args__ = (
        # PostgreSQL's index of the terms (``string_to_array(terms, ' ') @> ARRAY[...]``); SQLite uses the
        # FTS5 table ``listing_fts`` instead, made by the migration.
        Index(
            "ix_listing_search_terms_gin",
            func.string_to_array(text("terms"), literal_column("' '")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_listing_search_title_terms_gin",
            func.string_to_array(text("title_terms"), literal_column("' '")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)
    title_terms: Mapped[str] = mapped_column(Text, server_default="")


class PriorityBasis(StrEnum):
    co_owner = "co_owner"
    licensee = "licensee"
    other = "other"


class PriorityHolder(IdMixin, Base):
    """A registrant confirmed by an operator as holding a right of first refusal (优先购买权, SPEC §17.2), with
    its rank (1 comes first; several may share one). One per registration. Never names the organization."""

    __tablename__ = "priority_holders"
    __table_args__ = (
        CheckConstraint("rank BETWEEN 1 AND 9", name="rank_range"),
        Index("ix_priority_holders_listing_id", "listing_id"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"))
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"), unique=True)
    rank: Mapped[int]
    basis: Mapped[PriorityBasis] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
