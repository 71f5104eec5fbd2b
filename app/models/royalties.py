"""Royalty reports (SPEC §18.4): one per royalty-bearing licence record and period, filed, paid into escrow and
settled; and each such licence record's place in its sequence of periods."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class RoyaltyPeriod(StrEnum):
    month = "month"
    quarter = "quarter"


class RoyaltyReportStatus(StrEnum):
    due = "due"
    filed = "filed"
    paid = "paid"
    settled = "settled"


class RoyaltyReport(IdMixin, TimestampMixin, Base):
    """A licensee's report of one period's royalty base. ``period`` is ``YYYY-MM`` or ``YYYY-Qn``;
    ``period_start``/``period_end`` the Shanghai days it covers, clamped to the licence. Amounts in fen; the
    rate is the licence's decimal string. ``version`` counts the figures filed, so a payment pays the figures
    it read (a re-filing racing it makes it lose). ``UNIQUE(licence_record_id, period)``: one report per period
    however many sweepers create it."""

    __tablename__ = "royalty_reports"
    __table_args__ = (
        UniqueConstraint("licence_record_id", "period"),
        Index("ix_royalty_reports_licence_record_id_period_start", "licence_record_id", "period_start"),
        Index("ix_royalty_reports_overdue_due_at", "overdue", "due_at"),
        Index("ix_royalty_reports_status_settled_at", "status", "settled_at"),
    )

    licence_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licence_records.id"))
    licensor_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    licensee_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date]
    period_end: Mapped[date]
    due_at: Mapped[datetime]
    status: Mapped[RoyaltyReportStatus] = mapped_column(String(16))
    royalty_rate: Mapped[str] = mapped_column(String(16))
    base_amount: Mapped[int | None] = mapped_column(BigInteger)
    royalty: Mapped[int | None] = mapped_column(BigInteger)
    licensee_fee: Mapped[int | None] = mapped_column(BigInteger)
    licensor_fee: Mapped[int | None] = mapped_column(BigInteger)
    amount_due: Mapped[int | None] = mapped_column(BigInteger)
    overdue: Mapped[bool] = mapped_column(default=False, server_default=false())
    filed_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=0)


class RoyaltySchedule(Base):
    """Where a licence record stands in its periods: ``next_at`` is the instant its next period ends (the
    sweeper creates that period's report then), null once its last period has a report or when it bears no
    royalty. A licence record without a row is scheduled by the sweeper as soon as it is seen."""

    __tablename__ = "royalty_schedules"

    licence_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licence_records.id"), primary_key=True)
    next_at: Mapped[datetime | None] = mapped_column(index=True)
