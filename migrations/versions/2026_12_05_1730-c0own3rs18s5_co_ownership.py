"""co-ownership and 赋权

SPEC §18.5: a patent's owners with shares in basis points (inventors' ID numbers only masked and as a keyed
hash), empowerments (a use right is its empowerment), owners' consents per subject, what an institution owes each
inventor; ledger account kinds up to 32 characters for ``payable_to_inventors``.

Revision ID: c0own3rs18s5
Revises: tr1a1s18s3a0
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "c0own3rs18s5"
down_revision: str | None = "tr1a1s18s3a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patent_owners",
        sa.Column("patent_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("institution_org_id", sa.Uuid(), nullable=True),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_org_id"],
            ["organizations.id"],
            name=op.f("fk_patent_owners_institution_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patent_owners_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patent_id"], ["patents.id"], name=op.f("fk_patent_owners_patent_id_patents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patent_owners")),
        sa.UniqueConstraint(
            "patent_id", "id_number_hash", name=op.f("uq_patent_owners_patent_id_id_number_hash")
        ),
        sa.UniqueConstraint(
            "patent_id", "organization_id", name=op.f("uq_patent_owners_patent_id_organization_id")
        ),
    )
    op.create_index(op.f("ix_patent_owners_patent_id"), "patent_owners", ["patent_id"], unique=False)
    op.create_index(
        op.f("ix_patent_owners_organization_id"), "patent_owners", ["organization_id"], unique=False
    )
    op.create_table(
        "empowerments",
        sa.Column("patent_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column(
            "inventors", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("term_years", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", app.kit.types.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_empowerments_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patent_id"], ["patents.id"], name=op.f("fk_empowerments_patent_id_patents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_empowerments")),
    )
    op.create_index(op.f("ix_empowerments_patent_id"), "empowerments", ["patent_id"], unique=False)
    op.create_table(
        "owner_consents",
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("use_right_id", sa.Uuid(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("given_at", app.kit.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_consents")),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            "organization_id",
            name=op.f("uq_owner_consents_subject_type_subject_id_organization_id"),
        ),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            "owner_id",
            name=op.f("uq_owner_consents_subject_type_subject_id_owner_id"),
        ),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            "use_right_id",
            name=op.f("uq_owner_consents_subject_type_subject_id_use_right_id"),
        ),
    )
    op.create_index(
        "ix_owner_consents_subject", "owner_consents", ["subject_type", "subject_id"], unique=False
    )
    op.create_table(
        "inventor_lines",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("bank_reference", sa.String(length=100), nullable=True),
        sa.Column("at", app.kit.types.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_inventor_lines_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventor_lines")),
    )
    op.create_index(
        "ix_inventor_lines_organization_id_owner_id",
        "inventor_lines",
        ["organization_id", "owner_id"],
        unique=False,
    )
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=16), type_=sa.String(length=32))


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=32), type_=sa.String(length=16))
    op.drop_index("ix_inventor_lines_organization_id_owner_id", table_name="inventor_lines")
    op.drop_table("inventor_lines")
    op.drop_index("ix_owner_consents_subject", table_name="owner_consents")
    op.drop_table("owner_consents")
    op.drop_index(op.f("ix_empowerments_patent_id"), table_name="empowerments")
    op.drop_table("empowerments")
    op.drop_index(op.f("ix_patent_owners_organization_id"), table_name="patent_owners")
    op.drop_index(op.f("ix_patent_owners_patent_id"), table_name="patent_owners")
    op.drop_table("patent_owners")
