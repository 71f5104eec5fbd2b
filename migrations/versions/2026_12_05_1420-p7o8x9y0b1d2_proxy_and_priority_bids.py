"""proxy and priority bids

SPEC §17.1-§17.2: proxy maxima (secret until the close), bids marked automatic and carrying the bidder's
priority rank, the leader's rank on the auction, and the auction's internal flags for proxies, the outbid
notice and the ending-soon notice (§17.4).

Revision ID: p7o8x9y0b1d2
Revises: r3l1s7p1o2h3
Create Date: 2026-12-05 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.kit.types

revision: str = "p7o8x9y0b1d2"
down_revision: str | None = "r3l1s7p1o2h3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = app.kit.types.UTCDateTime(timezone=True)
    op.create_table(
        "proxy_bids",
        sa.Column("auction_id", sa.Uuid(), nullable=False),
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("bidder_code", sa.String(length=8), nullable=False),
        sa.Column("max_amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("set_at", utc, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["auction_id"], ["auctions.id"], name=op.f("fk_proxy_bids_auction_id_auctions")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_proxy_bids_registration_id_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_bids")),
        sa.UniqueConstraint(
            "auction_id", "registration_id", name=op.f("uq_proxy_bids_auction_id_registration_id")
        ),
    )
    with op.batch_alter_table("auctions") as batch_op:
        batch_op.add_column(sa.Column("leader_priority_rank", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("previous_leader_registration_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("has_proxies", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(
            sa.Column("ending_soon_notified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("bids") as batch_op:
        batch_op.add_column(sa.Column("auto", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("priority_rank", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bids") as batch_op:
        batch_op.drop_column("priority_rank")
        batch_op.drop_column("auto")
    with op.batch_alter_table("auctions") as batch_op:
        batch_op.drop_column("ending_soon_notified")
        batch_op.drop_column("has_proxies")
        batch_op.drop_column("previous_leader_registration_id")
        batch_op.drop_column("leader_priority_rank")
    op.drop_table("proxy_bids")
