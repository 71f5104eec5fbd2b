"""Decision records of a deal's dossier (安心屋, SPEC §18.7): the seller's collective decisions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin


class DecisionRecord(IdMixin, Base):
    """One collective decision of the seller about a deal (e.g. 校长办公会, its number and day) with the SHA-256
    of the signed decision document. Records only append: a later decision is a new row, never an edit."""

    __tablename__ = "decision_records"
    __table_args__ = (Index("ix_decision_records_deal_id_recorded_at", "deal_id", "recorded_at"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"))
    body: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(64))
    decided_on: Mapped[date]
    document_sha256: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]
