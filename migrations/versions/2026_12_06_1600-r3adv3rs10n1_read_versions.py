"""read versions: a counter of the committed changes of what the public search shows

``read_versions`` holds one row per public read the server processes keep rendered (``app.kit.pagecache``).
``listings`` counts the changes of what ``GET /listings`` shows: the listings, their patents (the link and
the columns a listing shows of a patent) and the sellers' names and kinds. Triggers bump it, so that no
writer, whatever its path, can forget to:

- SQLite: an AFTER trigger per event in the writing transaction (writers are serialised there anyway);
- PostgreSQL: a deferred constraint trigger, so the counter's row is locked only while the transaction
  commits (never in the middle of one, where it could deadlock with the transaction's other locks), once
  per transaction (a transaction-local setting remembers it).

Revision ID: r3adv3rs10n1
Revises: w3bs3ss10n19
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r3adv3rs10n1"
down_revision: str | None = "w3bs3ss10n19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → the events that change what the public search shows of it
_EVENTS = {
    "listings": ("INSERT", "UPDATE", "DELETE"),
    "listing_patents": ("INSERT", "UPDATE", "DELETE"),
    # a new patent or organization is in no listing yet
    "patents": (
        "UPDATE OF application_number, kind, title, grant_date, expires_on, status_override",
        "DELETE",
    ),
    "organizations": ("UPDATE OF name, kind", "DELETE"),
}
_BUMP = "UPDATE read_versions SET version = version + 1 WHERE name = 'listings'"


def _sqlite_triggers() -> list[tuple[str, str]]:
    return [
        (f"{table}_read_version_{event.split()[0].lower()}", f"AFTER {event} ON {table}")
        for table, events in _EVENTS.items()
        for event in events
    ]


def upgrade() -> None:
    op.create_table(
        "read_versions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_read_versions")),
    )
    op.execute("INSERT INTO read_versions (name, version) VALUES ('listings', 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION listings_read_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF current_setting('exchange.listings_read_version', true) IS DISTINCT FROM 'bumped' THEN
                    PERFORM set_config('exchange.listings_read_version', 'bumped', true);
                    {_BUMP};
                END IF;
                RETURN NULL;
            END
            $$
            """
        )
        for table, events in _EVENTS.items():
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_read_version AFTER {' OR '.join(events)} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION listings_read_version()"
            )
    else:
        for name, when in _sqlite_triggers():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _EVENTS:
            op.execute(f"DROP TRIGGER {table}_read_version ON {table}")
        op.execute("DROP FUNCTION listings_read_version()")
    else:
        for name, _ in _sqlite_triggers():
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("read_versions")
