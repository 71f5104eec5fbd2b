"""relisting and priority holders

SPEC §17.3: a listing links to the listing it relists (``previous_listing_id``, unique: one relist per
listing) and to the one relisting it (``next_listing_id``), and keeps the instant it became ``failed`` or
``expired`` (``ended_at``), from which its 30-day relisting window runs; listings already failed or expired
take their last change as that instant. SPEC §17.2: ``priority_holders``, the registrants an operator confirmed
as holding a right of first refusal, with their rank.

The listing columns are added without foreign keys (like ``auction_id``) and dropped with plain ``ALTER TABLE``:
a batch operation would make SQLite copy the table, whose dependants cascade.

Revision ID: r3l1s7p1o2h3
Revises: b1n0t1f1c4t5
Create Date: 2026-12-05 13:33:58.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "r3l1s7p1o2h3"
down_revision: str | None = "b1n0t1f1c4t5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("listings", sa.Column("previous_listing_id", sa.Uuid(), nullable=True))
    op.add_column("listings", sa.Column("next_listing_id", sa.Uuid(), nullable=True))
    op.add_column("listings", sa.Column("ended_at", app.kit.types.UTCDateTime(timezone=True), nullable=True))
    op.create_index("uq_listings_previous_listing_id", "listings", ["previous_listing_id"], unique=True)
    op.execute("UPDATE listings SET ended_at = updated_at WHERE status IN ('failed', 'expired')")

    op.create_table(
        "priority_holders",
        sa.Column("listing_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("rank BETWEEN 1 AND 9", name=op.f("ck_priority_holders_rank_range")),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name=op.f("fk_priority_holders_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_priority_holders_registration_id_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_holders")),
        sa.UniqueConstraint("registration_id", name=op.f("uq_priority_holders_registration_id")),
    )
    op.create_index("ix_priority_holders_listing_id", "priority_holders", ["listing_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_priority_holders_listing_id", table_name="priority_holders")
    op.drop_table("priority_holders")
    op.drop_index("uq_listings_previous_listing_id", table_name="listings")
    for column in ("ended_at", "next_listing_id", "previous_listing_id"):
        op.execute(f"ALTER TABLE listings DROP COLUMN {column}")
