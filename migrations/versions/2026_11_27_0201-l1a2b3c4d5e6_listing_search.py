"""listing search

Chinese full-text search over ``listing_search.terms`` (CJK bigrams and Latin words, see
``app/listings/search.py``):

* SQLite: an FTS5 table ``listing_fts`` with ``listing_search`` as its external content (rowid = the content
  row's rowid) and the ``ascii`` tokenizer, so the space-separated terms are exactly its tokens; triggers keep
  it in step with every insert, update and delete of ``listing_search``. ``VACUUM`` may renumber the rowids of
  ``listing_search`` (it has no INTEGER PRIMARY KEY): after a VACUUM run
  ``INSERT INTO listing_fts(listing_fts) VALUES('rebuild')``.
* PostgreSQL: a GIN index on ``string_to_array(terms, ' ')``, queried with ``@>``.

Also an index on ``listings (published_at, id)`` for the default newest-first order.

Revision ID: l1a2b3c4d5e6
Revises: p1a2b3c4d5e6
Create Date: 2026-11-27 02:01:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "l1a2b3c4d5e6"
down_revision: str | None = "p1a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE listing_fts USING fts5(
           terms, content='listing_search', content_rowid='rowid', tokenize='ascii', detail='full')""",
    """CREATE TRIGGER listing_search_fts_insert AFTER INSERT ON listing_search BEGIN
           INSERT INTO listing_fts(rowid, terms) VALUES (new.rowid, new.terms);
       END""",
    """CREATE TRIGGER listing_search_fts_delete AFTER DELETE ON listing_search BEGIN
           INSERT INTO listing_fts(listing_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
       END""",
    """CREATE TRIGGER listing_search_fts_update AFTER UPDATE OF terms ON listing_search BEGIN
           INSERT INTO listing_fts(listing_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
           INSERT INTO listing_fts(rowid, terms) VALUES (new.rowid, new.terms);
       END""",
    # Rows written before this revision.
    "INSERT INTO listing_fts(listing_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS listing_search_fts_update",
    "DROP TRIGGER IF EXISTS listing_search_fts_delete",
    "DROP TRIGGER IF EXISTS listing_search_fts_insert",
    "DROP TABLE IF EXISTS listing_fts",
]


def upgrade() -> None:
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index("ix_listings_published_at_id", ["published_at", "id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_listing_search_terms_gin ON listing_search "
            "USING gin (string_to_array(terms, ' '))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_listing_search_terms_gin")
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_index("ix_listings_published_at_id")
