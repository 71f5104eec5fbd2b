"""Co-ownership and 赋权 (SPEC §18.5): a patent's owners with their shares, the empowerments that make inventors
owners or give them a use right, the owners' and use-right holders' consents, and what an institution owes its
inventors.

A resident ID number is never stored in full: ``id_number_masked`` (first 3 and last 4 characters) is what is
shown, and ``id_number_hash`` (HMAC-SHA256 keyed by the server's secret) recognises the same person again.
Shares are integer basis points (``10000`` = ``"100.00"``), never ``Numeric`` (SQLite goes through float).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, JSONType

FULL_SHARE = 10_000  # basis points: "100.00"


class OwnerKind(StrEnum):
    organization = "organization"
    inventor = "inventor"


class PatentOwner(IdMixin, Base):
    """One owner of a patent. A patent without rows has one owner: its ``owner_org_id`` with ``"100.00"``."""

    __tablename__ = "patent_owners"
    __table_args__ = (
        UniqueConstraint("patent_id", "organization_id"),
        UniqueConstraint("patent_id", "id_number_hash"),
    )

    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[OwnerKind] = mapped_column(String(16))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    institution_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"))
    share_bp: Mapped[int]
    position: Mapped[int]
    created_at: Mapped[datetime]


class EmpowermentForm(StrEnum):
    ownership = "ownership"
    use_right = "use_right"


class Empowerment(IdMixin, Base):
    """A 赋权 decision. A ``use_right`` empowerment is the use right itself (its id is the use right's id):
    ``inventors`` hold it jointly from ``starts_on`` to ``ends_on``.

    ``inventors``: ``[{"name", "id_number_masked", "share"}]`` (``share`` in basis points, ownership only)."""

    __tablename__ = "empowerments"

    patent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patents.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    form: Mapped[EmpowermentForm] = mapped_column(String(16))
    decision_number: Mapped[str] = mapped_column(String(100))
    decided_on: Mapped[date]
    inventors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    term_years: Mapped[int | None]
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    created_at: Mapped[datetime]


class ConsentSubject(StrEnum):
    listing = "listing"
    pledge = "pledge"
    trial_offer = "trial_offer"


class OwnerConsent(IdMixin, Base):
    """One consent to one subject: an organization owner's (``organization_id``), or a natural person's
    (``owner_id``) or a use right's (``use_right_id``) recorded by an operator from the signed paper."""

    __tablename__ = "owner_consents"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "organization_id"),
        UniqueConstraint("subject_type", "subject_id", "owner_id"),
        UniqueConstraint("subject_type", "subject_id", "use_right_id"),
        Index("ix_owner_consents_subject", "subject_type", "subject_id"),
    )

    subject_type: Mapped[ConsentSubject] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[uuid.UUID | None]
    use_right_id: Mapped[uuid.UUID | None]
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    given_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class InventorLineKind(StrEnum):
    credit = "credit"
    payout = "payout"


class InventorLine(IdMixin, Base):
    """What an institution owes one inventor owner, line by line: a ``credit`` (their part of an income, in the
    settlement's transaction) or a ``payout`` to the bank (negative). The institution's
    ``payable_to_inventors`` ledger account holds the sum over its inventors; these lines say whose it is."""

    __tablename__ = "inventor_lines"
    __table_args__ = (Index("ix_inventor_lines_organization_id_owner_id", "organization_id", "owner_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    owner_id: Mapped[uuid.UUID]
    kind: Mapped[InventorLineKind] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    deal_id: Mapped[uuid.UUID | None]
    source: Mapped[str | None] = mapped_column(String(100))
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime]
