"""auction events notify their listeners from a trigger (PostgreSQL)

The ``pg_notify('auction_events', '<auction id>:<seq>')`` that wakes the live streams of every process used
to be a separate statement after the INSERT of the events; an AFTER INSERT trigger sends it from the same
transaction (delivered on commit, as before) without a round trip. SQLite streams poll: nothing to do there.

Revision ID: f5a2b3c4d5e6
Revises: e4a2b3c4d5e6
Create Date: 2026-11-27 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "f5a2b3c4d5e6"
down_revision: str | None = "e4a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION auction_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('auction_events', NEW.auction_id::text || ':' || NEW.seq::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER auction_events_notify AFTER INSERT ON auction_events "
        "FOR EACH ROW EXECUTE FUNCTION auction_events_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER auction_events_notify ON auction_events")
    op.execute("DROP FUNCTION auction_events_notify()")
