"""payment, settlement, certificates, licences, transfer tasks

Revision ID: d4a2b3c4d5e6
Revises: c4a2b3c4d5e6
Create Date: 2026-11-27 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "d4a2b3c4d5e6"
down_revision: str | None = "c4a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
