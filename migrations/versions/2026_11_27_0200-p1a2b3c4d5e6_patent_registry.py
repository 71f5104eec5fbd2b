"""patent registry

Revision ID: p1a2b3c4d5e6
Revises: 3c6d87221dc4
Create Date: 2026-11-27 02:00:00

On PostgreSQL the IPC index is rebuilt with ``varchar_pattern_ops`` so the registry's prefix filter
(``code LIKE 'H01M 10/%'``) uses it under any database collation. SQLite needs no change: it filters by a
range, which its BINARY-collated index serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "p1a2b3c4d5e6"
down_revision: str | None = "3c6d87221dc4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_patent_ipc_code", table_name="patent_ipc")
    op.create_index(
        "ix_patent_ipc_code", "patent_ipc", ["code"], postgresql_ops={"code": "varchar_pattern_ops"}
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_patent_ipc_code", table_name="patent_ipc")
    op.create_index("ix_patent_ipc_code", "patent_ipc", ["code"])
