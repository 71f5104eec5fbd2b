"""calendar years loaded by operators

``PUT /api/v1/calendar/{year}`` stores the holidays and adjusted working days of a year the bundled official
calendar does not cover yet (SPEC §21); every process reads them from here.

Revision ID: c7d1e2f3a4b5
Revises: f5a2b3c4d5e6
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.kit.types

revision: str = "c7d1e2f3a4b5"
down_revision: str | None = "f5a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", json_type, nullable=False),
        sa.Column("workdays", json_type, nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )


def downgrade() -> None:
    op.drop_table("calendar_years")
