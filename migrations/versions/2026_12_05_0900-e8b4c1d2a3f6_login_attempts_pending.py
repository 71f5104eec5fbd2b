"""sign-in attempts still being checked

An attempt takes its row in ``login_failures`` before the password is checked (SPEC §20: at most ten checks
per window, even in parallel); ``pending`` marks the ones whose check has not ended yet, so a slot that a
successful sign-in will give back is waited for instead of refused.

Revision ID: e8b4c1d2a3f6
Revises: c7d1e2f3a4b5
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8b4c1d2a3f6"
down_revision: str | None = "c7d1e2f3a4b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_failures") as batch:
        batch.add_column(sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("login_failures") as batch:
        batch.drop_column("pending")
