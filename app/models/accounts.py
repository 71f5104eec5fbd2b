from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class OrgKind(StrEnum):
    university = "university"
    research_institute = "research_institute"
    hospital = "hospital"
    enterprise = "enterprise"
    financial_institution = "financial_institution"


PUBLIC_INSTITUTION_KINDS = frozenset({OrgKind.university, OrgKind.research_institute, OrgKind.hospital})


class OrgStatus(StrEnum):
    pending = "pending"
    verified = "verified"


class RewardRules(StrEnum):
    zhejiang = "zhejiang"
    national = "national"


class Role(StrEnum):
    admin = "admin"
    member = "member"
    operator = "operator"


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(String(32))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    status: Mapped[OrgStatus] = mapped_column(String(16), default=OrgStatus.pending)
    is_public_institution: Mapped[bool]
    reward_rules: Mapped[RewardRules] = mapped_column(String(16), default=RewardRules.zhejiang)
    verified_at: Mapped[datetime | None]
    # SPEC §18.3: an operator's finding that the enterprise meets the national SME classification standard.
    sme_verified_at: Mapped[datetime | None]


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(String(16))


class ApiKey(IdMixin, Base):
    """Operator integration keys; only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginFailure(IdMixin, Base):
    """Failed sign-ins in real time, shared by every process, for the rate limit of SPEC §3 and §20. An
    attempt takes its row before the password is checked (``pending``); a failure keeps it, a success
    deletes it."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_client_at", "client", "at"),
    )

    email: Mapped[str] = mapped_column(String(254))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    pending: Mapped[bool] = mapped_column(default=False, server_default=false())


class TokenFamily(IdMixin, Base):
    """The tokens of one sign-in (SPEC §21): every access and refresh token issued from a password grant and
    the refreshes that follow it. Access tokens carry the family's id (``fam``); a revoked family refuses
    them all. ``expires_at`` is its latest refresh token's expiry: a family past it is of no more use."""

    __tablename__ = "token_families"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(16))  # logout | reuse


class RefreshToken(IdMixin, Base):
    """An opaque refresh token, stored as its SHA-256 only. ``retired_at`` is set when it is exchanged for
    the next one; presenting it again after that is a reuse, which revokes its family."""

    __tablename__ = "refresh_tokens"

    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
