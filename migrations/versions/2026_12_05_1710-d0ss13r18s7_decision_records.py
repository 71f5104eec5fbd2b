"""decision records

SPEC §18.7 "Dossier": the seller's collective decisions about a deal (body, number, day, the SHA-256 of the
decision document), appended one row each.

Revision ID: d0ss13r18s7
Revises: f1l1ngs18s6a
Create Date: 2026-12-05 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "d0ss13r18s7"
down_revision: str | None = "f1l1ngs18s6a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "decision_records",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_decision_records_deal_id_deals")),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_decision_records_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_records")),
    )
    op.create_index(
        "ix_decision_records_deal_id_recorded_at",
        "decision_records",
        ["deal_id", "recorded_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_decision_records_deal_id_recorded_at", table_name="decision_records")
    op.drop_table("decision_records")
