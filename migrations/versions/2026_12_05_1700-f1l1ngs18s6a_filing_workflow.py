"""filing workflow

SPEC §18.6: a transfer task's CNIPA filing (``filing_due``, receipt number, filing instant, announcement day,
overdue flag) and a licence record's (status, filing number, overdue flag), plus what trials and royalties need
of a licence record (``deal_id`` nullable with ``trial_id`` set instead, ``royalty``, ``ended_on``).

Existing transfer tasks are due 30 days after their creation's Shanghai day (they were created at settlement);
existing licence records are ``filed`` when they have a ``filed_at``, else ``pending``.

Revision ID: f1l1ngs18s6a
Revises: e9u1t7d3a1s0
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.kit.types

revision: str = "f1l1ngs18s6a"
down_revision: str | None = "e9u1t7d3a1s0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHANGHAI = ZoneInfo("Asia/Shanghai")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("transfer_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("filing_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("cnipa_receipt_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("filed_at", app.kit.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("announcement_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("overdue", sa.Boolean(), server_default=sa.false(), nullable=False))

    tasks = sa.table(
        "transfer_tasks",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", app.kit.types.UTCDateTime(timezone=True)),
        sa.column("filing_due", sa.Date()),
    )
    bind = op.get_bind()
    for task_id, created_at in bind.execute(sa.select(tasks.c.id, tasks.c.created_at)).all():
        due = created_at.astimezone(SHANGHAI).date() + timedelta(days=30)
        bind.execute(sa.update(tasks).where(tasks.c.id == task_id).values(filing_due=due))

    with op.batch_alter_table("transfer_tasks", schema=None) as batch_op:
        batch_op.alter_column("filing_due", existing_type=sa.Date(), nullable=False)
        batch_op.create_index("ix_transfer_tasks_overdue_filing_due", ["overdue", "filing_due"], unique=False)

    with op.batch_alter_table("licence_records", schema=None) as batch_op:
        batch_op.alter_column("deal_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("trial_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("filing_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("overdue", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("royalty", JSON, nullable=True))
        batch_op.add_column(sa.Column("ended_on", sa.Date(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_licence_records_trial_id"), ["trial_id"])

    op.execute(
        "UPDATE licence_records SET status = CASE WHEN filed_at IS NULL THEN 'pending' ELSE 'filed' END"
    )

    with op.batch_alter_table("licence_records", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_index(
            "ix_licence_records_overdue_filing_due", ["overdue", "filing_due"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("licence_records", schema=None) as batch_op:
        batch_op.drop_index("ix_licence_records_overdue_filing_due")
        batch_op.drop_constraint(batch_op.f("uq_licence_records_trial_id"), type_="unique")
        batch_op.drop_column("ended_on")
        batch_op.drop_column("royalty")
        batch_op.drop_column("overdue")
        batch_op.drop_column("filing_number")
        batch_op.drop_column("status")
        batch_op.drop_column("trial_id")
        batch_op.alter_column("deal_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("transfer_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_tasks_overdue_filing_due")
        batch_op.drop_column("overdue")
        batch_op.drop_column("announcement_date")
        batch_op.drop_column("filed_at")
        batch_op.drop_column("cnipa_receipt_number")
        batch_op.drop_column("filing_due")
