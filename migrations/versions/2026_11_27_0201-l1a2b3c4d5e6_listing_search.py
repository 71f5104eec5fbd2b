"""listing search

Revision ID: l1a2b3c4d5e6
Revises: p1a2b3c4d5e6
Create Date: 2026-11-27 02:01:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "l1a2b3c4d5e6"
down_revision: str | None = "p1a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
