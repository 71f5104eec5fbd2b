"""Policy instruments (SPEC §12–§14): open licences and the licences granted under them, pledges and their
consents, inventor reward plans."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class FeeType(StrEnum):
    lump_sum = "lump_sum"
    royalty = "royalty"
    lump_sum_plus_royalty = "lump_sum_plus_royalty"
    free = "free"


class OpenLicenseStatus(StrEnum):
    pending_review = "pending_review"
    declared = "declared"
    withdrawn = "withdrawn"


# A patent has at most one declaration in these states (partial unique index below).
OPEN_LICENSE_LIVE = frozenset({OpenLicenseStatus.pending_review, OpenLicenseStatus.declared})


class OpenLicense(IdMixin, TimestampMixin, Base):
    """A patentee's declaration of willingness to license anyone (开放许可, 专利法 arts 50–52).

    ``royalty_rate_ppm`` is the royalty rate in millionths (0 < rate ≤ 1 → 1..1,000,000), an integer so that
    both databases store it exactly; the API shows it as a decimal string.
    """

    __tablename__ = "open_licenses"
    __table_args__ = (
        Index(
            "uq_open_licenses_live_patent",
            "patent_id",
            unique=True,
            sqlite_where=text("status IN ('pending_review', 'declared')"),
            postgresql_where=text("status IN ('pending_review', 'declared')"),
        ),
        Index("ix_open_licenses_status_created_at", "status", "created_at"),
    )

    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    fee_type: Mapped[FeeType] = mapped_column(String(32))
    lump_sum: Mapped[int | None] = mapped_column(BigInteger)
    royalty_rate_ppm: Mapped[int | None]
    royalty_base: Mapped[str | None] = mapped_column(String(500))
    term_months: Mapped[int]
    royalty_period: Mapped[str] = mapped_column(String(8), default="quarter", server_default="quarter")
    status: Mapped[OpenLicenseStatus] = mapped_column(String(16))
    declared_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class OpenLicenseGrant(IdMixin, Base):
    """A non-exclusive licence taken under an open licence, with the settled deal that paid for it."""

    __tablename__ = "open_license_grants"
    __table_args__ = (
        Index("ix_open_license_grants_open_license_id_created_at", "open_license_id", "created_at"),
    )

    open_license_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("open_licenses.id"))
    licensee_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), unique=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    filing_due: Mapped[date]
    created_at: Mapped[datetime]


class PledgeStatus(StrEnum):
    pending = "pending"
    active = "active"
    released = "released"
    cancelled = "cancelled"


# A patent has at most one pledge in these states (partial unique index below).
PLEDGE_LIVE = frozenset({PledgeStatus.pending, PledgeStatus.active})


class Pledge(IdMixin, TimestampMixin, Base):
    """A pledge of a patent right (专利权质押, 民法典 arts 440, 444), registered jointly: the pledgor (the patent's
    owner) creates it, the pledgee confirms it."""

    __tablename__ = "pledges"
    __table_args__ = (
        Index(
            "uq_pledges_live_patent",
            "patent_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'active')"),
            postgresql_where=text("status IN ('pending', 'active')"),
        ),
    )

    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id"), index=True)
    pledgor_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    pledgee_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    ends_on: Mapped[date]
    status: Mapped[PledgeStatus] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]


class PledgeConsent(IdMixin, Base):
    """The pledgee's consent to one listing, open-licence declaration or trial offer of the pledged patent."""

    __tablename__ = "pledge_consents"
    __table_args__ = (
        UniqueConstraint("pledge_id", "listing_id"),
        UniqueConstraint("pledge_id", "open_license_id"),
        UniqueConstraint("pledge_id", "trial_offer_id"),
    )

    pledge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pledges.id"))
    listing_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("listings.id"))
    open_license_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("open_licenses.id"))
    trial_offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trial_offers.id"))  # SPEC §18.3
    given_at: Mapped[datetime]
    given_by: Mapped[str] = mapped_column(String(100))


class RewardPlanStatus(StrEnum):
    draft = "draft"
    paid = "paid"


class RewardPlan(IdMixin, TimestampMixin, Base):
    """The seller's split of a settled deal's net income among the people behind the result (SPEC §12).

    ``allocations`` is a list of ``{"name", "role", "amount"}`` (amount in fen). Replaced while ``draft``.
    """

    __tablename__ = "reward_plans"

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), unique=True)
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    rule_set: Mapped[str] = mapped_column(String(16))
    costs: Mapped[int] = mapped_column(BigInteger)
    net_income: Mapped[int] = mapped_column(BigInteger)
    pool: Mapped[int] = mapped_column(BigInteger)
    allocations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    status: Mapped[RewardPlanStatus] = mapped_column(String(16))
    notice_ends_at: Mapped[datetime]
    pay_by: Mapped[date]
    paid_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
