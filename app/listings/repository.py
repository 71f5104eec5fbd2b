"""All SQL of listings: loading with visibility, patent look-ups, the search document and the public list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.kit.db import connection_of, dialect_name
from app.kit.errors import Unprocessable
from app.kit.pagination import (
    SortKey,
    datetime_key,
    decode_cursor,
    encode_cursor,
    keyset_query,
    page_of,
    parse_int_value,
    uuid_key,
)
from app.kit.security import Principal
from app.kit.statements import prepared
from app.kit.types import UTCDateTime
from app.listings import search
from app.listings.queries import Audience, audience, visibility
from app.listings.schemas import ListingSort
from app.models.accounts import Organization
from app.models.listings import (
    Listing,
    ListingPatent,
    ListingSearch,
    ListingStatus,
    PricingMode,
    TransactionKind,
)
from app.models.patents import Patent, PatentIpc
from app.models.platform import ReadVersion

_MAX_BIGINT = 2**63 - 1
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


# Where the reads run: a request's session, or a pooled read connection (``Database.read_connection``) for the
# public reads, which skip the ORM's layers (``list_ids``, ``briefs``, ``brief``).
Reader = AsyncSession | AsyncConnection
AnyRow = Row[*tuple[Any, ...]]  # a Core row of any columns
# The caller's organization in statements built once (``queries.visibility`` of a member).
_ORG = bindparam("p_org", type_=Uuid())

# What a listing's response shows of its row (``service.present``), read with Core: rows that have the
# attributes of a ``Listing`` that ``present`` reads, without the ORM's loading. The table's own columns, not
# the model's attributes: a cached statement's result is matched to a new statement's columns by hashing them,
# and the model's annotated copies hash like the table's but compare by building SQL (``==``), ~40 per request.
_LISTINGS = cast(Table, Listing.__table__).c
LISTING_COLUMNS = tuple(
    _LISTINGS[name]
    for name in (
        "id",
        "seller_org_id",
        "title",
        "summary",
        "transaction_kind",
        "pricing_mode",
        "price",
        "deposit",
        "listing_days",
        "extension_days",
        "max_extensions",
        "min_bidders_for_auction",
        "requires_qualification_review",
        "license_terms",
        "auction_terms",
        "status",
        "rejection_reason",
        "status_reason",
        "published_at",
        "listing_ends_at",
        "extensions_used",
        "auction_id",
        "previous_listing_id",
        "next_listing_id",
        "ended_at",
        "created_at",
        "updated_at",
    )
)


# What the public search shows changes with the listings, their patents and their sellers; triggers count
# those changes, committed, in ``read_versions`` (migration r3adv3rs10n1).
_READ_VERSION = prepared(select(ReadVersion.version).where(ReadVersion.name == "listings"))


async def read_version(reader: Reader) -> int | None:
    """The count of committed changes of what the public search shows (``app.kit.pagecache``)."""
    conn = await _connection(reader)
    version: int | None = (await conn.execute(_READ_VERSION)).scalar()
    return version


async def _connection(reader: Reader) -> AsyncConnection:
    """Core statements run on a bare connection: the session's own (in its transaction) or the one given."""
    if isinstance(reader, AsyncSession):
        return await connection_of(reader)
    return reader


async def patents_by_id(
    session: AsyncSession, patent_ids: Sequence[uuid.UUID], *, share_lock: bool = False
) -> dict[uuid.UUID, Patent]:
    """``share_lock``: hold the patents (``FOR SHARE``) so that an owner's edit, which takes them ``FOR UPDATE``
    and then asks whether they are locked (SPEC §20 ``patent_locked``), waits for this transaction."""
    query = select(Patent).where(Patent.id.in_(list(patent_ids))).order_by(Patent.id)
    if share_lock:
        query = query.with_for_update(read=True)
    rows = await session.scalars(query)
    return {p.id: p for p in rows}


async def set_patents(session: AsyncSession, listing_id: uuid.UUID, patent_ids: Sequence[uuid.UUID]) -> None:
    await session.execute(delete(ListingPatent).where(ListingPatent.listing_id == listing_id))
    session.add_all(
        ListingPatent(listing_id=listing_id, patent_id=pid, position=i) for i, pid in enumerate(patent_ids)
    )
    await session.flush()


async def patent_ids_of(session: AsyncSession, listing_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(ListingPatent.patent_id)
        .where(ListingPatent.listing_id == listing_id)
        .order_by(ListingPatent.position)
    )
    return list(rows.all())


async def patents_of(
    session: AsyncSession, listing_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Patent]]:
    """The patents of each listing, in the seller's order; one query for a whole page. Read as the database has
    them now, even for patents this session loaded before (the CSV importer changes patents with Core)."""
    result: dict[uuid.UUID, list[Patent]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return result
    rows = await session.execute(
        select(ListingPatent.listing_id, Patent)
        .join(Patent, Patent.id == ListingPatent.patent_id)
        .where(ListingPatent.listing_id.in_(list(listing_ids)))
        .order_by(ListingPatent.listing_id, ListingPatent.position)
        .execution_options(populate_existing=True)
    )
    for listing_id, patent in rows:
        result[listing_id].append(patent)
    return result


async def listings_of_patents(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The listings, of any status, that offer any of these patents."""
    rows = await session.scalars(
        select(ListingPatent.listing_id).where(ListingPatent.patent_id.in_(list(patent_ids))).distinct()
    )
    return list(rows.all())


# A listing as its response shows it (``service.present``), in one statement: the listing's columns, its
# seller's and its patents', a row per patent in the seller's order (a listing without patents still gives
# one, its patent columns null). Built once, the ids as parameters: a statement executed as it was compiled
# skips computing its cache key and matching its result's columns to the compiled ones.
_PATENTS_TABLE = cast(Table, Patent.__table__)
_PATENTS = _PATENTS_TABLE.c
_LISTING_PATENTS_TABLE = cast(Table, ListingPatent.__table__)
_LISTING_PATENTS = _LISTING_PATENTS_TABLE.c
_ORGANIZATIONS_TABLE = cast(Table, Organization.__table__)
_ORGANIZATIONS = _ORGANIZATIONS_TABLE.c
_BRIEF = (
    select(
        *LISTING_COLUMNS,
        _ORGANIZATIONS.name.label("seller_name"),
        _ORGANIZATIONS.kind.label("seller_kind"),
        _PATENTS.id.label("patent_id"),
        _PATENTS.application_number,
        _PATENTS.title.label("patent_title"),
        _PATENTS.kind.label("patent_kind"),
        _PATENTS.grant_date,
        _PATENTS.expires_on,
        _PATENTS.status_override,
    )
    .select_from(cast(Table, Listing.__table__))
    .join(_ORGANIZATIONS_TABLE, _ORGANIZATIONS.id == _LISTINGS.seller_org_id)
    .outerjoin(_LISTING_PATENTS_TABLE, _LISTING_PATENTS.listing_id == _LISTINGS.id)
    .outerjoin(_PATENTS_TABLE, _PATENTS.id == _LISTING_PATENTS.patent_id)
)
_BRIEFS = _BRIEF.where(_LISTINGS.id.in_(bindparam("p_ids", expanding=True))).order_by(
    _LISTING_PATENTS.position
)


def _brief_of(who: Audience) -> Any:
    query = _BRIEF.where(_LISTINGS.id == bindparam("p_id", type_=Uuid()))
    condition = visibility(who, _ORG)
    if condition is not None:
        query = query.where(condition)
    return query.order_by(_LISTING_PATENTS.position)


_BRIEF_OF = {who: _brief_of(who) for who in Audience}


async def briefs(reader: Reader, listing_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AnyRow]]:
    """Each listing's rows of ``_BRIEF``: ``LISTING_COLUMNS``, the seller's name and kind (``seller_name``,
    ``seller_kind``) and a patent (``patent_id`` ... ``status_override``, null when it has none)."""
    result: dict[uuid.UUID, list[AnyRow]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return result
    conn = await _connection(reader)
    for row in await conn.execute(_BRIEFS, {"p_ids": list(result)}):
        result[row.id].append(row)
    return result


async def brief(reader: Reader, principal: Principal | None, listing_id: uuid.UUID) -> list[AnyRow]:
    """The listing's rows of ``_BRIEF`` if the caller may see it (``queries.visibility``), else none."""
    params = {"p_id": listing_id, "p_org": principal.organization_id if principal is not None else None}
    conn = await _connection(reader)
    return list((await conn.execute(_BRIEF_OF[audience(principal)], params)).all())


async def write_search_document(session: AsyncSession, listing: Listing, patents: Sequence[Patent]) -> None:
    """Replace the listing's search row (same transaction as the change). On SQLite, triggers on
    ``listing_search`` keep the FTS5 index in step (see the migration)."""
    title, body, terms = search.document(
        listing.title, listing.summary, [(p.title, p.abstract) for p in patents]
    )
    title_terms = search.index_terms(title)
    row = await session.get(ListingSearch, listing.id)
    if row is None:
        session.add(
            ListingSearch(listing_id=listing.id, title=title, body=body, terms=terms, title_terms=title_terms)
        )
    elif (row.title, row.body, row.terms, row.title_terms) != (title, body, terms, title_terms):
        row.title, row.body, row.terms, row.title_terms = title, body, terms, title_terms
    await session.flush()


@dataclass(frozen=True)
class ListFilters:
    q: str | None = None
    pricing_mode: PricingMode | None = None
    transaction_kind: TransactionKind | None = None
    ipc: str | None = None
    status: ListingStatus | None = None
    seller_org_id: uuid.UUID | None = None
    min_price: int | None = None
    max_price: int | None = None
    sort: ListingSort | None = None


def normalise_ipc_prefix(value: str) -> str:
    """``h01m10/05`` → ``H01M 10/05``: the stored codes have a space between subclass and group."""
    compact = "".join(value.split()).upper()
    if len(compact) > 4:
        return compact[:4] + " " + compact[4:]
    return compact


def _sort_keys(filters: ListFilters, public_only: bool) -> list[SortKey]:
    """Keyset columns per sort; none may be NULL, so optional columns are COALESCEd the same on both databases
    (unpriced listings last in both price orders, drafts by creation time)."""
    published = (
        Listing.published_at if public_only else func.coalesce(Listing.published_at, Listing.created_at)
    )
    sort = filters.sort
    if sort == ListingSort.price:
        return [SortKey(func.coalesce(Listing.price, _MAX_BIGINT), int), uuid_key(Listing.id)]
    if sort == ListingSort.price_desc:
        return [
            SortKey(func.coalesce(Listing.price, -1), int, descending=True),
            uuid_key(Listing.id, descending=True),
        ]
    if sort == ListingSort.ends_soonest:
        ends = func.coalesce(
            Listing.listing_ends_at, literal(_FAR_FUTURE, UTCDateTime()), type_=UTCDateTime()
        )
        return [datetime_key(ends), uuid_key(Listing.id)]
    newest = [datetime_key(published, descending=True), uuid_key(Listing.id, descending=True)]
    if sort is None and filters.q:
        return [SortKey(search.title_rank(filters.q), int), *newest]
    return newest


# From this many index hits on, a relevance phase walks the listings newest first and checks each (about
# 21 × listings / hits rows for a page of 20) instead of reading and sorting every hit. Neither planner can
# tell: SQLite has no estimate for an FTS5 match, and PostgreSQL multiplies the selectivities of the bigrams
# of a phrase as if they were independent (制备 备方 方法: 0.6 % estimated, 12 % actual), then sorts 12,000 rows.
WALK_FROM_HITS = 1000


async def _many_hits(session: Reader, q: str, *, title: bool) -> bool:
    """Whether the text index has at least ``WALK_FROM_HITS`` candidates for the phase; counting stops there."""
    dialect = dialect_name(session)
    if dialect == "sqlite":
        match = search.fts5_estimate_match(q, title=title)
        if match is None:
            return False
        hits = await session.scalar(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM listing_fts WHERE listing_fts MATCH :m LIMIT :cap)"
            ).bindparams(m=match, cap=WALK_FROM_HITS)
        )
    elif dialect == "postgresql":
        condition = search.gin_estimate_condition(q, title=title)
        if condition is None:
            return False
        capped = select(literal(1)).select_from(ListingSearch).where(condition).limit(WALK_FROM_HITS)
        hits = await session.scalar(select(func.count()).select_from(capped.subquery()))
    else:
        return False
    return (hits or 0) >= WALK_FROM_HITS


def _invalid_cursor() -> Unprocessable:
    return Unprocessable(
        "cursor is not valid",
        code="invalid_cursor",
        errors=[{"loc": ["query", "cursor"], "msg": "not a cursor from this list"}],
    )


async def _by_relevance(
    session: Reader,
    query: Any,
    filters: ListFilters,
    newest: list[SortKey],
    *,
    public_only: bool,
    limit: int,
    params: dict[str, Any],
    cursor: str | None,
) -> list[Any]:
    """The default order with ``q`` — rank (title contains the query: 0, else 1), then newest, then id — in
    two phases: the rank-0 listings newest first, then, if the page is not full, the rank-1 ones. Each phase
    is ordered by ``(published_at, id)`` alone, so the database can walk an index and stop after a page
    instead of sorting every match. Rows are ``(*selected, rank, published, id)``, the cursor the same
    ``[rank, published, id]`` as a single ``ORDER BY rank, published DESC, id DESC`` would give."""
    assert filters.q is not None
    values = decode_cursor(cursor, size=3)
    after_rank = -1
    if values is not None:
        try:
            after_rank = parse_int_value(values[0])
        except (TypeError, ValueError):
            raise _invalid_cursor() from None
    dialect = dialect_name(session)
    # Walking (published_at, id) pays off only for the public order. Filters on the listing's own columns
    # are checked before its search row is read, so even a narrow price band costs little per walked row;
    # a seller or an IPC class can leave a handful of rows in 100,000 and is better served from the index.
    may_walk = public_only and filters.seller_org_id is None and not filters.ipc
    rows: list[Any] = []
    for rank in (0, 1):
        if rank < after_rank:
            continue
        title = rank == 0
        walk = may_walk and await _many_hits(session, filters.q, title=title)
        condition = (search.title_match_condition if title else search.other_match_condition)(
            dialect, filters.q, indexed=not walk
        )
        phase = (
            query.add_columns(literal(rank), *[k.column for k in newest])
            .join(ListingSearch, ListingSearch.listing_id == Listing.id)
            .where(condition)
        )
        phase_cursor = encode_cursor(values[1:]) if values is not None and rank == after_rank else None
        wanted = limit + 1 - len(rows)
        statement = keyset_query(phase, newest, phase_cursor).limit(wanted)
        rows += (await session.execute(statement, params)).all()
        if len(rows) > limit:
            break
    return rows


def filter_conditions(filters: ListFilters) -> list[ColumnElement[bool]]:
    """The conditions of every filter but ``q`` (which needs the search row: ``search.match_condition``), the
    one reading of the search's filters (SPEC §5): the public list and saved searches (SPEC §17.4) alike."""
    conditions: list[ColumnElement[bool]] = []
    if filters.pricing_mode is not None:
        conditions.append(Listing.pricing_mode == filters.pricing_mode)
    if filters.transaction_kind is not None:
        conditions.append(Listing.transaction_kind == filters.transaction_kind)
    if filters.status is not None:
        conditions.append(Listing.status == filters.status)
    if filters.seller_org_id is not None:
        conditions.append(Listing.seller_org_id == filters.seller_org_id)
    if filters.min_price is not None:
        conditions.append(Listing.price >= filters.min_price)
    if filters.max_price is not None:
        conditions.append(Listing.price <= filters.max_price)
    if filters.ipc:
        prefix = search.escape_like(normalise_ipc_prefix(filters.ipc)) + "%"
        with_code = (
            select(ListingPatent.listing_id)
            .join(PatentIpc, PatentIpc.patent_id == ListingPatent.patent_id)
            .where(PatentIpc.code.like(prefix, escape=search.LIKE_ESCAPE))
        )
        conditions.append(Listing.id.in_(with_code))
    return conditions


async def meets(session: AsyncSession, listing_id: uuid.UUID, filters: ListFilters) -> bool:
    """Whether the listing meets ``filters``, ``q`` included, exactly as the public search would find it."""
    query: Any = select(Listing.id).where(Listing.id == listing_id, *filter_conditions(filters))
    if filters.q:
        query = query.join(ListingSearch, ListingSearch.listing_id == Listing.id).where(
            search.match_condition(dialect_name(session), filters.q)
        )
    return await session.scalar(query) is not None


async def list_listings(
    session: AsyncSession,
    principal: Principal | None,
    filters: ListFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Listing], str | None]:
    """A page of the search as ``Listing`` objects (for callers that go on to use the model)."""
    rows, next_cursor = await _search(session, (Listing,), principal, filters, limit=limit, cursor=cursor)
    return [r[0] for r in rows], next_cursor


async def listing_page(
    reader: Reader,
    principal: Principal | None,
    filters: ListFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[list[AnyRow]], str | None]:
    """The same page as ``list_listings``, each listing as its rows of ``_BRIEF``, read with Core (the public
    API): the first page without filters in one statement built once (``_FIRST_PAGES``), any other as the
    search's sort keys (every order ends with the id), then ``briefs`` by id."""
    conn = await _connection(reader)
    who = audience(principal)
    params = _params(principal, limit)
    if cursor is None and filters == ListFilters(sort=filters.sort):
        statement = _FIRST_PAGES.get((who, filters.sort, _BRIEF))
        if statement is None:
            statement = _FIRST_PAGES[(who, filters.sort, _BRIEF)] = _first_page_briefs(who, filters)
        groups: dict[uuid.UUID, list[AnyRow]] = {}
        for row in await conn.execute(statement, params):
            groups.setdefault(row.id, []).append(row)
        width = len(_sort_keys(filters, who is Audience.public))
        return page_of(list(groups.values()), limit, lambda rows: tuple(rows[0][-width:]))
    rows, next_cursor = await _search(conn, (), principal, filters, limit=limit, cursor=cursor)
    details = await briefs(conn, [r[-1] for r in rows])
    return [details[r[-1]] for r in rows if details[r[-1]]], next_cursor


def _first_page_briefs(who: Audience, filters: ListFilters) -> Any:
    """``_BRIEF`` of the first page's listings (the search's statement as a subquery of its sort keys), in
    its order, then the seller's order of patents; each row ends with the listing's sort keys."""
    keys = _sort_keys(filters, who is Audience.public)
    labels = [f"sort_key_{i}" for i in range(len(keys))]
    query = _filtered((), who, filters).add_columns(
        *[k.column.label(n) for k, n in zip(keys, labels, strict=True)]
    )
    page = keyset_query(query, keys, None).limit(_LIMIT).subquery("page")
    columns = [page.c[n] for n in labels]
    order = [c.desc() if k.descending else c.asc() for k, c in zip(keys, columns, strict=True)]
    return (
        _BRIEF.add_columns(*columns)
        .join(page, columns[-1] == _LISTINGS.id)
        .order_by(*order, _LISTING_PATENTS.position)
    )


def _params(principal: Principal | None, limit: int) -> dict[str, Any]:
    """The parameters of the search's statements: the member's organization, the page's size and one more."""
    return {"p_org": principal.organization_id if principal is not None else None, "p_limit": limit + 1}


# The first page of the list without filters, per audience, order and columns: the most frequent search (a
# market's front page), built once with the caller's organization and the page's size as parameters, so that
# SQLAlchemy neither builds it nor computes its cache key again (~200 µs of a request).
_FIRST_PAGES: dict[tuple[Any, ...], Any] = {}
_LIMIT = bindparam("p_limit", type_=Integer())


async def _search(
    reader: Reader,
    selected: Sequence[Any],
    principal: Principal | None,
    filters: ListFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AnyRow], str | None]:
    """The one reading of the public search (SPEC §5): visibility, filters, ``q``, order and keyset cursor.
    Rows are ``selected`` followed by the sort keys, from which the cursor of the last one is made."""
    who = audience(principal)
    params = _params(principal, limit)
    rows: Sequence[Any]
    if filters.q and filters.sort is None:
        public_only = who is Audience.public
        newest = _sort_keys(filters, public_only)[1:]
        query = _filtered(selected, who, filters)
        rows = await _by_relevance(
            reader, query, filters, newest, public_only=public_only, limit=limit, params=params, cursor=cursor
        )
    else:
        rows = (await reader.execute(_ordered(reader, selected, who, filters, cursor), params)).all()
    width = len(selected)
    return page_of(rows, limit, lambda r: tuple(r[width:]))


def _filtered(selected: Sequence[Any], who: Audience, filters: ListFilters) -> Any:
    """``selected`` of the listings ``who`` may see that meet the filters but ``q``."""
    query: Any = select(*selected)
    condition = visibility(who, _ORG)
    if condition is not None:
        query = query.where(condition)
    return query.where(*filter_conditions(filters))


def _ordered(
    reader: Reader, selected: Sequence[Any], who: Audience, filters: ListFilters, cursor: str | None
) -> Any:
    """The statement of a page in an explicit order (or the default one without ``q``)."""
    first_page = None
    if cursor is None and filters == ListFilters(sort=filters.sort):
        first_page = (who, filters.sort, *selected)
        if (statement := _FIRST_PAGES.get(first_page)) is not None:
            return statement
    keys = _sort_keys(filters, who is Audience.public)
    query = _filtered(selected, who, filters)
    if filters.q:
        query = query.join(ListingSearch, ListingSearch.listing_id == Listing.id).where(
            search.match_condition(dialect_name(reader), filters.q)
        )
    query = query.add_columns(*[k.column for k in keys])
    statement = keyset_query(query, keys, cursor).limit(_LIMIT)
    if first_page is not None:
        _FIRST_PAGES[first_page] = statement
    return statement
