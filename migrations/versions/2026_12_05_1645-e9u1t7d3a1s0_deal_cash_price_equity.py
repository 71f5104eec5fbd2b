"""deal cash price, completion, equity, trial

SPEC §18.1/§18.2/§18.3: a deal's ``cash_price`` (the price paid in money; existing deals: their price),
``completed_at``, the ``equity`` object of an equity contribution and the ``trial_id`` a deal converts.

Revision ID: e9u1t7d3a1s0
Revises: t3chc0ntr4c7
Create Date: 2026-12-05 16:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.kit.types

revision: str = "e9u1t7d3a1s0"
down_revision: str | None = "t3chc0ntr4c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cash_price", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("completed_at", app.kit.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "equity",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("trial_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE deals SET cash_price = price")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.alter_column("cash_price", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_column("trial_id")
        batch_op.drop_column("equity")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("cash_price")
