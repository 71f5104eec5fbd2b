"""search speed

The relevance order of the public search (title matches first, then newest) needs "does the title contain the
query" without reading every match's wide search row. ``listing_search.title_terms`` holds the index terms of
the title alone (``app.listings.search.index_terms(title)``), indexed on its own:

* SQLite: ``listing_fts`` becomes two columns, ``title_terms`` and ``terms`` (still external content over
  ``listing_search``, ``ascii`` tokenizer), so ``{title_terms}: "…"`` finds title matches through the index;
  its triggers follow both columns.
* PostgreSQL: a GIN index on ``string_to_array(title_terms, ' ')`` next to the one on ``terms``.

Existing rows are backfilled here (the bigram rule is copied below so that this revision never changes).

Revision ID: s2a2b3c4d5e6
Revises: t1a2b3c4d5e6
Create Date: 2026-11-27 03:00:00
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s2a2b3c4d5e6"
down_revision: str | None = "t1a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of app.listings.search.index_terms as of this revision.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"([{_CJK}]+)|((?:(?![{_CJK}])[^\W_])+)")


def _index_terms(text: str) -> str:
    terms: list[str] = []
    for cjk, word in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()):
        if cjk:
            terms.extend([cjk] if len(cjk) == 1 else [cjk[i : i + 2] for i in range(len(cjk) - 1)])
        else:
            terms.append(word)
    return " ".join(terms)


SQLITE_DROP_OLD = [
    "DROP TRIGGER IF EXISTS listing_search_fts_update",
    "DROP TRIGGER IF EXISTS listing_search_fts_delete",
    "DROP TRIGGER IF EXISTS listing_search_fts_insert",
    "DROP TABLE IF EXISTS listing_fts",
]
SQLITE_UP = [
    """CREATE VIRTUAL TABLE listing_fts USING fts5(
           title_terms, terms, content='listing_search', content_rowid='rowid', tokenize='ascii',
           detail='full')""",
    """CREATE TRIGGER listing_search_fts_insert AFTER INSERT ON listing_search BEGIN
           INSERT INTO listing_fts(rowid, title_terms, terms) VALUES (new.rowid, new.title_terms, new.terms);
       END""",
    """CREATE TRIGGER listing_search_fts_delete AFTER DELETE ON listing_search BEGIN
           INSERT INTO listing_fts(listing_fts, rowid, title_terms, terms)
           VALUES ('delete', old.rowid, old.title_terms, old.terms);
       END""",
    """CREATE TRIGGER listing_search_fts_update AFTER UPDATE OF title_terms, terms ON listing_search BEGIN
           INSERT INTO listing_fts(listing_fts, rowid, title_terms, terms)
           VALUES ('delete', old.rowid, old.title_terms, old.terms);
           INSERT INTO listing_fts(rowid, title_terms, terms) VALUES (new.rowid, new.title_terms, new.terms);
       END""",
    "INSERT INTO listing_fts(listing_fts) VALUES ('rebuild')",
]
# The previous revision's index (see l1a2b3c4d5e6).
SQLITE_DOWN = [
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
    "INSERT INTO listing_fts(listing_fts) VALUES ('rebuild')",
]


def _backfill() -> None:
    bind = op.get_bind()
    search = sa.table(
        "listing_search",
        sa.column("listing_id", sa.Uuid()),
        sa.column("title", sa.Text),
        sa.column("title_terms", sa.Text),
    )
    rows = bind.execute(sa.select(search.c.listing_id, search.c.title)).all()
    update = (
        sa.update(search)
        .where(search.c.listing_id == sa.bindparam("key"))
        .values(title_terms=sa.bindparam("value"))
    )
    for start in range(0, len(rows), 5000):
        chunk = [{"key": r.listing_id, "value": _index_terms(r.title)} for r in rows[start : start + 5000]]
        bind.execute(update, chunk)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for statement in SQLITE_DROP_OLD:
            op.execute(statement)
    # A plain ADD COLUMN (no table rebuild on SQLite, which would renumber the rowids the index refers to).
    op.add_column("listing_search", sa.Column("title_terms", sa.Text(), server_default="", nullable=False))
    _backfill()
    if sqlite:
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_listing_search_title_terms_gin ON listing_search "
            "USING gin (string_to_array(title_terms, ' '))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DROP_OLD:
            op.execute(statement)
        op.execute("ALTER TABLE listing_search DROP COLUMN title_terms")
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_listing_search_title_terms_gin")
        op.drop_column("listing_search", "title_terms")
