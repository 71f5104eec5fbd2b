"""Technology-contract registration (技术合同认定登记, SPEC §18.7): the seller files a settled deal's contract,
an operator registers it with its registration number or rejects it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class TechContractCategory(StrEnum):
    """The technology contracts of 民法典 (book III, chapter 20)."""

    technology_development = "technology_development"  # 技术开发
    technology_transfer = "technology_transfer"  # 技术转让
    technology_licensing = "technology_licensing"  # 技术许可
    technology_consulting = "technology_consulting"  # 技术咨询
    technology_service = "technology_service"  # 技术服务


class TechContractStatus(StrEnum):
    filed = "filed"
    registered = "registered"
    rejected = "rejected"


class TechContractRegistration(IdMixin, TimestampMixin, Base):
    """One filing of a deal's contract. A deal has at most one filing that is ``filed`` or ``registered``
    (partial unique index); after a rejection the seller files anew, so a deal may have several rows, the
    latest being its current one. Amounts in fen: ``contract_amount`` is the deal's price,
    ``technology_amount`` (技术交易额) its technical part."""

    __tablename__ = "tech_contract_registrations"
    __table_args__ = (
        Index("ix_tech_contract_registrations_deal_id_created_at", "deal_id", "created_at"),
        Index(
            "uq_tech_contract_registrations_live_deal",
            "deal_id",
            unique=True,
            sqlite_where=text("status IN ('filed', 'registered')"),
            postgresql_where=text("status IN ('filed', 'registered')"),
        ),
        Index("ix_tech_contract_registrations_status_registered_on", "status", "registered_on"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"))
    category: Mapped[TechContractCategory] = mapped_column(String(32))
    contract_amount: Mapped[int] = mapped_column(BigInteger)
    technology_amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[TechContractStatus] = mapped_column(String(16))
    registration_number: Mapped[str | None] = mapped_column(String(32))
    registered_on: Mapped[date | None]
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    filed_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
