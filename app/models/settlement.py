"""Settlement records (SPEC §11): transaction certificates, transfer-registration tasks, licence records."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class CertificateSequence(Base):
    """The last certificate number issued in a year. Numbers are allocated by incrementing this row in the
    settling transaction (``UPDATE … SET last = last + 1 … RETURNING``): the row lock serialises concurrent
    settlements on PostgreSQL, ``BEGIN IMMEDIATE`` does on SQLite, and a rolled-back settlement gives its number
    back, so numbers have no gaps."""

    __tablename__ = "certificate_sequences"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


class Certificate(IdMixin, Base):
    """A transaction certificate (交易凭证). ``content`` is a snapshot of what it certifies, taken at
    settlement (parties with names and credit codes, patents, price, kind, date, contract hash), so a later
    rename of an organization never changes an issued certificate."""

    __tablename__ = "certificates"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), unique=True)
    issued_at: Mapped[datetime]
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)


class TransferTaskStatus(StrEnum):
    pending = "pending"
    filed = "filed"
    registered = "registered"


class TransferTask(IdMixin, TimestampMixin, Base):
    """An assignment to register with CNIPA (专利法 art. 10: it takes effect on registration), SPEC §18.6:
    filed by a party by ``filing_due`` (the settlement day + 30 days), registered by an operator once CNIPA
    announces it. ``overdue`` is set once ``filing_due`` passes unfiled and stays set."""

    __tablename__ = "transfer_tasks"
    __table_args__ = (
        Index("ix_transfer_tasks_from_org_id", "from_org_id"),
        Index("ix_transfer_tasks_to_org_id", "to_org_id"),
        Index("ix_transfer_tasks_created_at", "created_at"),
        Index("ix_transfer_tasks_overdue_filing_due", "overdue", "filing_due"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), unique=True)
    patent_ids: Mapped[list[str]] = mapped_column(JSONType)
    from_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    to_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[TransferTaskStatus] = mapped_column(String(16), default=TransferTaskStatus.pending)
    filing_due: Mapped[date]
    cnipa_receipt_number: Mapped[str | None] = mapped_column(String(64))
    filed_at: Mapped[datetime | None]
    announcement_date: Mapped[date | None]
    overdue: Mapped[bool] = mapped_column(default=False, server_default=false())


class LicenceRecordStatus(StrEnum):
    pending = "pending"
    filed = "filed"


class LicenceRecord(IdMixin, TimestampMixin, Base):
    """A licence granted by a settled deal or by a trial (SPEC §18.3, then ``deal_id`` is null and ``trial_id``
    set), to be filed with CNIPA within 3 months of ``starts_on`` (DOMAIN.md, SPEC §18.6). ``royalty`` is
    ``{"rate", "base", "period"}`` for a royalty-bearing licence (§18.4); ``ended_on`` is the day a terminated
    trial ended it."""

    __tablename__ = "licence_records"
    __table_args__ = (
        Index("ix_licence_records_licensor_org_id", "licensor_org_id"),
        Index("ix_licence_records_licensee_org_id", "licensee_org_id"),
        Index("ix_licence_records_created_at", "created_at"),
        Index("ix_licence_records_overdue_filing_due", "overdue", "filing_due"),
    )

    deal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deals.id"), unique=True)
    trial_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    status: Mapped[LicenceRecordStatus] = mapped_column(String(16), default=LicenceRecordStatus.pending)
    filing_number: Mapped[str | None] = mapped_column(String(64))
    overdue: Mapped[bool] = mapped_column(default=False, server_default=false())
    royalty: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ended_on: Mapped[date | None]
    licensor_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    licensee_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    patent_ids: Mapped[list[str]] = mapped_column(JSONType)
    kind: Mapped[str] = mapped_column(String(32))
    term_months: Mapped[int | None]
    territory: Mapped[str | None] = mapped_column(String(200))
    field_of_use: Mapped[str | None] = mapped_column(String(500))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    filing_due: Mapped[date]
    filed_at: Mapped[datetime | None]
