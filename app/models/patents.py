from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class PatentKind(StrEnum):
    invention = "invention"
    utility_model = "utility_model"
    design = "design"


class LegalStatus(StrEnum):
    pending = "pending"
    granted = "granted"
    expired = "expired"
    lapsed = "lapsed"
    invalidated = "invalidated"


class Patent(IdMixin, TimestampMixin, Base):
    """A patent or application in an organization's stock.

    ``legal_status`` is derived: ``status_override`` (lapsed/invalidated, set by operators) wins, then
    ``expired`` once ``expires_on`` has passed, then granted/pending from ``grant_date``.
    """

    __tablename__ = "patents"
    __table_args__ = (Index("ix_patents_owner_org_id_created_at", "owner_org_id", "created_at"),)

    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    application_number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[PatentKind] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    abstract: Mapped[str] = mapped_column(Text, default="")
    ipc_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    inventors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    filing_date: Mapped[date]
    grant_date: Mapped[date | None]
    annual_fee_paid_until: Mapped[date | None]
    evaluation_report: Mapped[bool] = mapped_column(default=False)
    expires_on: Mapped[date]
    status_override: Mapped[LegalStatus | None] = mapped_column(String(16))
    preserved: Mapped[bool] = mapped_column(default=False)
    preservation_reason: Mapped[str | None] = mapped_column(String(500))
    # SHA-256 of the descriptive fields as they are now (app.patents.rules.fingerprint), kept current by every
    # write path, so a re-import of an unchanged row is recognised without reading the row.
    import_fingerprint: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    def legal_status(self, today: date) -> LegalStatus:
        if self.status_override is not None:
            return LegalStatus(self.status_override)
        if self.expires_on <= today:
            return LegalStatus.expired
        return LegalStatus.granted if self.grant_date is not None else LegalStatus.pending


class PatentIpc(Base):
    """One row per IPC code of a patent, for prefix filtering by index (``ipc=H01M``).

    ``code`` is the normalised display form (``H01M 10/0525``, see ``app.patents.rules``). PostgreSQL indexes it with
    ``varchar_pattern_ops`` so ``LIKE 'H01M 10/%'`` uses the index whatever the database's collation; SQLite
    compares with BINARY collation and the service filters by a range there.
    """

    __tablename__ = "patent_ipc"

    patent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patents.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    __table_args__ = (Index("ix_patent_ipc_code", "code", postgresql_ops={"code": "varchar_pattern_ops"}),)
