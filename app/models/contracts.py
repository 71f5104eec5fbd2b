"""Contracts, their signatures, and objections to a public notice (SPEC §8, §11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class ContractStatus(StrEnum):
    awaiting_signatures = "awaiting_signatures"
    signed = "signed"
    void = "void"


class Party(StrEnum):
    buyer = "buyer"
    seller = "seller"


class Contract(IdMixin, TimestampMixin, Base):
    """The contract text of a deal, generated once when the deal is made; ``sha256`` is of the UTF-8 text,
    which never changes afterwards (a party signs the hash of what it read)."""

    __tablename__ = "contracts"

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), unique=True)
    transaction_kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[ContractStatus] = mapped_column(String(24))


class ContractSignature(IdMixin, Base):
    """One party's signature; at most one per party (the unique key backs the service's check)."""

    __tablename__ = "contract_signatures"
    __table_args__ = (UniqueConstraint("contract_id", "party"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"))
    party: Mapped[Party] = mapped_column(String(8))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]


class ObjectionStatus(StrEnum):
    pending = "pending"
    upheld = "upheld"
    dismissed = "dismissed"
    closed = "closed"  # still pending when another objection cancelled the deal


class Objection(IdMixin, TimestampMixin, Base):
    """An objection to a deal in public notice (SPEC §8; 浙江条例 art. 17). While one is pending the deal
    stays in ``public_notice`` past its 15 days."""

    __tablename__ = "objections"
    __table_args__ = (Index("ix_objections_deal_id_status", "deal_id", "status"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[ObjectionStatus] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
