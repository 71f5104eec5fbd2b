"""Full-text search over listings that works on Chinese text (SPEC §5: ``q=锂电池`` finds "一种锂电池隔膜的制备方法").

Chinese has no spaces between words, so a word tokenizer sees a whole clause as one token. Instead every
run of CJK characters is indexed as its overlapping character **bigrams** ("锂电池隔膜" → 锂电 电池 池隔 隔膜),
Latin letters and digits as words. A query is cut the same way; a CJK run of the query must appear as a run of
adjacent bigrams, which is exactly "the text contains this substring" for runs of two or more characters.
Both databases use the same terms (``listing_search.terms``) and the same verification (``body LIKE``):

* SQLite: an FTS5 table ``listing_fts`` (external content = ``listing_search``, ``ascii`` tokenizer so the
  space-separated terms are the tokens), kept in sync by triggers (see the migration); the query is an AND of
  quoted phrases, built only from our own terms, so no FTS syntax of the user reaches it.
* PostgreSQL: a GIN index on ``string_to_array(terms, ' ')``; the query is ``@> ARRAY[terms]`` (every bigram and
  word present), then ``body LIKE '%run%'`` per CJK run confirms adjacency. Measured faster and simpler than a
  ``to_tsvector('simple', terms)`` phrase query, and immune to the text-search parser's locale rules.

A one-character CJK query has no bigram; it falls back to ``body LIKE '%字%'`` (a scan). User input only ever
reaches SQL as bound parameters, with LIKE wildcards escaped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    case,
    false,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.models.listings import ListingSearch

# Han (with extensions and compatibility ideographs), kana and hangul: scripts written without spaces.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"([{_CJK}]+)|((?:(?![{_CJK}])[^\W_])+)")
LIKE_ESCAPE = "\\"
MAX_QUERY_TERMS = 32


def normalise(text_: str) -> str:
    """NFKC (full-width letters and digits become ASCII) and lower case: the form both index and query use."""
    return unicodedata.normalize("NFKC", text_).lower()


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text_: str) -> str:
    """Space-separated index terms of a text: CJK runs → overlapping bigrams (a lone character stays one term),
    Latin/digit runs → words."""
    terms: list[str] = []
    for cjk, word in _TOKEN.findall(normalise(text_)):
        terms.extend(_bigrams(cjk) if cjk else [word])
    return " ".join(terms)


def document(title: str, summary: str, patent_texts: list[tuple[str, str]]) -> tuple[str, str, str]:
    """``(title, body, terms)`` of a listing's search row. Parts are joined by a newline so that a substring
    check never matches across two fields."""
    parts = [title, summary, *[t for pair in patent_texts for t in pair]]
    body = "\n".join(normalise(p) for p in parts if p)
    return normalise(title), body, " ".join(t for t in (index_terms(p) for p in parts if p) if t)


def escape_like(value: str) -> str:
    return (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def contains(column: Any, fragment: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.like(f"%{escape_like(fragment)}%", escape=LIKE_ESCAPE)
    return result


@dataclass
class SearchQuery:
    """A user's query cut into what the index can look up and what must be verified against the text."""

    terms: list[str] = field(default_factory=list)  # every indexed term that must be present
    phrases: list[list[str]] = field(
        default_factory=list
    )  # adjacent terms (CJK runs); words are 1-term phrases
    fragments: list[str] = field(default_factory=list)  # substrings the body must contain (CJK runs)
    words: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.phrases and not self.fragments


def parse_query(q: str) -> SearchQuery:
    query = SearchQuery()
    for cjk, word in _TOKEN.findall(normalise(q))[:MAX_QUERY_TERMS]:
        if cjk:
            query.fragments.append(cjk)
            if len(cjk) >= 2:
                bigrams = _bigrams(cjk)
                query.phrases.append(bigrams)
                query.terms.extend(bigrams)
        else:
            query.words.append(word)
            query.phrases.append([word])
            query.terms.append(word)
    query.terms = list(dict.fromkeys(query.terms))
    return query


def fts5_match(query: SearchQuery, column: str | None = None) -> str:
    """An FTS5 MATCH expression: an AND of quoted phrases, each limited to ``column`` if given. Terms hold
    only letters and digits (no quotes)."""
    prefix = "{" + column + "}: " if column else ""
    return " AND ".join(prefix + '"' + " ".join(p) + '"' for p in query.phrases)


def _long_runs(query: SearchQuery) -> SearchQuery:
    """The CJK runs of two or more characters of ``query``: the parts a title index can look up (a Latin word
    counts for the title as a substring, ``title LIKE '%word%'``, which no token index answers)."""
    runs = [f for f in query.fragments if len(f) >= 2]
    return SearchQuery(
        terms=list(dict.fromkeys(t for r in runs for t in _bigrams(r))),
        phrases=[_bigrams(r) for r in runs],
        fragments=runs,
    )


def _fts_rowids(match: str, param: str, *, drive: bool) -> ColumnElement[bool]:
    """``listing_search.rowid IN (FTS hits)``. ``drive=False`` writes ``+rowid`` so that SQLite cannot start
    from the hits and must use the condition as a filter (the hits become a set it probes)."""
    matched: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(text("listing_fts"))
        .where(text(f"listing_fts MATCH :{param}").bindparams(**{param: match}))
    )
    column = "+listing_search.rowid" if not drive else "listing_search.rowid"
    return literal_column(column).in_(matched.scalar_subquery())


def match_condition(dialect: str, q: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """The WHERE clause (on ``listing_search``) selecting the listings whose text matches ``q``.

    The only dialect-specific SQL of the search; the caller joins ``listing_search`` to ``listings``.
    ``indexed=False`` is the same set for a caller that walks ``listings`` in order and checks each row: the
    CJK runs are then checked by ``LIKE`` alone (exact: a substring of the body has its bigrams in the index),
    and the index only serves Latin words.
    """
    query = parse_query(q)
    if query.empty:
        return false()
    verify = [contains(ListingSearch.body, f) for f in query.fragments]
    if not query.phrases:  # one-character CJK runs only: nothing indexed to look up
        return and_(*verify)
    if not indexed and not query.words:
        return and_(*verify)
    if dialect == "sqlite":
        lookup = _fts_rowids(fts5_match(query), "fts_query", drive=indexed)
    elif dialect == "postgresql":
        # Must read exactly like the GIN index's expression for the planner to use it.
        lookup = literal_column("string_to_array(listing_search.terms, ' ')").op("@>")(
            bindparam("search_terms", query.terms, type_=ARRAY(Text))
        )
    else:  # any other database: correct but unindexed
        lookup = and_(*[contains(ListingSearch.terms, t) for t in query.terms])
    return and_(lookup, *verify)


def any_term_condition(dialect: str, terms: list[str]) -> ColumnElement[bool]:
    """The ``listing_search`` rows whose index terms include at least one of ``terms`` (terms as ``index_terms``
    cuts them), by the same index as ``match_condition``: candidates for scoring a share of terms (demand
    matching, ``app.demands``)."""
    if not terms:
        return false()
    if dialect == "sqlite":
        return _fts_rowids(" OR ".join(f'"{t}"' for t in terms), "fts_any_terms", drive=True)
    if dialect == "postgresql":
        return literal_column("string_to_array(listing_search.terms, ' ')").op("&&")(
            bindparam("any_terms", terms, type_=ARRAY(Text))
        )
    return or_(*[contains(ListingSearch.terms, t) for t in terms])


def _title_contains_all(query: SearchQuery) -> ColumnElement[bool]:
    return and_(true(), *[contains(ListingSearch.title, p) for p in query.fragments + query.words])


def title_match_condition(dialect: str, q: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """The listings of rank 0 (see ``title_rank``): they match ``q`` and their title contains every part of it.

    A title containing every CJK run also matches (the body starts with the title), so only Latin words need
    the full match. ``indexed`` adds the title index (``title_terms``) for the CJK runs of two or more
    characters, which lets the database start from the title hits instead of walking the listings.
    """
    query = parse_query(q)
    if query.empty:
        return false()
    conditions = [_title_contains_all(query)]
    if query.words:
        conditions.append(match_condition(dialect, q, indexed=indexed))
    runs = _long_runs(query)
    if indexed and runs.phrases:
        if dialect == "sqlite":
            conditions.append(_fts_rowids(fts5_match(runs, "title_terms"), "fts_title_query", drive=True))
        elif dialect == "postgresql":
            conditions.append(
                literal_column("string_to_array(listing_search.title_terms, ' ')").op("@>")(
                    bindparam("title_search_terms", runs.terms, type_=ARRAY(Text))
                )
            )
    return and_(*conditions)


def other_match_condition(dialect: str, q: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """The listings of rank 1: they match ``q`` and their title does not contain every part of it."""
    query = parse_query(q)
    if query.empty:
        return false()
    return and_(match_condition(dialect, q, indexed=indexed), ~_title_contains_all(query))


def _estimate_query(q: str, *, title: bool) -> tuple[SearchQuery, bool]:
    """The part of ``q`` whose index hits bound the rank-0 (``title``) or all matches, and whether those hits
    come from the title index (without Latin words, whose title check is a substring, not a token)."""
    query = parse_query(q)
    if title and not query.words:
        return _long_runs(query), True
    return query, False


def fts5_estimate_match(q: str, *, title: bool) -> str | None:
    """(SQLite) The FTS5 expression whose hits bound the rank-0 (``title``) or all matches of ``q``, for
    deciding whether the hits are many; ``None`` when there is nothing to look up."""
    query, in_title = _estimate_query(q, title=title)
    if not query.phrases:
        return None
    return fts5_match(query, "title_terms" if in_title else None)


def gin_estimate_condition(q: str, *, title: bool) -> ColumnElement[bool] | None:
    """(PostgreSQL) The GIN condition on ``listing_search`` whose hits bound the rank-0 (``title``) or all
    matches of ``q``; ``None`` when there is nothing to look up."""
    query, in_title = _estimate_query(q, title=title)
    if not query.terms:
        return None
    column = "title_terms" if in_title else "terms"
    return literal_column(f"string_to_array(listing_search.{column}, ' ')").op("@>")(
        bindparam("estimate_terms", query.terms, type_=ARRAY(Text))
    )


def title_rank(q: str) -> ColumnElement[int]:
    """Relevance for ``q`` without an explicit sort: 0 when the title contains every part of the query, else 1
    (ties broken by recency). An integer, so it can be part of a keyset cursor, and the same on both databases."""
    query = parse_query(q)
    parts = query.fragments + query.words
    if not parts:
        return literal_column("1", Integer)
    return case((_title_contains_all(query), 0), else_=1)
