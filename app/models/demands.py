from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class DemandStatus(StrEnum):
    draft = "draft"
    pending_review = "pending_review"
    published = "published"
    closed = "closed"
    expired = "expired"


# States that end at ``expires_at`` (SPEC §17.6: the sweeper expires them).
EXPIRING_STATUSES = frozenset({DemandStatus.draft, DemandStatus.pending_review, DemandStatus.published})


class DemandResponseStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"


class Demand(IdMixin, TimestampMixin, Base):
    """A technology demand (需求发布, SPEC §17.6): what an organization seeks.

    ``search_body`` and ``search_terms`` are the title and description cut as listings are
    (``app.listings.search.document``: normalised text for substring checks, space-separated index terms);
    ``title_terms`` the distinct index terms of the title alone, what matching scores (``app.demands.rules``).
    """

    __tablename__ = "demands"
    __table_args__ = (
        Index("ix_demands_status_published_at", "status", "published_at"),
        Index("ix_demands_status_expires_at", "status", "expires_at"),
        Index("ix_demands_owner_org_id_created_at", "owner_org_id", "created_at"),
    )

    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    ipc_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    budget_min: Mapped[int | None] = mapped_column(BigInteger)
    budget_max: Mapped[int | None] = mapped_column(BigInteger)
    deadline: Mapped[date]
    anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DemandStatus] = mapped_column(String(16), default=DemandStatus.draft)
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    published_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    search_body: Mapped[str] = mapped_column(Text)
    search_terms: Mapped[str] = mapped_column(Text)
    title_terms: Mapped[str] = mapped_column(Text)


class DemandIpc(Base):
    """One row per IPC code of a demand (a full code ``H01M 10/0525`` or a subclass ``H01M``), for ``?ipc=``
    prefix filtering, as ``patent_ipc`` is for patents."""

    __tablename__ = "demand_ipc"
    __table_args__ = (Index("ix_demand_ipc_code", "code", postgresql_ops={"code": "varchar_pattern_ops"}),)

    demand_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("demands.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)


class DemandResponse(IdMixin, TimestampMixin, Base):
    """A seller's answer to a demand with one of its published listings; one per demand and listing."""

    __tablename__ = "demand_responses"
    __table_args__ = (
        UniqueConstraint("demand_id", "listing_id"),
        Index("ix_demand_responses_seller_org_id", "seller_org_id"),
    )

    demand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("demands.id"))
    listing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("listings.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[DemandResponseStatus] = mapped_column(String(16), default=DemandResponseStatus.pending)
