"""royalty reports

SPEC §18.4: ``royalty_reports`` (one per licence record and period), ``royalty_schedules`` (each royalty-bearing
licence record's next period end, for the sweeper) and the open-licence declaration's ``royalty_period``
(existing declarations: ``quarter``, the default).

Revision ID: r0y4l7y18s4a
Revises: d0ss13r18s7
Create Date: 2026-12-05 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "r0y4l7y18s4a"
down_revision: str | None = "d0ss13r18s7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("open_licenses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("royalty_period", sa.String(length=8), server_default="quarter", nullable=False)
        )

    op.create_table(
        "royalty_reports",
        sa.Column("licence_record_id", sa.Uuid(), nullable=False),
        sa.Column("licensor_org_id", sa.Uuid(), nullable=False),
        sa.Column("licensee_org_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("royalty_rate", sa.String(length=16), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=True),
        sa.Column("royalty", sa.BigInteger(), nullable=True),
        sa.Column("licensee_fee", sa.BigInteger(), nullable=True),
        sa.Column("licensor_fee", sa.BigInteger(), nullable=True),
        sa.Column("amount_due", sa.BigInteger(), nullable=True),
        sa.Column("overdue", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("filed_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["licence_record_id"],
            ["licence_records.id"],
            name=op.f("fk_royalty_reports_licence_record_id_licence_records"),
        ),
        sa.ForeignKeyConstraint(
            ["licensee_org_id"],
            ["organizations.id"],
            name=op.f("fk_royalty_reports_licensee_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["licensor_org_id"],
            ["organizations.id"],
            name=op.f("fk_royalty_reports_licensor_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_royalty_reports")),
        sa.UniqueConstraint(
            "licence_record_id", "period", name=op.f("uq_royalty_reports_licence_record_id_period")
        ),
    )
    with op.batch_alter_table("royalty_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_royalty_reports_licence_record_id_period_start",
            ["licence_record_id", "period_start"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_royalty_reports_licensee_org_id"), ["licensee_org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_royalty_reports_licensor_org_id"), ["licensor_org_id"], unique=False
        )
        batch_op.create_index("ix_royalty_reports_overdue_due_at", ["overdue", "due_at"], unique=False)
        batch_op.create_index("ix_royalty_reports_status_settled_at", ["status", "settled_at"], unique=False)

    op.create_table(
        "royalty_schedules",
        sa.Column("licence_record_id", sa.Uuid(), nullable=False),
        sa.Column("next_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["licence_record_id"],
            ["licence_records.id"],
            name=op.f("fk_royalty_schedules_licence_record_id_licence_records"),
        ),
        sa.PrimaryKeyConstraint("licence_record_id", name=op.f("pk_royalty_schedules")),
    )
    with op.batch_alter_table("royalty_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_royalty_schedules_next_at"), ["next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("royalty_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_royalty_schedules_next_at"))
    op.drop_table("royalty_schedules")
    with op.batch_alter_table("royalty_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_royalty_reports_status_settled_at")
        batch_op.drop_index("ix_royalty_reports_overdue_due_at")
        batch_op.drop_index(batch_op.f("ix_royalty_reports_licensor_org_id"))
        batch_op.drop_index(batch_op.f("ix_royalty_reports_licensee_org_id"))
        batch_op.drop_index("ix_royalty_reports_licence_record_id_period_start")
    op.drop_table("royalty_reports")
    with op.batch_alter_table("open_licenses", schema=None) as batch_op:
        batch_op.drop_column("royalty_period")
