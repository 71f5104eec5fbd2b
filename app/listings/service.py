"""Listings: drafting, review workflow and operator actions (SPEC §5).

Every change writes an audit event (``entity_type="listing"``) and, when the text or the patents change,
the search document, in the caller's transaction. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import lifecycle
from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.pagecache import VersionedCache
from app.kit.pagination import Page
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI, WorkdayCalendar
from app.ledger import deposits
from app.licensing import queries as open_licences
from app.listings import chain, queries, rules, schemas
from app.listings import repository as repo
from app.models.listings import EXCLUSIVE_KINDS, Listing, ListingStatus, PricingMode, TransactionKind
from app.models.owners import ConsentSubject
from app.models.patents import LegalStatus, Patent
from app.models.trading import Auction, Bid, DepositStatus, Offer, OfferStatus, Registration
from app.negotiation.repository import end_open_offers
from app.notifications import service as notifications
from app.owners import queries as owner_queries
from app.owners import service as owners
from app.patents import service as patent_registry
from app.pledges import queries as pledges

S = ListingStatus


def _today(clock: Clock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


# --- patent rules -----------------------------------------------------------------------------------------


def _not_transferable(patent: Patent | None, owned: bool, kind: TransactionKind, today: date) -> bool:
    if patent is None or not owned or patent.preserved:
        return True
    status = patent.legal_status(today)
    allowed = (
        {LegalStatus.granted, LegalStatus.pending}
        if kind in (TransactionKind.assignment, TransactionKind.equity_contribution)
        else {LegalStatus.granted}
    )
    return status not in allowed


async def _open_license_conflicts(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Patents with a declared open licence (SPEC §13: no exclusive or sole licence listing meanwhile)."""
    return await open_licences.declared(session, patent_ids)


async def _unconsented_pledges(
    session: AsyncSession, patent_ids: Sequence[uuid.UUID], listing_id: uuid.UUID
) -> list[uuid.UUID]:
    """Patents under an active pledge whose pledgee has not consented to this listing (SPEC §14)."""
    return await pledges.unconsented(session, patent_ids, listing_id=listing_id)


async def _binding_commitments(session: AsyncSession, listing: Listing) -> list[str]:
    """What binds a listing so that the seller may no longer withdraw it (SPEC §5): held deposits, an accepted
    offer, bids. Returns a description of each, empty when nothing binds.

    """
    binding = []
    held = await session.scalar(
        select(func.count()).where(
            Registration.listing_id == listing.id, Registration.deposit_status == DepositStatus.held
        )
    )
    if held:
        binding.append(f"{held} registration(s) with a held deposit")
    if await session.scalar(
        select(func.count()).where(Offer.listing_id == listing.id, Offer.status == OfferStatus.accepted)
    ):
        binding.append("an accepted offer")
    if await session.scalar(
        select(func.count())
        .select_from(Bid)
        .join(Auction, Auction.id == Bid.auction_id)
        .where(Auction.listing_id == listing.id)
    ):
        binding.append("bids")
    return binding


async def check_patents(
    session: AsyncSession,
    *,
    seller_org_id: uuid.UUID,
    patent_ids: Sequence[uuid.UUID],
    kind: TransactionKind,
    listing_id: uuid.UUID | None,
    clock: Clock,
    at_submit: bool = False,
) -> list[Patent]:
    """Every patent rule of SPEC §5, at creation, on a change of patents, and again at submission. Submission
    holds the patents, since from then on the listing locks them (SPEC §20)."""
    patents = await repo.patents_by_id(session, patent_ids, share_lock=at_submit)
    today = _today(clock)
    # SPEC §18.5: the seller is an organization owner of each patent (not only the managing owner).
    owned = await owner_queries.owned_by(session, patent_ids, seller_org_id)
    bad = [pid for pid in patent_ids if _not_transferable(patents.get(pid), pid in owned, kind, today)]
    if bad:
        raise Conflict(
            "These patents cannot be transferred by this seller: "
            + ", ".join(map(str, bad))
            + " (must be the seller's, granted — or pending for an assignment — and not expired, lapsed,"
            " invalidated or under court preservation).",
            code="patent_not_transferable",
        )
    await owners.check_same_owners(session, patent_ids)
    taken = await queries.listed_elsewhere(session, patent_ids, listing_id)
    if taken:
        raise Conflict(
            "Already in another active assignment or exclusive/sole licence listing: "
            + ", ".join(map(str, taken)),
            code="patent_already_listed",
        )
    if kind in (TransactionKind.exclusive_license, TransactionKind.sole_license):
        declared = await _open_license_conflicts(session, patent_ids)
        if declared:
            raise Conflict(
                "An open licence is declared for: " + ", ".join(map(str, declared)),
                code="open_license_active",
            )
    if at_submit and listing_id is not None:
        pledged = await _unconsented_pledges(session, patent_ids, listing_id)
        if pledged:
            raise Conflict(
                "Pledged without the pledgee's consent to this listing: " + ", ".join(map(str, pledged)),
                code="patent_pledged",
            )
    return [patents[pid] for pid in patent_ids]


async def patent_refusals(
    session: AsyncSession,
    *,
    seller_org_id: uuid.UUID,
    patent_ids: Sequence[uuid.UUID],
    kind: TransactionKind,
    clock: Clock,
) -> dict[uuid.UUID, str]:
    """Each patent a new listing of ``kind`` by this seller could not be submitted with, alone, by the code
    ``check_patents`` would refuse it with (the seller's form greys these out). A new listing has no pledgee's
    consent yet, so any active pledge refuses it (``patent_pledged``)."""
    patents = await repo.patents_by_id(session, patent_ids)
    today = _today(clock)
    owned = await owner_queries.owned_by(session, patent_ids, seller_org_id)
    refused = {
        pid: "patent_not_transferable"
        for pid in patent_ids
        if _not_transferable(patents.get(pid), pid in owned, kind, today)
    }
    rest = [pid for pid in patent_ids if pid not in refused]
    for pid in await queries.listed_elsewhere(session, rest, None):
        refused.setdefault(pid, "patent_already_listed")
    if kind in (TransactionKind.exclusive_license, TransactionKind.sole_license):
        for pid in await _open_license_conflicts(session, rest):
            refused.setdefault(pid, "open_license_active")
    for pid in await pledges.pledged(session, rest):
        refused.setdefault(pid, "patent_pledged")
    return refused


# --- reads ------------------------------------------------------------------------------------------------


async def get_listing(session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID) -> Listing:
    listing = await queries.get_visible(session, principal, listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    return listing


async def list_listings(
    session: AsyncSession,
    principal: Principal | None,
    filters: repo.ListFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Listing], str | None]:
    return await repo.list_listings(session, principal, filters, limit=limit, cursor=cursor)


# The public reads (``GET /listings``, ``GET /listings/{id}``): the same listings as ``list_listings`` and
# ``get_listing`` with Core on a pooled read connection, no ``Listing`` objects, validated in one call.


async def read_listing(
    reader: repo.Reader, principal: Principal | None, listing_id: uuid.UUID, clock: Clock
) -> schemas.ListingOut:
    rows = await repo.brief(reader, principal, listing_id)
    if not rows:
        raise NotFound("No such listing.")
    return _LISTINGS_OUT.validate_python([_brief(rows[0], rows, _today(clock))])[0]


async def read_listings(
    reader: repo.Reader,
    principal: Principal | None,
    filters: repo.ListFilters,
    *,
    limit: int,
    cursor: str | None,
    clock: Clock,
) -> tuple[list[schemas.ListingOut], str | None]:
    page, next_cursor = await repo.listing_page(reader, principal, filters, limit=limit, cursor=cursor)
    today = _today(clock)
    return _LISTINGS_OUT.validate_python([_brief(rows[0], rows, today) for rows in page]), next_cursor


async def listings_json(
    reader: repo.Reader,
    principal: Principal | None,
    filters: repo.ListFilters,
    *,
    limit: int,
    cursor: str | None,
    clock: Clock,
    cache: VersionedCache,
) -> bytes:
    """``read_listings``' page as the JSON of ``Page[ListingOut]``, kept in ``cache`` while nothing it shows
    has changed. Full text and IPC filters read more than the version counts (the search terms, the IPC
    codes): those pages are rendered every time."""
    today = _today(clock)
    key = None
    if filters.q is None and filters.ipc is None:  # keyed by what the page is rendered from
        organization = principal.organization_id if principal is not None else None
        key = (queries.audience(principal), organization, filters, limit, cursor, today)
    version = await repo.read_version(reader) if key is not None else None
    if (body := cache.get(key, version)) is not None:
        return body
    items, next_cursor = await read_listings(
        reader, principal, filters, limit=limit, cursor=cursor, clock=clock
    )
    body = Page[schemas.ListingOut](items=items, next_cursor=next_cursor).model_dump_json().encode()
    cache.put(key, version, body)
    return body


_LISTINGS_OUT = TypeAdapter(list[schemas.ListingOut])
_COLUMNS = tuple(c.key for c in repo.LISTING_COLUMNS)
_ATTRIBUTES = attrgetter(*_COLUMNS)


def _brief(x: Listing | repo.AnyRow, details: Sequence[repo.AnyRow], today: date) -> dict[str, Any]:
    """What ``ListingOut`` validates, from a ``Listing`` or a row of ``repo.briefs`` alike, and the listing's
    rows of seller and patents: the columns it shows as they are (validation keeps the model's fields
    alone), and the rest derived here."""
    values = dict(zip(_COLUMNS, x if isinstance(x, Row) else _ATTRIBUTES(x), strict=False))
    license_terms, auction_terms = values.pop("license_terms"), values.pop("auction_terms")
    values["license"] = license_terms or None
    values["auction"] = schemas.AuctionTermsOut.public_terms(auction_terms)  # never the reserve
    values["relist_by"] = chain.relist_by(x)
    first = details[0]
    values["seller"] = {"id": values["seller_org_id"], "name": first.seller_name, "kind": first.seller_kind}
    values["patents"] = [
        {
            "id": p.patent_id,
            "application_number": p.application_number,
            "patent_number": f"ZL{p.application_number}" if p.grant_date is not None else None,
            "title": p.patent_title,
            "kind": p.patent_kind,
            # the rule reads status_override, expires_on and grant_date, which the row has
            "legal_status": Patent.legal_status(cast(Patent, p), today),
        }
        for p in details
        if p.patent_id is not None
    ]
    return values


async def present(reader: repo.Reader, listings: Sequence[Listing], clock: Clock) -> list[schemas.ListingOut]:
    """Response models for listings, with their sellers and patents read in one statement."""
    details = await repo.briefs(reader, [x.id for x in listings])
    today = _today(clock)
    return _LISTINGS_OUT.validate_python([_brief(x, details[x.id], today) for x in listings])


# --- drafting ---------------------------------------------------------------------------------------------


def _require_seller_member(principal: Principal) -> uuid.UUID:
    return principal.verified_org_id("Only members of the seller organization may do this.")


def _terms_of(values: dict[str, Any]) -> rules.Terms:
    return rules.Terms(
        transaction_kind=TransactionKind(values["transaction_kind"]),
        pricing_mode=PricingMode(values["pricing_mode"]),
        price=values.get("price"),
        deposit=values.get("deposit"),
        license=values.get("license"),
        auction=values.get("auction"),
    )


def _stored_terms(values: dict[str, Any]) -> dict[str, Any]:
    """Model columns from validated request values (defaults of SPEC §5 filled in)."""
    return {
        "license_terms": values.get("license"),
        "auction_terms": rules.auction_defaults(values.get("auction")),
    }


def _audit_view(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail records of the terms: everything but the auction settings (the reserve price is
    never exposed, not even to the parties reading the trail)."""
    return {k: v for k, v in values.items() if k != "auction"}


async def create_listing(
    session: AsyncSession, principal: Principal, data: schemas.ListingCreate, clock: Clock
) -> Listing:
    seller_org_id = _require_seller_member(principal)
    values = data.model_dump(mode="python")
    rules.validate_terms(_terms_of(values), created_at=clock.now())
    patents = await check_patents(
        session,
        seller_org_id=seller_org_id,
        patent_ids=data.patent_ids,
        kind=data.transaction_kind,
        listing_id=None,
        clock=clock,
    )
    now = clock.now()
    listing = Listing(
        id=uuid.uuid4(),
        seller_org_id=seller_org_id,
        title=data.title,
        summary=data.summary,
        transaction_kind=data.transaction_kind,
        pricing_mode=data.pricing_mode,
        price=data.price,
        deposit=data.deposit,
        listing_days=data.listing_days,
        extension_days=data.extension_days,
        max_extensions=data.max_extensions,
        min_bidders_for_auction=data.min_bidders_for_auction,
        requires_qualification_review=data.requires_qualification_review,
        status=S.draft,
        extensions_used=0,
        version=1,
        created_at=now,
        updated_at=now,
        **_stored_terms(values),
    )
    session.add(listing)
    await session.flush()
    await repo.set_patents(session, listing.id, data.patent_ids)
    await repo.write_search_document(session, listing, patents)
    await record(
        session,
        entity_type="listing",
        entity_id=listing.id,
        action="created",
        actor=principal.label,
        at=now,
        data={**_audit_view(values), "status": S.draft},
    )
    return listing


_COLUMN_OF = {"license": "license_terms", "auction": "auction_terms"}


async def _load_for_seller(session: AsyncSession, principal: Principal, listing_id: uuid.UUID) -> Listing:
    """The listing locked for a seller action: 404 if the caller may not see it, 403 if not the seller."""
    listing = await queries.get_visible(session, principal, listing_id, for_update=True)
    if listing is None:
        raise NotFound("No such listing.")
    if principal.is_operator or principal.organization_id != listing.seller_org_id:
        raise Forbidden("Only the seller may do this.")
    return listing


async def _load_for_operator(session: AsyncSession, principal: Principal, listing_id: uuid.UUID) -> Listing:
    if not principal.is_operator:
        raise Forbidden("Only exchange operators may do this.")
    listing = await queries.get_visible(session, principal, listing_id, for_update=True)
    if listing is None:
        raise NotFound("No such listing.")
    return listing


async def update_listing(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    data: schemas.ListingUpdate,
    clock: Clock,
) -> Listing:
    """PATCH, only in ``draft`` (SPEC §5). The merged terms are validated as a whole."""
    listing = await _load_for_seller(session, principal, listing_id)
    _require_seller_member(principal)
    if listing.status != S.draft:
        raise InvalidState("Only a draft can be changed.")
    changes = data.model_dump(mode="python", exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None and k not in schemas.NULLABLE_FIELDS]
    if nulls:
        raise Unprocessable(
            "These fields cannot be null.",
            errors=[{"loc": ["body", k], "msg": "may not be null"} for k in nulls],
        )
    current = {
        "transaction_kind": listing.transaction_kind,
        "pricing_mode": listing.pricing_mode,
        "price": listing.price,
        "deposit": listing.deposit,
        "license": listing.license_terms,
        "auction": listing.auction_terms,
    }
    merged = {**current, **changes}
    rules.validate_terms(_terms_of(merged), created_at=listing.created_at)
    patent_ids = changes.get("patent_ids") or await repo.patent_ids_of(session, listing.id)
    await chain.check_relisted_draft(
        session,
        listing,
        price=merged["price"],
        transaction_kind=TransactionKind(merged["transaction_kind"]),
        patent_ids=patent_ids,
    )
    patents = await check_patents(
        session,
        seller_org_id=listing.seller_org_id,
        patent_ids=patent_ids,
        kind=TransactionKind(merged["transaction_kind"]),
        listing_id=listing.id,
        clock=clock,
    )
    for key, value in changes.items():
        if key == "patent_ids":
            continue
        if key == "auction":
            value = rules.auction_defaults(value)
        setattr(listing, _COLUMN_OF.get(key, key), value)
    listing.updated_at = clock.now()
    listing.version += 1
    if "patent_ids" in changes:
        await repo.set_patents(session, listing.id, patent_ids)
    await repo.write_search_document(session, listing, patents)
    await record(
        session,
        entity_type="listing",
        entity_id=listing.id,
        action="updated",
        actor=principal.label,
        at=listing.updated_at,
        data=_audit_view(changes),
    )
    return listing


# --- transitions --------------------------------------------------------------------------------------------


def status_change_data(
    previous: ListingStatus, target: ListingStatus, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The data of a listing's status-change audit event (``set_status``, and a batch of closing auctions)."""
    return {"from": previous, "status": target, **(data or {})}


async def set_status(
    session: AsyncSession,
    listing: Listing,
    target: ListingStatus,
    *,
    actor: str,
    action: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> Listing:
    """The one place a listing's status changes — the review workflow here and the trading rules (auctions,
    deals, deadlines) alike: the transition table's guard, then the audit event and the notifications, in the
    caller's transaction.
    A listing that is withdrawn or terminated takes its open offers and its auction (scheduled or open,
    SPEC §20) with it."""
    rules.check_transition(listing.status, target)
    previous = listing.status
    listing.status, listing.updated_at = target, at
    if target in rules.RELISTABLE:
        listing.ended_at = at  # the relisting window runs from here (SPEC §17.3)
    listing.version += 1
    await session.flush()
    if target in (S.withdrawn, S.terminated):
        # Nothing can be agreed or bid on a listing that is gone.
        if listing.auction_id is not None:
            await lifecycle.cancel(session, listing.auction_id, at=at, actor=actor)
        for offer_id in await end_open_offers(session, listing.id, OfferStatus.closed, at=at):
            await record(
                session,
                entity_type="offer",
                entity_id=offer_id,
                action="closed",
                actor=actor,
                at=at,
                data={"status": OfferStatus.closed, "reason": f"listing {target}"},
            )
    await record(
        session,
        entity_type="listing",
        entity_id=listing.id,
        action=action,
        actor=actor,
        at=at,
        data=status_change_data(previous, target, data),
    )
    # Watchers are told of every change; the first publication is announced to saved searches (SPEC §17.4).
    await notifications.listing_status_changed(session, listing, at=at)
    if previous == S.pending_review and target == S.published:
        await notifications.listing_published(session, listing, at=at)
    return listing


async def submit_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, clock: Clock
) -> Listing:
    """draft → pending_review, re-checking every rule (terms and patents, pledges included)."""
    listing = await _load_for_seller(session, principal, listing_id)
    _require_seller_member(principal)
    rules.check_transition(listing.status, S.pending_review)
    rules.validate_terms(
        rules.Terms(
            transaction_kind=listing.transaction_kind,
            pricing_mode=listing.pricing_mode,
            price=listing.price,
            deposit=listing.deposit,
            license=listing.license_terms,
            auction=listing.auction_terms,
        )
    )
    patent_ids = await repo.patent_ids_of(session, listing.id)
    await chain.check_relisted_draft(
        session,
        listing,
        price=listing.price,
        transaction_kind=listing.transaction_kind,
        patent_ids=patent_ids,
    )
    await check_patents(
        session,
        seller_org_id=listing.seller_org_id,
        patent_ids=patent_ids,
        kind=listing.transaction_kind,
        listing_id=listing.id,
        clock=clock,
        at_submit=True,
    )
    await owners.require_consents(  # SPEC §18.5: every co-owner's, then every use right's consent
        session,
        subject_type=ConsentSubject.listing,
        subject_id=listing.id,
        patent_ids=patent_ids,
        restricted=listing.transaction_kind in EXCLUSIVE_KINDS,
        acting_org_id=listing.seller_org_id,
        today=_today(clock),
    )
    listing.rejection_reason = None
    return await set_status(
        session, listing, S.pending_review, actor=principal.label, action="submitted", at=clock.now()
    )


async def approve_listing(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    clock: Clock,
    calendar: WorkdayCalendar,
) -> Listing:
    """pending_review → published; the listing period runs ``listing_days`` working days from now. An
    auction-mode listing gets its ``scheduled`` auction (SPEC §5), which opens when the period ends."""
    listing = await _load_for_operator(session, principal, listing_id)
    rules.check_transition(listing.status, S.published)
    now = clock.now()
    listing.published_at = now
    listing.listing_ends_at = rules.listing_ends_at(now, listing.listing_days, calendar)
    if listing.pricing_mode == PricingMode.auction:
        await lifecycle.schedule_for_listing(session, listing, at=now, actor=principal.label)
    return await set_status(
        session,
        listing,
        S.published,
        actor=principal.label,
        action="approved",
        at=now,
        data={
            "published_at": now,
            "listing_ends_at": listing.listing_ends_at,
            # what was published (the deal's dossier cites this event: SPEC §18.7)
            "pricing_mode": listing.pricing_mode,
            "transaction_kind": listing.transaction_kind,
            "price": listing.price,
        },
    )


async def reject_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, reason: str, clock: Clock
) -> Listing:
    listing = await _load_for_operator(session, principal, listing_id)
    rules.check_transition(listing.status, S.draft)
    listing.rejection_reason = reason
    return await set_status(
        session,
        listing,
        S.draft,
        actor=principal.label,
        action="rejected",
        at=clock.now(),
        data={"reason": reason},
    )


async def withdraw_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, clock: Clock
) -> Listing:
    """Seller withdraws, only while nothing binds the listing (SPEC §5) → 409 ``invalid_state`` otherwise. Its
    scheduled auction is cancelled (``set_status``, SPEC §20)."""
    listing = await _load_for_seller(session, principal, listing_id)
    rules.check_transition(listing.status, S.withdrawn)
    binding = await _binding_commitments(session, listing)
    if binding:
        raise InvalidState("The listing cannot be withdrawn: " + "; ".join(binding) + ".")
    return await set_status(
        session, listing, S.withdrawn, actor=principal.label, action="withdrawn", at=clock.now()
    )


async def suspend_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, reason: str, clock: Clock
) -> Listing:
    listing = await _load_for_operator(session, principal, listing_id)
    rules.check_transition(listing.status, S.suspended)
    listing.suspended_at, listing.status_reason = clock.now(), reason
    return await set_status(
        session,
        listing,
        S.suspended,
        actor=principal.label,
        action="suspended",
        at=clock.now(),
        data={"reason": reason},
    )


async def resume_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, clock: Clock
) -> Listing:
    """suspended → published, the listing period moved later by the time spent suspended (SPEC §5)."""
    listing = await _load_for_operator(session, principal, listing_id)
    rules.check_transition(listing.status, S.published)
    now = clock.now()
    suspended_at = listing.suspended_at or now
    listing.listing_ends_at = rules.resumed_ends_at(listing.listing_ends_at, suspended_at, now)
    listing.suspended_at, listing.status_reason = None, None
    return await set_status(
        session,
        listing,
        S.published,
        actor=principal.label,
        action="resumed",
        at=clock.now(),
        data={"listing_ends_at": listing.listing_ends_at},
    )


async def terminate_listing(
    session: AsyncSession, principal: Principal, listing_id: uuid.UUID, reason: str, clock: Clock
) -> Listing:
    """→ terminated: held deposits are refunded and its auction, scheduled or open, is cancelled (``set_status``),
    in this transaction."""
    listing = await _load_for_operator(session, principal, listing_id)
    rules.check_transition(listing.status, S.terminated)
    listing.status_reason = reason
    now = clock.now()
    for registration in (
        await session.scalars(
            select(Registration)
            .where(Registration.listing_id == listing.id, Registration.deposit_status == DepositStatus.held)
            .order_by(Registration.organization_id, Registration.id)  # one order everywhere: no deadlocks
            .with_for_update()
        )
    ).all():
        await deposits.refund(session, registration, at=now, actor=principal.label)
    return await set_status(
        session,
        listing,
        S.terminated,
        actor=principal.label,
        action="terminated",
        at=clock.now(),
        data={"reason": reason},
    )


async def extend_or_expire(
    session: AsyncSession, listing: Listing, *, at: datetime, calendar: WorkdayCalendar, actor: str
) -> bool:
    """A listing period ended without a buyer (SPEC §9, §5): extend it by ``extension_days`` working days while
    extensions remain, else it is ``expired``. Returns True when extended. ``at`` is the period's end."""
    if listing.extensions_used < listing.max_extensions:
        listing.extensions_used += 1
        listing.listing_ends_at = rules.listing_ends_at(at, listing.extension_days, calendar)
        listing.updated_at = at
        listing.version += 1
        await session.flush()
        await record(
            session,
            entity_type="listing",
            entity_id=listing.id,
            action="extended",
            actor=actor,
            at=at,
            data={"extensions_used": listing.extensions_used, "listing_ends_at": listing.listing_ends_at},
        )
        return True
    await set_status(session, listing, S.expired, actor=actor, action="expired", at=at)
    return False


@patent_registry.on_text_change
async def refresh_search_documents(session: AsyncSession, patent_ids: Sequence[uuid.UUID]) -> None:
    """Rebuild the search rows of the listings offering these patents, whose titles or abstracts changed (only
    a patent its owner may edit changes: its listings are drafts or have ended, SPEC §20)."""
    listing_ids = await repo.listings_of_patents(session, patent_ids)
    patents = await repo.patents_of(session, listing_ids)
    for listing_id in listing_ids:
        listing = await session.get(Listing, listing_id)
        if listing is not None:
            await repo.write_search_document(session, listing, patents[listing_id])
