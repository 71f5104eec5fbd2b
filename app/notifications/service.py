"""Watchlists, saved searches, the inbox, and the notifications other domains send (SPEC §17.4).

Everything here belongs to the caller's organization: its members share one watchlist, its saved searches, one
inbox and its read state. Operators have none (403 ``forbidden``); another organization's item is 404. None of
it is audited (§17.6: watchlists, saved searches and read state are not).

The other domains call the functions of the second half in the transaction of the change they report (an
outbox, ``app.notifications.outbox.notify``), with the business time of the change: a refused or rolled-back
request leaves no notification. Their ``data`` is JSON: ids and instants as the API writes them, amounts as
two-decimal yuan strings, dates as ``YYYY-MM-DD``. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import Clock
from app.kit.errors import Forbidden, NotFound, Unprocessable
from app.kit.money import format_fen
from app.kit.pagination import datetime_key, keyset_query, page_of, uuid_key
from app.kit.security import Principal
from app.listings import queries as listing_queries
from app.listings import repository as listings
from app.models.contracts import Objection
from app.models.listings import Listing, PricingMode, TransactionKind
from app.models.notifications import Notification, SavedSearch, SavedSearchMatch, Watch
from app.models.trading import Deal, Offer
from app.notifications import schemas
from app.notifications.kinds import KINDS
from app.notifications.outbox import notify


def _organization(principal: Principal) -> uuid.UUID:
    """The caller's organization; operators (and anyone without one) → 403 ``forbidden``."""
    if principal.is_operator or principal.organization_id is None:
        raise Forbidden(
            "Watchlists, saved searches and notifications belong to organizations; operators have none."
        )
    return principal.organization_id


# --- watchlist ----------------------------------------------------------------------------------------------


async def is_watching(session: AsyncSession, principal: Principal, listing_id: uuid.UUID) -> bool:
    org = _organization(principal)
    return await session.get(Watch, (org, listing_id)) is not None


async def watch(session: AsyncSession, principal: Principal, listing_id: uuid.UUID, clock: Clock) -> Watch:
    """Put a listing the caller may see on its organization's watchlist (404 for one it may not see); a listing
    already there stays as it was."""
    org = _organization(principal)
    if await listing_queries.get_visible(session, principal, listing_id) is None:
        raise NotFound("No such listing.")
    existing = await session.get(Watch, (org, listing_id))
    if existing is not None:
        return existing
    row = Watch(organization_id=org, listing_id=listing_id, created_at=clock.now())
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # a member of the same organization watched it at the same moment
        found = await session.get(Watch, (org, listing_id), populate_existing=True)
        assert found is not None
        return found
    return row


async def unwatch(session: AsyncSession, principal: Principal, listing_id: uuid.UUID) -> None:
    """Take a listing off the watchlist, watched or not."""
    org = _organization(principal)
    await session.execute(delete(Watch).where(Watch.organization_id == org, Watch.listing_id == listing_id))


async def watchlist(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[tuple[Watch, Listing]], str | None]:
    """The organization's watched listings that it may still see, most recently watched first."""
    org = _organization(principal)
    query: Any = (
        select(Watch, Listing)
        .join(Listing, Listing.id == Watch.listing_id)
        .where(Watch.organization_id == org)
    )
    visible = listing_queries.visible_to(principal)
    if visible is not None:
        query = query.where(visible)
    keys = [datetime_key(Watch.created_at, descending=True), uuid_key(Watch.listing_id, descending=True)]
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: (r[0].created_at, r[0].listing_id))
    return [(r[0], r[1]) for r in items], next_cursor


# --- saved searches -----------------------------------------------------------------------------------------


async def create_saved_search(
    session: AsyncSession, principal: Principal, data: schemas.SavedSearchCreate, clock: Clock
) -> SavedSearch:
    org = _organization(principal)
    row = SavedSearch(
        id=uuid.uuid4(),
        organization_id=org,
        name=data.name,
        q=data.q,
        pricing_mode=data.pricing_mode,
        transaction_kind=data.transaction_kind,
        ipc=data.ipc,
        min_price=data.min_price,
        max_price=data.max_price,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def saved_searches(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[SavedSearch], str | None]:
    org = _organization(principal)
    keys = [datetime_key(SavedSearch.created_at, descending=True), uuid_key(SavedSearch.id, descending=True)]
    query = select(SavedSearch).where(SavedSearch.organization_id == org)
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda s: (s.created_at, s.id))


async def delete_saved_search(
    session: AsyncSession, principal: Principal, saved_search_id: uuid.UUID
) -> None:
    """404 unless it is one of the organization's saved searches."""
    org = _organization(principal)
    found = await session.scalar(
        select(SavedSearch.id).where(SavedSearch.id == saved_search_id, SavedSearch.organization_id == org)
    )
    if found is None:
        raise NotFound("No such saved search.")
    await session.execute(delete(SavedSearchMatch).where(SavedSearchMatch.saved_search_id == saved_search_id))
    await session.execute(delete(SavedSearch).where(SavedSearch.id == saved_search_id))


# --- inbox --------------------------------------------------------------------------------------------------


def check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise Unprocessable(
            "Unknown notification kind.",
            errors=[{"loc": ["query", "kind"], "msg": "one of " + ", ".join(KINDS)}],
        )


async def inbox(
    session: AsyncSession,
    principal: Principal,
    *,
    unread: bool | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Notification], str | None, int]:
    """The organization's notifications newest first (``unread``: only unread ones, or with ``false`` only read
    ones; ``kind``: of that kind), and how many of its notifications (of ``kind``) are unread."""
    org = _organization(principal)
    check_kind(kind)
    mine: list[Any] = [Notification.organization_id == org]
    if kind is not None:
        mine.append(Notification.kind == kind)
    query = select(Notification).where(*mine)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    keys = [
        datetime_key(Notification.created_at, descending=True),
        uuid_key(Notification.id, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda n: (n.created_at, n.id))
    unread_count = await session.scalar(
        select(func.count()).select_from(Notification).where(*mine, Notification.read_at.is_(None))
    )
    return items, next_cursor, int(unread_count or 0)


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID, clock: Clock
) -> Notification:
    """Mark one of the organization's notifications read; the first ``read_at`` is kept."""
    org = _organization(principal)
    mine = (Notification.id == notification_id, Notification.organization_id == org)
    await session.execute(
        update(Notification)
        .where(*mine, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    found: Notification | None = await session.scalar(
        select(Notification).where(*mine).execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound("No such notification.")
    return found


async def mark_all_read(session: AsyncSession, principal: Principal, clock: Clock) -> int:
    """Mark every unread notification of the organization read; returns how many."""
    org = _organization(principal)
    result = await session.execute(
        update(Notification)
        .where(Notification.organization_id == org, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- what other domains send --------------------------------------------------------------------------------


def _data(**values: Any) -> dict[str, Any]:
    """A notification's ``data`` as JSON, written the way the API writes the same values."""
    return {k: to_jsonable_python(v) for k, v in values.items()}


def _money(fen: int | None) -> str | None:
    return None if fen is None else format_fen(fen)


async def watchers(session: AsyncSession, listing_id: uuid.UUID) -> list[uuid.UUID]:
    """The organizations watching a listing."""
    rows = await session.scalars(
        select(Watch.organization_id).where(Watch.listing_id == listing_id).order_by(Watch.organization_id)
    )
    return list(rows.all())


async def listing_status_changed(session: AsyncSession, listing: Listing, *, at: datetime) -> None:
    """``listing_updated`` ``{listing_id, status}`` to the listing's watchers: its status has just changed."""
    await listing_statuses_changed(session, {listing.id: str(listing.status)}, at=at)


async def listing_statuses_changed(
    session: AsyncSession, statuses: Mapping[uuid.UUID, str], *, at: datetime
) -> None:
    """``listing_status_changed`` for many listings at once (a batch of closing auctions): one query for the
    watchers of them all. ``statuses``: each listing's new status."""
    if not statuses:
        return
    rows = await session.execute(
        select(Watch.listing_id, Watch.organization_id)
        .where(Watch.listing_id.in_(list(statuses)))
        .order_by(Watch.listing_id, Watch.organization_id)
    )
    by_listing: dict[uuid.UUID, list[uuid.UUID]] = {}
    for listing_id, org in rows:
        by_listing.setdefault(listing_id, []).append(org)
    for listing_id, orgs in by_listing.items():
        await notify(
            session,
            "listing_updated",
            orgs,
            _data(listing_id=listing_id, status=str(statuses[listing_id])),
            at=at,
        )


_ANNOUNCED = "notifications.published_listings"  # session.info: listings announced in this transaction


async def listing_published(session: AsyncSession, listing: Listing, *, at: datetime) -> None:
    """A listing is published for the first time (SPEC §17.4): ``listing_matched`` to each organization with a
    saved search it meets (§5's filter semantics, ``app.listings.repository.meets``), never the seller, once
    per listing and search (recorded in ``saved_search_matches``) and once per organization however many of
    its searches it meets (the oldest is named); and ``listing_relisted`` to the watchers of the listing it
    relists, if any. A second call for the same listing in one transaction does nothing."""
    announced: set[uuid.UUID] = session.info.setdefault(_ANNOUNCED, set())
    if listing.id in announced:
        return
    announced.add(listing.id)
    await _announce_matches(session, listing, at=at)
    previous = getattr(listing, "previous_listing_id", None)
    if previous is not None:
        await notify(
            session,
            "listing_relisted",
            await watchers(session, previous),
            _data(listing_id=listing.id, previous_listing_id=previous),
            at=at,
        )


def _filters(search: SavedSearch) -> listings.ListFilters:
    return listings.ListFilters(
        q=search.q,
        pricing_mode=PricingMode(search.pricing_mode) if search.pricing_mode else None,
        transaction_kind=TransactionKind(search.transaction_kind) if search.transaction_kind else None,
        ipc=search.ipc,
        min_price=search.min_price,
        max_price=search.max_price,
    )


async def _announce_matches(session: AsyncSession, listing: Listing, *, at: datetime) -> None:
    # The criteria on the listing's own columns narrow the candidates in SQL; each candidate is then asked
    # the public search's own question (text and IPC included) about this one listing.
    told = select(SavedSearchMatch.saved_search_id).where(SavedSearchMatch.listing_id == listing.id)
    price = listing.price
    candidates = await session.scalars(
        select(SavedSearch)
        .where(
            SavedSearch.organization_id != listing.seller_org_id,
            SavedSearch.id.not_in(told),
            or_(SavedSearch.pricing_mode.is_(None), SavedSearch.pricing_mode == str(listing.pricing_mode)),
            or_(
                SavedSearch.transaction_kind.is_(None),
                SavedSearch.transaction_kind == str(listing.transaction_kind),
            ),
            SavedSearch.min_price.is_(None)
            if price is None
            else or_(SavedSearch.min_price.is_(None), SavedSearch.min_price <= price),
            SavedSearch.max_price.is_(None)
            if price is None
            else or_(SavedSearch.max_price.is_(None), SavedSearch.max_price >= price),
        )
        .order_by(SavedSearch.created_at, SavedSearch.id)
    )
    first_of: dict[uuid.UUID, SavedSearch] = {}
    for search in candidates.all():
        if not await listings.meets(session, listing.id, _filters(search)):
            continue
        session.add(SavedSearchMatch(saved_search_id=search.id, listing_id=listing.id, created_at=at))
        first_of.setdefault(search.organization_id, search)
    await session.flush()
    for org, search in first_of.items():
        await notify(
            session,
            "listing_matched",
            [org],
            _data(listing_id=listing.id, saved_search_id=search.id, title=listing.title),
            at=at,
        )


async def offer_received(
    session: AsyncSession, offer: Offer, *, seller_org_id: uuid.UUID, at: datetime
) -> None:
    """``offer_received`` to the seller: a buyer opened (or reopened) its thread with ``offer``."""
    await notify(
        session,
        "offer_received",
        [seller_org_id],
        _data(offer_id=offer.id, listing_id=offer.listing_id, price=_money(offer.price)),
        at=at,
    )


async def offer_countered(
    session: AsyncSession, counter: Offer, *, recipient_org_id: uuid.UUID, at: datetime
) -> None:
    """``offer_countered`` to the party receiving ``counter`` (the maker of the offer it answers)."""
    await notify(
        session,
        "offer_countered",
        [recipient_org_id],
        _data(offer_id=counter.id, listing_id=counter.listing_id, price=_money(counter.price)),
        at=at,
    )


async def offer_accepted(
    session: AsyncSession, offer: Offer, *, maker_org_id: uuid.UUID, deal_id: uuid.UUID, at: datetime
) -> None:
    """``offer_accepted`` to the offer's maker."""
    await notify(
        session,
        "offer_accepted",
        [maker_org_id],
        _data(offer_id=offer.id, listing_id=offer.listing_id, deal_id=deal_id),
        at=at,
    )


def _field(deal: Deal | Mapping[str, Any], name: str) -> Any:
    return deal[name] if isinstance(deal, Mapping) else getattr(deal, name)


async def deal_signing_due(session: AsyncSession, deal: Deal | Mapping[str, Any], *, at: datetime) -> None:
    """``deal_signing_due`` ``{deal_id, sign_by}`` to both parties: the deal has entered ``awaiting_signatures``.
    ``deal``: the row, or its column values (a batch of deals made at once)."""
    await notify(
        session,
        "deal_signing_due",
        [_field(deal, "buyer_org_id"), _field(deal, "seller_org_id")],
        _data(deal_id=_field(deal, "id"), sign_by=_field(deal, "sign_by")),
        at=at,
    )


async def payment_due(session: AsyncSession, deal: Deal, *, at: datetime) -> None:
    """``payment_due`` ``{deal_id, amount_due, pay_by}`` to the buyer: the deal has entered ``awaiting_payment``."""
    await notify(
        session,
        "payment_due",
        [deal.buyer_org_id],
        _data(deal_id=deal.id, amount_due=_money(deal.amount_due), pay_by=deal.pay_by),
        at=at,
    )


async def objection_filed(session: AsyncSession, deal: Deal, objection: Objection, *, at: datetime) -> None:
    """``objection_filed`` ``{deal_id, objection_id}`` to the deal's parties. Never the objector (SPEC §20: its
    identity is for operators and itself): the data does not name it, and its own organization, if a party,
    is not told of what it did itself."""
    parties: Iterable[uuid.UUID] = (deal.buyer_org_id, deal.seller_org_id)
    await notify(
        session,
        "objection_filed",
        [org for org in parties if org != objection.organization_id],
        _data(deal_id=deal.id, objection_id=objection.id),
        at=at,
    )
