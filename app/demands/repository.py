"""All SQL of technology demands: visibility, the list, who sees an anonymous owner, and the candidates of
matching in both directions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.demands import rules
from app.demands.schemas import DemandSort
from app.kit.db import dialect_name
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.listings import search
from app.models.accounts import Organization
from app.models.demands import (
    EXPIRING_STATUSES,
    Demand,
    DemandIpc,
    DemandResponse,
    DemandResponseStatus,
    DemandStatus,
)
from app.models.listings import Listing, ListingPatent, ListingSearch, ListingStatus
from app.models.patents import PatentIpc


def published_now(now: datetime) -> ColumnElement[bool]:
    """Published and not past its ``expires_at`` (the sweeper may be a moment behind)."""
    return and_(Demand.status == DemandStatus.published, Demand.expires_at > now)


def visible_to(principal: Principal | None, now: datetime) -> ColumnElement[bool] | None:
    """SPEC §17.6: published demands to anyone, the others to their owner and operators."""
    if principal is not None and principal.is_operator:
        return None
    if principal is not None and principal.organization_id is not None:
        return or_(published_now(now), Demand.owner_org_id == principal.organization_id)
    return published_now(now)


async def get_visible(
    session: AsyncSession,
    principal: Principal | None,
    demand_id: uuid.UUID,
    now: datetime,
    *,
    for_update: bool = False,
) -> Demand | None:
    query = select(Demand).where(Demand.id == demand_id)
    condition = visible_to(principal, now)
    if condition is not None:
        query = query.where(condition)
    if for_update:
        query = query.with_for_update()
    found: Demand | None = await session.scalar(query)
    return found


async def get_demand(
    session: AsyncSession, demand_id: uuid.UUID, *, for_update: bool = False
) -> Demand | None:
    """The demand whatever its state (the caller decides what the principal may learn of it)."""
    query = select(Demand).where(Demand.id == demand_id)
    if for_update:
        query = query.with_for_update()
    found: Demand | None = await session.scalar(query)
    return found


async def set_codes(session: AsyncSession, demand_id: uuid.UUID, codes: Sequence[str]) -> None:
    await session.execute(delete(DemandIpc).where(DemandIpc.demand_id == demand_id))
    session.add_all(DemandIpc(demand_id=demand_id, code=c) for c in dict.fromkeys(codes))
    await session.flush()


def write_search_fields(demand: Demand) -> None:
    """The demand's search text, cut as listings' is (``app.listings.search.document``)."""
    _, body, terms = search.document(demand.title, demand.description, [])
    demand.search_body, demand.search_terms = body, terms
    demand.title_terms = " ".join(rules.title_terms(demand.title))


async def organizations(session: AsyncSession, org_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Organization]:
    if not org_ids:
        return {}
    rows = await session.scalars(select(Organization).where(Organization.id.in_(set(org_ids))))
    return {o.id: o for o in rows}


async def accepted_for(
    session: AsyncSession, seller_org_id: uuid.UUID, demand_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """The demands of ``demand_ids`` on which the owner accepted a response of ``seller_org_id``."""
    if not demand_ids:
        return set()
    rows = await session.scalars(
        select(DemandResponse.demand_id)
        .where(
            DemandResponse.seller_org_id == seller_org_id,
            DemandResponse.status == DemandResponseStatus.accepted,
            DemandResponse.demand_id.in_(list(set(demand_ids))),
        )
        .distinct()
    )
    return set(rows.all())


# --- the list ---------------------------------------------------------------------------------------------


@dataclass
class ListFilters:
    mine: bool = False
    q: str | None = None
    ipc: str | None = None  # a normalised prefix (``app.patents.rules.ipc_prefix``)
    status: DemandStatus | None = None
    sort: DemandSort | None = None


def text_condition(q: str) -> ColumnElement[bool]:
    """§5's semantics over the demand's title and description: every CJK run of ``q`` is a substring of the
    text (so ``海参养殖`` finds "寻求海参养殖设备技术"), every Latin word one of its words. Demands are few
    next to listings, and a scan with ``LIKE`` reads the same on both databases."""
    query = search.parse_query(q)
    if query.empty:
        return false()
    padded = literal(" ") + Demand.search_terms + literal(" ")
    return and_(
        *[search.contains(Demand.search_body, f) for f in query.fragments],
        *[search.contains(padded, f" {w} ") for w in query.words],
    )


async def list_demands(
    session: AsyncSession,
    principal: Principal | None,
    filters: ListFilters,
    now: datetime,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Demand], str | None]:
    query: Any = select(Demand)
    if filters.mine:
        assert principal is not None and principal.organization_id is not None
        query = query.where(Demand.owner_org_id == principal.organization_id)
    elif principal is None or not principal.is_operator:
        query = query.where(published_now(now))
    if filters.status is not None:
        query = query.where(Demand.status == filters.status)
    if filters.q:
        query = query.where(text_condition(filters.q))
    if filters.ipc:
        prefix = search.escape_like(filters.ipc) + "%"
        with_code = select(DemandIpc.demand_id).where(DemandIpc.code.like(prefix, escape=search.LIKE_ESCAPE))
        query = query.where(Demand.id.in_(with_code))
    if filters.sort == DemandSort.deadline:
        # The deadline's order is its expiry's (00:00 of the next day), an instant the cursor carries as such.
        keys = [datetime_key(Demand.expires_at), uuid_key(Demand.id)]
    else:
        published = func.coalesce(Demand.published_at, Demand.created_at)
        keys = [datetime_key(published, descending=True), uuid_key(Demand.id, descending=True)]
    query = query.add_columns(*[k.column for k in keys])
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: tuple(r[1:]))
    return [r[0] for r in items], next_cursor


# --- matching ---------------------------------------------------------------------------------------------


@dataclass
class ListingText:
    listing_id: uuid.UUID
    published_at: datetime
    terms: frozenset[str]
    body: str
    codes: list[str]


async def _codes_of_listings(
    session: AsyncSession, listing_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    result: dict[uuid.UUID, list[str]] = {i: [] for i in listing_ids}
    if not listing_ids:
        return result
    rows = await session.execute(
        select(ListingPatent.listing_id, PatentIpc.code)
        .join(PatentIpc, PatentIpc.patent_id == ListingPatent.patent_id)
        .where(ListingPatent.listing_id.in_(list(listing_ids)))
    )
    for listing_id, code in rows:
        result[listing_id].append(code)
    return result


async def listing_text(session: AsyncSession, listing_id: uuid.UUID) -> ListingText | None:
    """What matching reads of one listing: its search text and its patents' codes."""
    row = (
        await session.execute(
            select(
                Listing.id, Listing.published_at, Listing.created_at, ListingSearch.terms, ListingSearch.body
            )
            .join(ListingSearch, ListingSearch.listing_id == Listing.id)
            .where(Listing.id == listing_id)
        )
    ).first()
    if row is None:
        return None
    codes = await _codes_of_listings(session, [listing_id])
    return ListingText(row[0], row[1] or row[2], frozenset(row[3].split()), row[4], codes[listing_id])


# Index hits counted per term, at most this many: enough to tell a rare term from a common one.
HITS_CAP = 1000


async def _hits(session: AsyncSession, term: str) -> int:
    capped = (
        select(literal(1))
        .select_from(ListingSearch)
        .where(search.any_term_condition(dialect_name(session), [term]))
        .limit(HITS_CAP)
    )
    return int(await session.scalar(select(func.count()).select_from(capped.subquery())) or 0)


async def _text_candidates(session: AsyncSession, terms: Sequence[str]) -> ColumnElement[bool]:
    """The listings that may hold enough of ``terms`` for ``text_score`` ≥ 0.5. A listing with ``k`` of the
    ``n`` terms (``rules.min_terms_found``) holds one of any ``n − k + 1`` of them, so those are looked up:
    the rarest indexed terms (a title's common words, 方法 or 一种, would otherwise bring most listings), and
    lone CJK characters, which the index holds only as runs of their own, by ``LIKE`` if they must be."""
    size = len(terms) - rules.min_terms_found(len(terms)) + 1
    indexed = [t for t in terms if not (rules.is_cjk_term(t) and len(t) == 1)]
    lone = [t for t in terms if rules.is_cjk_term(t) and len(t) == 1]
    if len(indexed) > size:
        hits = {t: await _hits(session, t) for t in indexed}
        indexed = sorted(indexed, key=lambda t: (hits[t], t))[:size]
    lone = lone[: max(size - len(indexed), 0)]
    return or_(
        search.any_term_condition(dialect_name(session), indexed),
        *[search.contains(ListingSearch.body, c) for c in lone],
    )


async def candidate_listings(
    session: AsyncSession, codes: Sequence[str], terms: Sequence[str]
) -> list[ListingText]:
    """The published listings that may match a demand with these codes and title terms: those with a patent
    code of one of the demand's subclasses, and those whose text has at least one of the terms (found by the
    listings' own text index; a lone CJK character, which the index holds only as a run of its own, by
    ``LIKE``). The formula then decides (``rules.match``)."""
    conditions: list[ColumnElement[bool]] = []
    subclasses = sorted({rules.subclass_of(c) for c in codes})
    if subclasses:
        with_code = (
            select(ListingPatent.listing_id)
            .join(PatentIpc, PatentIpc.patent_id == ListingPatent.patent_id)
            .where(
                or_(
                    *[
                        PatentIpc.code.like(search.escape_like(s) + "%", escape=search.LIKE_ESCAPE)
                        for s in subclasses
                    ]
                )
            )
        )
        conditions.append(Listing.id.in_(with_code))
    if terms:
        conditions.append(await _text_candidates(session, terms))
    if not conditions:
        return []
    rows = (
        await session.execute(
            select(Listing.id, Listing.published_at, ListingSearch.terms, ListingSearch.body)
            .join(ListingSearch, ListingSearch.listing_id == Listing.id)
            .where(
                Listing.status == ListingStatus.published, Listing.published_at.is_not(None), or_(*conditions)
            )
        )
    ).all()
    codes_of = await _codes_of_listings(session, [r[0] for r in rows])
    return [
        ListingText(r[0], r[1], frozenset(r[2].split()), r[3], codes_of[r[0]])
        for r in rows
        if r[1] is not None
    ]


async def listings_by_id(session: AsyncSession, listing_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Listing]:
    if not listing_ids:
        return {}
    rows = await session.scalars(select(Listing).where(Listing.id.in_(list(listing_ids))))
    return {x.id: x for x in rows}


@dataclass
class DemandTerms:
    demand: Demand
    codes: list[str]
    terms: list[str]


async def published_demands(session: AsyncSession, now: datetime) -> list[DemandTerms]:
    """Every published demand with its codes and title terms: the candidates for a listing (the text share
    must be computed for each; demands are few next to listings)."""
    demands = list((await session.scalars(select(Demand).where(published_now(now)))).all())
    return [DemandTerms(d, list(d.ipc_codes), d.title_terms.split()) for d in demands]


# --- responses --------------------------------------------------------------------------------------------


async def response_exists(session: AsyncSession, demand_id: uuid.UUID, listing_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(DemandResponse.id).where(
            DemandResponse.demand_id == demand_id, DemandResponse.listing_id == listing_id
        )
    )
    return found is not None


async def has_responded(session: AsyncSession, demand_id: uuid.UUID, org_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(DemandResponse.id)
        .where(DemandResponse.demand_id == demand_id, DemandResponse.seller_org_id == org_id)
        .limit(1)
    )
    return found is not None


async def list_responses(
    session: AsyncSession,
    demand_id: uuid.UUID,
    seller_org_id: uuid.UUID | None,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[DemandResponse], str | None]:
    """Newest first; ``seller_org_id``: only that seller's."""
    keys = [
        datetime_key(DemandResponse.created_at, descending=True),
        uuid_key(DemandResponse.id, descending=True),
    ]
    query: Any = select(DemandResponse).where(DemandResponse.demand_id == demand_id)
    if seller_org_id is not None:
        query = query.where(DemandResponse.seller_org_id == seller_org_id)
    query = query.add_columns(*[k.column for k in keys])
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: tuple(r[1:]))
    return [r[0] for r in items], next_cursor


async def lock_response(
    session: AsyncSession, response_id: uuid.UUID
) -> tuple[DemandResponse, Demand] | None:
    row = (
        await session.execute(
            select(DemandResponse, Demand)
            .join(Demand, Demand.id == DemandResponse.demand_id)
            .where(DemandResponse.id == response_id)
            .with_for_update(of=DemandResponse)
        )
    ).first()
    return None if row is None else (row[0], row[1])


# --- expiry -----------------------------------------------------------------------------------------------


async def lapsed(session: AsyncSession, now: datetime, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    rows = await session.execute(
        select(Demand.expires_at, Demand.id)
        .where(Demand.status.in_([s.value for s in EXPIRING_STATUSES]), Demand.expires_at <= now)
        .order_by(Demand.expires_at, Demand.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]
