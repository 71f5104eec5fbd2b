"""Trial licences 先使用后付费 (SPEC §18.3): a public institution's trial offer of a patent and the trials small and
medium enterprises start under it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType, TimestampMixin


class TrialOfferStatus(StrEnum):
    pending_review = "pending_review"
    offered = "offered"
    withdrawn = "withdrawn"


# A patent has at most one trial offer in these states (partial unique index below).
TRIAL_OFFER_LIVE = frozenset({TrialOfferStatus.pending_review, TrialOfferStatus.offered})


class TrialStatus(StrEnum):
    trial_active = "trial_active"
    converted = "converted"
    lapsed = "lapsed"
    terminated = "terminated"


class TrialOffer(IdMixin, TimestampMixin, Base):
    """A public institution's offer to let an SME use a patent first and decide later, on terms fixed up front.

    ``conversion`` holds the conversion terms as stored: ``{"type", "lump_sum", "royalty_rate_ppm",
    "royalty_base", "royalty_period", "term_months", "assignment_price"}`` (amounts in fen, the rate in
    millionths, absent fields null). ``active_trials`` counts the offer's ``trial_active`` trials; a start
    increments it with one conditional UPDATE (``active_trials < max_trials``), so concurrent starts never exceed
    ``max_trials``.
    """

    __tablename__ = "trial_offers"
    __table_args__ = (
        Index(
            "uq_trial_offers_live_patent",
            "patent_id",
            unique=True,
            sqlite_where=text("status IN ('pending_review', 'offered')"),
            postgresql_where=text("status IN ('pending_review', 'offered')"),
        ),
        Index("ix_trial_offers_status_created_at", "status", "created_at"),
    )

    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    trial_months: Mapped[int]
    max_trials: Mapped[int]
    territory: Mapped[str] = mapped_column(String(200))
    field_of_use: Mapped[str] = mapped_column(String(500))
    conversion: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[TrialOfferStatus] = mapped_column(String(16))
    approved_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    active_trials: Mapped[int] = mapped_column(default=0)


class Trial(IdMixin, TimestampMixin, Base):
    """One enterprise's trial under an offer: a licence record without money from the start day to ``ends_on``,
    then converted into a deal on the offer's terms, lapsed, or terminated."""

    __tablename__ = "trials"
    __table_args__ = (
        # trial_already_used: one trial per company and offer, whatever became of it.
        UniqueConstraint("trial_offer_id", "licensee_org_id"),
        # trial_already_active: one active trial per company and patent.
        Index(
            "uq_trials_active_patent_licensee",
            "patent_id",
            "licensee_org_id",
            unique=True,
            sqlite_where=text("status = 'trial_active'"),
            postgresql_where=text("status = 'trial_active'"),
        ),
        Index("ix_trials_status_ends_at", "status", "ends_at"),
        Index("ix_trials_reminded_reminder_at", "reminded", "reminder_at"),
        Index("ix_trials_licensee_org_id", "licensee_org_id"),
        Index("ix_trials_licensor_org_id", "licensor_org_id"),
    )

    trial_offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trial_offers.id"))
    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id"))
    licensor_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    licensee_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[TrialStatus] = mapped_column(String(16))
    started_at: Mapped[datetime]
    ends_on: Mapped[date]
    ends_at: Mapped[datetime]
    reminder_at: Mapped[datetime]
    # Whether ``trial_ending`` went out (once, at ``reminder_at``).
    reminded: Mapped[bool] = mapped_column(default=False, server_default=false())
    conversion: Mapped[dict[str, Any]] = mapped_column(JSONType)
    licence_record_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None]
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    ended_at: Mapped[datetime | None]
