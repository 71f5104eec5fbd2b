from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType


class Notification(IdMixin, Base):
    """One organization's notice of one change (SPEC §17.4), written in the change's own transaction (an outbox:
    a refused or rolled-back request leaves none). Its id is also the webhook event's id (§17.5)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_organization_id_created_at", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class Watch(Base):
    """A listing on an organization's watchlist (SPEC §17.4): its members share it. Not audited."""

    __tablename__ = "watches"
    __table_args__ = (
        # The watchers of a listing (every status change asks), and one organization's list newest first.
        Index("ix_watches_listing_id", "listing_id"),
        Index("ix_watches_organization_id_created_at", "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]


class SavedSearch(IdMixin, Base):
    """An organization's saved search (SPEC §17.4): the filters of the public search (§5), at least one of them.
    A listing that meets them when it is first published is announced to the organization (``listing_matched``).
    Prices are fen. Not audited."""

    __tablename__ = "saved_searches"
    __table_args__ = (Index("ix_saved_searches_organization_id_created_at", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(100))
    q: Mapped[str | None] = mapped_column(String(200))
    pricing_mode: Mapped[str | None] = mapped_column(String(16))
    transaction_kind: Mapped[str | None] = mapped_column(String(32))
    ipc: Mapped[str | None] = mapped_column(String(32))
    min_price: Mapped[int | None] = mapped_column(BigInteger)
    max_price: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class SavedSearchMatch(Base):
    """A listing a saved search was told about: once per listing and search (SPEC §17.4), so a listing published
    a second time is not announced again."""

    __tablename__ = "saved_search_matches"
    __table_args__ = (Index("ix_saved_search_matches_listing_id", "listing_id"),)

    saved_search_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saved_searches.id", ondelete="CASCADE"), primary_key=True
    )
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]
