"""payment, settlement, certificates, licences, transfer tasks

Revision ID: d4a2b3c4d5e6
Revises: c4a2b3c4d5e6
Create Date: 2026-11-27 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.kit.types

revision: str = "d4a2b3c4d5e6"
down_revision: str | None = "c4a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "certificate_sequences",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_certificate_sequences")),
    )
    op.create_table(
        "certificates",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_certificates_deal_id_deals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("deal_id", name=op.f("uq_certificates_deal_id")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
    )
    op.create_table(
        "transfer_tasks",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("patent_ids", JSON, nullable=False),
        sa.Column("from_org_id", sa.Uuid(), nullable=False),
        sa.Column("to_org_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_transfer_tasks_deal_id_deals")),
        sa.ForeignKeyConstraint(
            ["from_org_id"], ["organizations.id"], name=op.f("fk_transfer_tasks_from_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["to_org_id"], ["organizations.id"], name=op.f("fk_transfer_tasks_to_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_tasks")),
        sa.UniqueConstraint("deal_id", name=op.f("uq_transfer_tasks_deal_id")),
    )
    op.create_index("ix_transfer_tasks_from_org_id", "transfer_tasks", ["from_org_id"])
    op.create_index("ix_transfer_tasks_to_org_id", "transfer_tasks", ["to_org_id"])
    op.create_index("ix_transfer_tasks_created_at", "transfer_tasks", ["created_at"])
    op.create_table(
        "licence_records",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("licensor_org_id", sa.Uuid(), nullable=False),
        sa.Column("licensee_org_id", sa.Uuid(), nullable=False),
        sa.Column("patent_ids", JSON, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("territory", sa.String(length=200), nullable=True),
        sa.Column("field_of_use", sa.String(length=500), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("filing_due", sa.Date(), nullable=False),
        sa.Column("filed_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_licence_records_deal_id_deals")),
        sa.ForeignKeyConstraint(
            ["licensor_org_id"],
            ["organizations.id"],
            name=op.f("fk_licence_records_licensor_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["licensee_org_id"],
            ["organizations.id"],
            name=op.f("fk_licence_records_licensee_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_records")),
        sa.UniqueConstraint("deal_id", name=op.f("uq_licence_records_deal_id")),
    )
    op.create_index("ix_licence_records_licensor_org_id", "licence_records", ["licensor_org_id"])
    op.create_index("ix_licence_records_licensee_org_id", "licence_records", ["licensee_org_id"])
    op.create_index("ix_licence_records_created_at", "licence_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("licence_records")
    op.drop_table("transfer_tasks")
    op.drop_table("certificates")
    op.drop_table("certificate_sequences")
