"""What the operator's desks read (SPEC §19.4): the review queue, recent bank payments and deals for
settlement. Every list keeps the rows whose id, name, credit code, title, bank reference or certificate number
contains ``?q=`` (case-insensitively), and is paged by keyset 50 rows at a time (``app.kit.pagination``: a
cursor that is not the list's is 422 ``invalid_cursor``). Reads only: every action goes through the service the
API's route calls."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, false, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of, uuid_key
from app.kit.types import UTCDateTime
from app.models.accounts import Organization, OrgStatus
from app.models.contracts import Objection, ObjectionStatus
from app.models.ledger import EntryKind, JournalEntry
from app.models.listings import Listing, ListingStatus
from app.models.trading import Deal, DealStatus, Registration, RegistrationStatus

PAGE_ROWS = 50
MAX_QUERY = 100
_HEX = re.compile(r"[0-9a-f]+")


def _matches(q: str, id_column: Any, *texts: Any) -> ColumnElement[bool]:
    """``q`` within the id (either UUID spelling: with or without dashes) or within one of the texts."""
    needle = q.lower()
    clauses: list[ColumnElement[bool]] = [
        func.lower(column).contains(needle, autoescape=True) for column in texts
    ]
    digits = needle.replace("-", "")
    if digits and _HEX.fullmatch(digits):
        spelled = func.replace(func.lower(cast(id_column, String)), "-", "")
        clauses.append(spelled.contains(digits, autoescape=True))
    return or_(*clauses) if clauses else false()


# --- the review queue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One row of the queue: what waits (``organization``, ``listing``, ``registration``, ``objection``)
    since when, and what its row shows."""

    kind: str
    id: uuid.UUID
    at: datetime
    row: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _oldest_first(model: Any) -> list[SortKey]:
    return [datetime_key(model.created_at), uuid_key(model.id)]


async def review_queue(
    session: AsyncSession, *, q: str | None, cursor: str | None, limit: int | None = None
) -> tuple[list[QueueItem], str | None]:
    """Organizations ``pending``, listings ``pending_review``, registrations ``pending_review`` and
    objections ``pending``, in one order, oldest first (by creation, then id): the same cursor pages all
    four, so a page is the next ``limit`` waiting things whatever their kind."""
    limit = limit or PAGE_ROWS  # read when called: a test may page by fewer
    items: list[QueueItem] = []

    orgs = select(Organization).where(Organization.status == OrgStatus.pending)
    if q:
        orgs = orgs.where(_matches(q, Organization.id, Organization.name, Organization.credit_code))
    for org in (
        await session.scalars(keyset_query(orgs, _oldest_first(Organization), cursor).limit(limit + 1))
    ).all():
        items.append(QueueItem("organization", org.id, org.created_at, org))

    seller = aliased(Organization)
    listings: Any = (
        select(Listing, seller.name, seller.credit_code)
        .join(seller, seller.id == Listing.seller_org_id)
        .where(Listing.status == ListingStatus.pending_review)
    )
    if q:
        listings = listings.where(_matches(q, Listing.id, Listing.title, seller.name, seller.credit_code))
    listing_rows = await session.execute(
        keyset_query(listings, _oldest_first(Listing), cursor).limit(limit + 1)
    )
    for listing, name, code in listing_rows.all():
        items.append(
            QueueItem(
                "listing", listing.id, listing.created_at, listing, {"seller": name, "credit_code": code}
            )
        )

    registrant = aliased(Organization)
    registrations: Any = (
        select(Registration, Listing.title, Listing.id, registrant.name, registrant.credit_code)
        .join(Listing, Listing.id == Registration.listing_id)
        .join(registrant, registrant.id == Registration.organization_id)
        .where(Registration.status == RegistrationStatus.pending_review)
    )
    if q:
        registrations = registrations.where(
            _matches(q, Registration.id, Listing.title, registrant.name, registrant.credit_code)
        )
    registration_rows = await session.execute(
        keyset_query(registrations, _oldest_first(Registration), cursor).limit(limit + 1)
    )
    for registration, title, listing_id, name, code in registration_rows.all():
        items.append(
            QueueItem(
                "registration",
                registration.id,
                registration.created_at,
                registration,
                {"title": title, "listing_id": listing_id, "organization": name, "credit_code": code},
            )
        )

    objector = aliased(Organization)
    objections: Any = (
        select(Objection, Deal.listing_id, Listing.title, Deal.price, objector.name, objector.credit_code)
        .join(Deal, Deal.id == Objection.deal_id)
        .outerjoin(Listing, Listing.id == Deal.listing_id)
        .join(objector, objector.id == Objection.organization_id)
        .where(Objection.status == ObjectionStatus.pending)
    )
    if q:
        objections = objections.where(
            _matches(q, Objection.id, Listing.title, objector.name, objector.credit_code)
        )
    objection_rows = await session.execute(
        keyset_query(objections, _oldest_first(Objection), cursor).limit(limit + 1)
    )
    for objection, listing_id, title, price, name, code in objection_rows.all():
        items.append(
            QueueItem(
                "objection",
                objection.id,
                objection.created_at,
                objection,
                {
                    "listing_id": listing_id,
                    "title": title,
                    "price": price,
                    "organization": name,
                    "credit_code": code,
                },
            )
        )

    items.sort(key=lambda item: (item.at, item.id))
    return page_of(items[: limit + 1], limit, lambda item: (item.at, item.id))


# --- bank payments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRow:
    entry: JournalEntry
    organization: str | None
    credit_code: str | None


async def recent_payments(
    session: AsyncSession, *, q: str | None, cursor: str | None, limit: int | None = None
) -> tuple[list[PaymentRow], str | None]:
    """Bank transfers recorded (``POST /ledger/payments``), newest first."""
    limit = limit or PAGE_ROWS  # read when called: a test may page by fewer
    payer = aliased(Organization)
    query: Any = (
        select(JournalEntry, payer.name, payer.credit_code)
        .outerjoin(payer, payer.id == JournalEntry.organization_id)
        .where(JournalEntry.kind == EntryKind.bank_payment)
    )
    if q:
        query = query.where(
            _matches(q, JournalEntry.id, JournalEntry.reference, payer.name, payer.credit_code)
        )
    keys = [datetime_key(JournalEntry.at, descending=True), uuid_key(JournalEntry.id, descending=True)]
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    found = [PaymentRow(entry, name, code) for entry, name, code in rows]
    return page_of(found, limit, lambda p: (p.entry.at, p.entry.id))


async def organizations_named(session: AsyncSession, text: str) -> list[Organization]:
    """The organizations a payment form names: by unified social credit code (any letter case), else by
    exact name (several organizations may share one: then every one, so the form can ask for the code)."""
    wanted = text.strip()
    by_code = await session.scalar(select(Organization).where(Organization.credit_code == wanted.upper()))
    if by_code is not None:
        return [by_code]
    named = await session.scalars(
        select(Organization).where(Organization.name == wanted).order_by(Organization.created_at).limit(5)
    )
    return list(named.all())


# --- deals ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealRow:
    deal: Deal
    title: str | None
    buyer: str
    seller: str


# ``paid`` deals first, most recently paid first; then the others, most recently changed first.
_PAID_FIRST = case((Deal.status == DealStatus.paid, 0), else_=1)
_MOMENT = type_coerce(
    case(
        (Deal.status == DealStatus.paid, func.coalesce(Deal.paid_at, Deal.updated_at)),
        else_=Deal.updated_at,
    ),
    UTCDateTime(),
)


def _deal_keys(deal: Deal) -> tuple[int, datetime, uuid.UUID]:
    if deal.status == DealStatus.paid:
        return 0, deal.paid_at or deal.updated_at, deal.id
    return 1, deal.updated_at, deal.id


async def deals_for_settlement(
    session: AsyncSession,
    *,
    status: DealStatus | None,
    q: str | None,
    cursor: str | None,
    limit: int | None = None,
) -> tuple[list[DealRow], str | None]:
    limit = limit or PAGE_ROWS  # read when called: a test may page by fewer
    buyer, seller = aliased(Organization), aliased(Organization)
    query: Any = (
        select(Deal, Listing.title, buyer.name, seller.name)
        .outerjoin(Listing, Listing.id == Deal.listing_id)
        .join(buyer, buyer.id == Deal.buyer_org_id)
        .join(seller, seller.id == Deal.seller_org_id)
    )
    if status is not None:
        query = query.where(Deal.status == status)
    if q:
        query = query.where(
            _matches(
                q,
                Deal.id,
                Listing.title,
                Deal.certificate_number,
                buyer.name,
                buyer.credit_code,
                seller.name,
                seller.credit_code,
            )
        )
    keys = [SortKey(_PAID_FIRST, int), SortKey(_MOMENT, datetime, True), uuid_key(Deal.id, descending=True)]
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    found = [DealRow(deal, title, b, s) for deal, title, b, s in rows]
    return page_of(found, limit, lambda r: _deal_keys(r.deal))
