"""trial licences

SPEC §18.3: trial offers and trials (先使用后付费), an organization's ``sme_verified_at``, and the pledgee's consent
to a trial offer (``pledge_consents.trial_offer_id``).

Revision ID: tr1a1s18s3a0
Revises: r0y4l7y18s4a
Create Date: 2026-12-05 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import app.kit.types

revision: str = "tr1a1s18s3a0"
down_revision: str | None = "r0y4l7y18s4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trial_offers",
        sa.Column("patent_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("trial_months", sa.Integer(), nullable=False),
        sa.Column("max_trials", sa.Integer(), nullable=False),
        sa.Column("territory", sa.String(length=200), nullable=False),
        sa.Column("field_of_use", sa.String(length=500), nullable=False),
        sa.Column(
            "conversion",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active_trials", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organizations.id"], name=op.f("fk_trial_offers_owner_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["patent_id"], ["patents.id"], name=op.f("fk_trial_offers_patent_id_patents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_offers")),
    )
    with op.batch_alter_table("trial_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trial_offers_owner_org_id"), ["owner_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trial_offers_patent_id"), ["patent_id"], unique=False)
        batch_op.create_index("ix_trial_offers_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "uq_trial_offers_live_patent",
            ["patent_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending_review', 'offered')"),
            postgresql_where=sa.text("status IN ('pending_review', 'offered')"),
        )

    op.create_table(
        "trials",
        sa.Column("trial_offer_id", sa.Uuid(), nullable=False),
        sa.Column("patent_id", sa.Uuid(), nullable=False),
        sa.Column("licensor_org_id", sa.Uuid(), nullable=False),
        sa.Column("licensee_org_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("ends_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminder_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "conversion",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("licence_record_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("ended_at", app.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["licensee_org_id"], ["organizations.id"], name=op.f("fk_trials_licensee_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["licensor_org_id"], ["organizations.id"], name=op.f("fk_trials_licensor_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(["patent_id"], ["patents.id"], name=op.f("fk_trials_patent_id_patents")),
        sa.ForeignKeyConstraint(
            ["trial_offer_id"], ["trial_offers.id"], name=op.f("fk_trials_trial_offer_id_trial_offers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint(
            "trial_offer_id", "licensee_org_id", name=op.f("uq_trials_trial_offer_id_licensee_org_id")
        ),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index("ix_trials_licensee_org_id", ["licensee_org_id"], unique=False)
        batch_op.create_index("ix_trials_licensor_org_id", ["licensor_org_id"], unique=False)
        batch_op.create_index("ix_trials_reminded_reminder_at", ["reminded", "reminder_at"], unique=False)
        batch_op.create_index("ix_trials_status_ends_at", ["status", "ends_at"], unique=False)
        batch_op.create_index(
            "uq_trials_active_patent_licensee",
            ["patent_id", "licensee_org_id"],
            unique=True,
            sqlite_where=sa.text("status = 'trial_active'"),
            postgresql_where=sa.text("status = 'trial_active'"),
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sme_verified_at", app.kit.types.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("pledge_consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_offer_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_pledge_consents_pledge_id_trial_offer_id"), ["pledge_id", "trial_offer_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_pledge_consents_trial_offer_id_trial_offers"),
            "trial_offers",
            ["trial_offer_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("pledge_consents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_pledge_consents_trial_offer_id_trial_offers"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_pledge_consents_pledge_id_trial_offer_id"), type_="unique")
        batch_op.drop_column("trial_offer_id")

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("sme_verified_at")

    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_trials_active_patent_licensee",
            sqlite_where=sa.text("status = 'trial_active'"),
            postgresql_where=sa.text("status = 'trial_active'"),
        )
        batch_op.drop_index("ix_trials_status_ends_at")
        batch_op.drop_index("ix_trials_reminded_reminder_at")
        batch_op.drop_index("ix_trials_licensor_org_id")
        batch_op.drop_index("ix_trials_licensee_org_id")

    op.drop_table("trials")
    with op.batch_alter_table("trial_offers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_trial_offers_live_patent",
            sqlite_where=sa.text("status IN ('pending_review', 'offered')"),
            postgresql_where=sa.text("status IN ('pending_review', 'offered')"),
        )
        batch_op.drop_index("ix_trial_offers_status_created_at")
        batch_op.drop_index(batch_op.f("ix_trial_offers_patent_id"))
        batch_op.drop_index(batch_op.f("ix_trial_offers_owner_org_id"))

    op.drop_table("trial_offers")
