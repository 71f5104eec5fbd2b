"""token families and refresh tokens

Sessions that last a bidding day (SPEC §21): a sign-in starts a token family; its refresh tokens are stored
as SHA-256 hashes, retired when exchanged for the next one, and presenting a retired one revokes the family
(its access tokens carry the family's id).

Revision ID: a9c3e5f7b1d2
Revises: e8b4c1d2a3f6
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "a9c3e5f7b1d2"
down_revision: str | None = "e8b4c1d2a3f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = app.kit.types.UTCDateTime(timezone=True)
    op.create_table(
        "token_families",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("expires_at", utc, nullable=False),
        sa.Column("revoked_at", utc, nullable=True),
        sa.Column("revoked_reason", sa.String(length=16), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_token_families_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    op.create_index(op.f("ix_token_families_expires_at"), "token_families", ["expires_at"])
    op.create_index(op.f("ix_token_families_user_id"), "token_families", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("expires_at", utc, nullable=False),
        sa.Column("retired_at", utc, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["token_families.id"],
            name=op.f("fk_refresh_tokens_family_id_token_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_token_families_user_id"), table_name="token_families")
    op.drop_index(op.f("ix_token_families_expires_at"), table_name="token_families")
    op.drop_table("token_families")
