"""The operators' CSV exports (SPEC §18.7): every deal, every patent, as streams of CSV text.

A stream reads one page at a time, each in a short read session of its own (DESIGN.md: never hold a session
for the life of a stream), in keyset order (creation time, then id), so an export has no row limit and holds
no more than a page in memory. Only what the columns name is read: no ID number, reserve price or sealed bid
is ever in a row.

``co_owners`` lists ``name:share`` of every owner once co-owners are recorded (SPEC §18.5; names and shares
only, never an ID number), empty for a sole owner; ``cash_price`` is the deal's (0 for an equity contribution).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.calendar.rules import day_range
from app.exports import rules
from app.kit.db import Database
from app.models.accounts import Organization
from app.models.listings import Listing, ListingPatent
from app.models.patents import LegalStatus, Patent
from app.models.policy import OpenLicense, OpenLicenseGrant
from app.models.trading import Deal
from app.models.trials import Trial
from app.owners import queries as owner_queries
from app.owners.rules import format_percent
from app.patents import service as patents
from app.patents.rules import patent_number
from app.techcontracts import rules as techcontracts_rules
from app.techcontracts import service as techcontracts

PAGE_SIZE = 500  # rows read per page of a stream

Key = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)
class DealFilters:
    start: date | None = None  # Shanghai days of creation, inclusive
    end: date | None = None
    status: str | None = None
    seller_org_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PatentFilters:
    owner_org_id: uuid.UUID | None = None
    legal_status: LegalStatus | None = None


def _after(query: Any, created_at: Any, id_column: Any, after: Key | None) -> Any:
    """The page of ``query`` after the key ``after`` in (creation time, id) order."""
    query = query.order_by(created_at, id_column).limit(PAGE_SIZE)
    if after is None:
        return query
    at, last_id = after
    return query.where(or_(created_at > at, and_(created_at == at, id_column > last_id)))


async def _stream(db: Database, head: str, page: Any, *args: Any) -> AsyncIterator[str]:
    """The byte order mark and header with the first page, then page after page until one comes back short.
    The first chunk is read before anything is sent (``app.exports.router``), so a database that cannot be
    reached is still a 503, not a cut stream."""
    after: Key | None = None
    chunk = head
    while True:
        async with db.read() as session:
            lines, after = await page(session, *args, after)
        yield chunk + rules.rows(lines)
        chunk = ""
        if after is None:
            return


# --- deals ---------------------------------------------------------------------------------------------------


def stream_deals(db: Database, filters: DealFilters) -> AsyncIterator[str]:
    return _stream(db, rules.head(rules.DEALS_COLUMNS), deals_page, filters)


async def deals_page(
    session: AsyncSession, filters: DealFilters, after: Key | None
) -> tuple[list[list[str]], Key | None]:
    """One page of deal rows after ``after``, and the key to read the next page from (None: the last page).
    ``status=settled`` takes completed deals too (SPEC §18.1: completed counts as settled)."""
    seller, buyer = aliased(Organization), aliased(Organization)
    query = (
        select(
            Deal,
            Listing.title,
            Listing.pricing_mode,
            seller.name,
            seller.credit_code,
            buyer.name,
            buyer.credit_code,
        )
        .outerjoin(Listing, Listing.id == Deal.listing_id)
        .join(seller, seller.id == Deal.seller_org_id)
        .join(buyer, buyer.id == Deal.buyer_org_id)
    )
    low, high = day_range(filters.start, filters.end)
    if low is not None:
        query = query.where(Deal.created_at >= low)
    if high is not None:
        query = query.where(Deal.created_at < high)
    if filters.status == "settled":
        query = query.where(Deal.status.in_(techcontracts_rules.SETTLED_DEAL_STATUSES))
    elif filters.status is not None:
        query = query.where(Deal.status == filters.status)
    if filters.seller_org_id is not None:
        query = query.where(Deal.seller_org_id == filters.seller_org_id)
    found = (await session.execute(_after(query, Deal.created_at, Deal.id, after))).all()
    deals: list[Deal] = [r[0] for r in found]
    numbers = await _patent_numbers(session, deals)
    registered = await techcontracts.registered_numbers(session, [d.id for d in deals])
    lines = []
    for deal, title, pricing_mode, seller_name, seller_code, buyer_name, buyer_code in found:
        lines.append(
            [
                str(deal.id),
                rules.text(deal.certificate_number),
                str(deal.status),
                str(deal.transaction_kind),
                str(pricing_mode or deal.source),
                str(deal.source),
                rules.text(title),
                seller_name,
                seller_code,
                buyer_name,
                buyer_code,
                rules.joined(numbers.get(deal.id, [])),
                rules.money(deal.price),
                rules.money(deal.cash_price),
                rules.money(deal.buyer_fee),
                rules.money(deal.seller_fee),
                rules.instant(deal.created_at),
                rules.instant(deal.settled_at),
                registered.get(deal.id, ""),
            ]
        )
    last = (deals[-1].created_at, deals[-1].id) if len(deals) == PAGE_SIZE else None
    return lines, last


async def _patent_numbers(session: AsyncSession, deals: Sequence[Deal]) -> dict[uuid.UUID, list[str]]:
    """Each deal's patents in the listing's order (an open licence's or a trial's deal: its one patent), cited by patent
    number once granted, else by application number (as the contracts cite them)."""
    result: dict[uuid.UUID, list[str]] = defaultdict(list)
    by_listing: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for deal in deals:
        if deal.listing_id is not None:
            by_listing[deal.listing_id].append(deal.id)
    if by_listing:
        rows = await session.execute(
            select(ListingPatent.listing_id, Patent.application_number, Patent.grant_date)
            .join(Patent, Patent.id == ListingPatent.patent_id)
            .where(ListingPatent.listing_id.in_(list(by_listing)))
            .order_by(ListingPatent.listing_id, ListingPatent.position, Patent.application_number)
        )
        for listing_id, number, granted in rows.all():
            for deal_id in by_listing[listing_id]:
                result[deal_id].append(patent_number(number, granted) or number)
    unlisted = [d.id for d in deals if d.listing_id is None]
    if unlisted:
        rows = await session.execute(
            select(OpenLicenseGrant.deal_id, Patent.application_number, Patent.grant_date)
            .join(OpenLicense, OpenLicense.id == OpenLicenseGrant.open_license_id)
            .join(Patent, Patent.id == OpenLicense.patent_id)
            .where(OpenLicenseGrant.deal_id.in_(unlisted))
        )
        for deal_id, number, granted in rows.all():
            result[deal_id].append(patent_number(number, granted) or number)
        rows = await session.execute(  # a trial's conversion deal (SPEC §18.3): the trial's patent
            select(Deal.id, Patent.application_number, Patent.grant_date)
            .join(Trial, Trial.id == Deal.trial_id)
            .join(Patent, Patent.id == Trial.patent_id)
            .where(Deal.id.in_(unlisted))
        )
        for deal_id, number, granted in rows.all():
            result[deal_id].append(patent_number(number, granted) or number)
    return result


# --- patents -------------------------------------------------------------------------------------------------


def _co_owners(owners: Sequence[owner_queries.Owner]) -> str:
    """``name:share;…`` of a co-owned patent's owners (SPEC §18.7), empty for a sole owner."""
    if len(owners) < 2:
        return ""
    return rules.joined(f"{o.name}:{format_percent(o.share_bp)}" for o in owners)


def stream_patents(db: Database, filters: PatentFilters, today: date) -> AsyncIterator[str]:
    return _stream(db, rules.head(rules.PATENTS_COLUMNS), patents_page, filters, today)


async def patents_page(
    session: AsyncSession, filters: PatentFilters, today: date, after: Key | None
) -> tuple[list[list[str]], Key | None]:
    """One page of patent rows after ``after`` (legal status as of ``today``, a Shanghai day)."""
    query = select(Patent, Organization.name, Organization.credit_code).join(
        Organization, Organization.id == Patent.owner_org_id
    )
    if filters.owner_org_id is not None:
        query = query.where(owner_queries.org_owner(filters.owner_org_id))
    if filters.legal_status is not None:
        query = query.where(patents.legal_status_clause(filters.legal_status, today))
    found = (await session.execute(_after(query, Patent.created_at, Patent.id, after))).all()
    ids = [r[0].id for r in found]
    pledged = await patents.is_pledged(session, ids)
    open_licences = await _open_licence_status(session, ids)
    owners = await owner_queries.owners_of(session, ids)
    lines = []
    for patent, owner_name, owner_code in found:
        lines.append(
            [
                str(patent.id),
                patent.application_number,
                rules.text(patent_number(patent.application_number, patent.grant_date)),
                str(patent.kind),
                patent.title,
                owner_name,
                owner_code,
                _co_owners(owners.get(patent.id, [])),
                str(patent.legal_status(today)),
                rules.day(patent.filing_date),
                rules.day(patent.grant_date),
                rules.day(patent.expires_on),
                rules.boolean(patent.id in pledged),
                rules.boolean(patent.preserved),
                open_licences.get(patent.id, ""),
                rules.joined(patent.ipc_codes),
                rules.joined(patent.inventors),
            ]
        )
    last = (found[-1][0].created_at, found[-1][0].id) if len(found) == PAGE_SIZE else None
    return lines, last


async def _open_licence_status(session: AsyncSession, patent_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The status of each patent's latest open-licence declaration (a live one is always the latest: a patent
    has one at a time)."""
    if not patent_ids:
        return {}
    rows = await session.execute(
        select(OpenLicense.patent_id, OpenLicense.status)
        .where(OpenLicense.patent_id.in_(patent_ids))
        .order_by(OpenLicense.created_at, OpenLicense.id)
    )
    return {patent_id: str(status) for patent_id, status in rows.all()}
