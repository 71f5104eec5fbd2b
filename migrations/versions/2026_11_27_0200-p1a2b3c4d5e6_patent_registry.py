"""patent registry

Revision ID: p1a2b3c4d5e6
Revises: 3c6d87221dc4
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "p1a2b3c4d5e6"
down_revision: str | None = "3c6d87221dc4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
