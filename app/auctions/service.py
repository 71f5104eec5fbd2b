"""Auctions (SPEC §10): bidding, Dutch acceptance, closing, and the public views.

The bid is one conditional UPDATE of the auction row with every rule in its WHERE clause, then the INSERT of
the bid (DESIGN.md "The bid"): on PostgreSQL a concurrent UPDATE waits for the row and re-checks the WHERE
against the committed row; on SQLite write transactions run one at a time (``BEGIN IMMEDIATE``). Zero rows
means the bid lost, and a re-read of the row says why. ``seq = version`` numbers the accepted bids without
gaps, and ``UNIQUE(auction_id, seq)`` backs that up. On PostgreSQL an English bid is decided on a read and
written by one statement in autocommit, that UPDATE guarded by the state read (``_english_bid_alone``).

Nothing here reveals the reserve price, and a sealed auction's amounts stay out of every response, event and
audit record until its close.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from app.auctions import closing, events, notices, proxies, rules
from app.auctions.schemas import AuctionOut, BidPlaced, ProxyOut
from app.auctions.views import BID_EXTRAS, LIVE, STATE_COLUMNS, auction_view, bid_object, event_data
from app.audit.service import SYSTEM_ACTOR, chain_head, record, record_series, series_after
from app.deals.fees import FeeSchedule
from app.kit import compose
from app.kit.db import connection_of, holds_connection
from app.kit.errors import Conflict, ExchangeError, Forbidden, InvalidState, NotFound
from app.kit.idempotency import KeyRecord, Unstored
from app.kit.money import format_fen
from app.kit.pagination import SortKey, keyset_query, page_of
from app.kit.security import Principal
from app.kit.statements import prepared
from app.kit.turns import Turns
from app.kit.types import UTCDateTime
from app.kit.workdays import WorkdayCalendar
from app.models.listings import AuctionFormat, Listing, PriorityHolder
from app.models.trading import (
    Auction,
    AuctionStatus,
    Bid,
    ProxyBid,
    ProxyStatus,
    Registration,
    RegistrationStatus,
)
from app.notifications import outbox

MAX_BID_ATTEMPTS = 3


class NotQualified(Forbidden):
    code = "not_qualified"


class AuctionNotOpen(Conflict):
    code = "auction_not_open"


class AuctionClosed(Conflict):
    code = "auction_closed"


class BidRefused(Conflict):
    code = "bid_too_low"


# --- public views (app/auctions/views.py) ---------------------------------------------------------------


def _build_get_auction() -> Any:
    leader, winner = aliased(Registration), aliased(Registration)
    return (
        select(
            *STATE_COLUMNS,
            leader.bidder_code.label("leading_code"),
            winner.bidder_code.label("winner_code"),
        )
        .outerjoin(leader, leader.id == Auction.leader_registration_id)
        .outerjoin(winner, winner.id == Auction.winner_registration_id)
        .where(Auction.id == bindparam("p_id", type_=Uuid()))
    )


_GET_AUCTION = prepared(_build_get_auction())


async def read_auction(
    conn: AsyncConnection, auction_id: uuid.UUID, now: datetime
) -> tuple[AuctionOut, bool]:
    """The public state and whether a lazy close is due (still open although its ``ends_at`` has passed:
    then the caller closes it and reads it again). One Core statement (the hot path of bidders polling an
    auction skips the ORM's layers): on a pooled connection (``Database.read_connection``) or a session's."""
    row = (await conn.execute(_GET_AUCTION, {"p_id": auction_id})).first()
    if row is None:
        raise NotFound("No such auction.")
    due = row.status == AuctionStatus.open and row.ends_at is not None and row.ends_at <= now
    return auction_view(row, leading_code=row.leading_code, winner_code=row.winner_code, now=now), due


async def past_its_end(session: AsyncSession, auction_id: uuid.UUID, now: datetime) -> bool | None:
    """None: no such auction; True: still open although its ``ends_at`` has passed (a lazy close is due)."""
    row = (
        await session.execute(select(Auction.status, Auction.ends_at).where(Auction.id == auction_id))
    ).first()
    if row is None:
        return None
    return row.status == AuctionStatus.open and row.ends_at is not None and row.ends_at <= now


async def list_bids(
    session: AsyncSession,
    principal: Principal | None,
    auction_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Bid], str | None]:
    """Bids newest first with the bidder's code, never the company. A sealed auction before its close shows
    a bidder its own bid only, and anyone else (operators included) none (SPEC §10)."""
    status, fmt, listing_id = (
        await session.execute(
            select(Auction.status, Auction.format, Auction.listing_id).where(Auction.id == auction_id)
        )
    ).one_or_none() or (None, None, None)
    if status is None:
        raise NotFound("No such auction.")
    query = select(Bid).where(Bid.auction_id == auction_id)
    if fmt == AuctionFormat.sealed and status in LIVE:
        if principal is None or principal.organization_id is None:
            return [], None
        query = query.join(Registration, Registration.id == Bid.registration_id).where(
            Registration.listing_id == listing_id,
            Registration.organization_id == principal.organization_id,
        )
    keys = [SortKey(Bid.seq, int, descending=True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda b: (b.seq,))


# --- bidding ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bidder:
    """What a bid needs to know about its bidder and auction. Every field is fixed once the registration
    exists (one registration per organization and listing, its code given once; an auction's format and
    countdown are set when it is scheduled), so it is kept per process (``_BIDDERS``); the registration's
    status, which does change, is checked by the bid's UPDATE itself."""

    registration_id: uuid.UUID
    bidder_code: str
    format: AuctionFormat
    countdown_seconds: int
    priority_rank: int | None


Peek = Callable[[Any, dict[str, Any]], Awaitable[Any]]  # (statement, parameters) -> its first row or None

# (auction, organization) -> _Bidder; bounded, emptied when full (a few hundred bytes per active bidder).
_BIDDERS: dict[tuple[uuid.UUID, uuid.UUID], _Bidder] = {}
_BIDDERS_MAX = 50_000


# The bid path's statements are built once (bind parameters instead of literals): building and hashing a
# statement per request cost more CPU than running it.
_BIDDER = prepared(
    select(
        Auction.format,
        Auction.status,
        Auction.countdown_seconds,
        Listing.seller_org_id,
        Registration.id.label("registration_id"),
        Registration.status.label("registration_status"),
        Registration.bidder_code,
        PriorityHolder.rank.label("priority_rank"),
    )
    .join(Listing, Listing.id == Auction.listing_id)
    .outerjoin(
        Registration,
        and_(
            Registration.listing_id == Auction.listing_id,
            Registration.organization_id == bindparam("p_org", type_=Uuid()),
        ),
    )
    .outerjoin(PriorityHolder, PriorityHolder.registration_id == Registration.id)
    .where(Auction.id == bindparam("p_auction", type_=Uuid()))
)


async def _bidder(
    session: AsyncSession,
    principal: Principal,
    auction_id: uuid.UUID,
    *,
    cached: bool = True,
    lookup: Peek | None = None,
) -> _Bidder:
    """The caller's registration for the auction's listing. Only a member of a verified organization holding
    a qualified registration may bid; the seller never. ``cached``: a known bidder is not read again (the
    caller's statement re-checks the registration's status); otherwise one read, status checked here, with
    ``lookup`` if given (``Database.read_first``: outside the caller's write transaction, which then starts
    later)."""
    org = principal.organization_id
    may_bid = not principal.is_operator and principal.org_verified
    if cached and may_bid and org is not None and (known := _BIDDERS.get((auction_id, org))) is not None:
        return known
    params = {"p_org": org, "p_auction": auction_id}
    if lookup is None or holds_connection(session):
        row = (await (await connection_of(session)).execute(_BIDDER, params)).first()
    else:  # before the write transaction starts, never as a second connection
        row = await lookup(_BIDDER, params)
    if row is None:
        raise NotFound("No such auction.")
    if not may_bid or org is None or row.seller_org_id == org or row.registration_id is None:
        raise NotQualified("Only qualified registrants of this listing may bid.")
    bidder = _Bidder(
        row.registration_id,
        row.bidder_code,
        AuctionFormat(row.format),
        row.countdown_seconds,
        row.priority_rank,
    )
    if row.status != AuctionStatus.scheduled:  # designations change until the auction opens (SPEC §17.2)
        if len(_BIDDERS) >= _BIDDERS_MAX:
            _BIDDERS.clear()
        _BIDDERS[(auction_id, org)] = bidder
    if row.registration_status != RegistrationStatus.qualified:
        raise NotQualified("Only qualified registrants of this listing may bid.")
    return bidder


def _qualified(registration: Any) -> Any:
    """SQL: the registration (a bind parameter) is still qualified, checked in the bid's own statement."""
    return (
        select(Registration.id)
        .where(Registration.id == registration, Registration.status == RegistrationStatus.qualified)
        .exists()
    )


def _build_english_update() -> Any:
    """DESIGN.md "The bid": every rule of SPEC §10 in the WHERE clause; the countdown rule in the SET.
    Parameters: ``p_id``, ``p_reg`` (the bidder's registration), ``p_amount``, ``p_now`` (the receive time)
    and ``p_end`` (``p_now`` plus the countdown)."""
    new_end = bindparam("p_end", type_=UTCDateTime())
    placed_at = bindparam("p_now", type_=UTCDateTime())
    bid = bindparam("p_amount", type_=BigInteger())
    registration = bindparam("p_reg", type_=Uuid())
    rank = bindparam("p_rank", type_=Integer())
    # SPEC §17.2: a priority holder may bid the current price itself when it outranks the leader.
    matches = and_(
        rank.is_not(None),
        bid == Auction.current_price,
        or_(Auction.leader_priority_rank.is_(None), rank < Auction.leader_priority_rank),
    )
    # Counted as an extension when it reaches the close (see rules.extends): the event numbering below
    # decides the same way from the returned ends_at.
    moves = new_end >= Auction.ends_at
    extension = case((moves, 1), else_=0)
    return (
        update(Auction)
        .where(
            Auction.id == bindparam("p_id", type_=Uuid()),
            Auction.status == AuctionStatus.open,
            Auction.format == AuctionFormat.english,
            _qualified(registration),
            Auction.starts_at <= placed_at,
            Auction.ends_at > placed_at,
            or_(
                bid >= func.coalesce(Auction.current_price + Auction.increment, Auction.start_price), matches
            ),
            (bid - func.coalesce(Auction.current_price, Auction.start_price)) % Auction.increment == 0,
            or_(
                Auction.leader_registration_id.is_(None),
                Auction.leader_registration_id != registration,
            ),
        )
        .values(
            current_price=bid,
            leader_registration_id=registration,
            leader_priority_rank=rank,
            previous_leader_registration_id=Auction.leader_registration_id,
            bid_count=Auction.bid_count + 1,
            version=Auction.version + 1,
            ends_at=case((moves, new_end), else_=Auction.ends_at),
            extensions=Auction.extensions + extension,
            event_seq=Auction.event_seq + 1 + extension,
            updated_at=placed_at,
        )
        .returning(*STATE_COLUMNS, *BID_EXTRAS, *_previous_leader())
        .execution_options(synchronize_session=False)
    )


def _previous_leader() -> tuple[Any, ...]:
    """The outbid leader's organization and bidder code, read in the bid's own statement (a registration's
    organization and code never change): the outbid notice needs no statement of its own."""
    return _who(Auction.previous_leader_registration_id, "previous_leader")


def _who(registration: Any, prefix: str) -> tuple[Any, Any]:
    """The organization and bidder code of ``registration`` (a column or bind parameter of its id) as two
    scalar subqueries, ``<prefix>_org_id`` and ``<prefix>_code``."""

    def column(name: str) -> Any:
        return select(getattr(Registration, name)).where(Registration.id == registration).scalar_subquery()

    return column("organization_id").label(f"{prefix}_org_id"), column("bidder_code").label(f"{prefix}_code")


def _registration_status() -> Any:
    """The status of the bidder's registration (``p_reg``), read with the auction."""
    return (
        select(Registration.status)
        .where(Registration.id == bindparam("p_reg", type_=Uuid()))
        .scalar_subquery()
        .label("registration_status")
    )


def _build_sealed_update() -> Any:
    placed_at = bindparam("p_now", type_=UTCDateTime())
    return (
        update(Auction)
        .where(
            Auction.id == bindparam("p_id", type_=Uuid()),
            Auction.status == AuctionStatus.open,
            Auction.format == AuctionFormat.sealed,
            _qualified(bindparam("p_reg", type_=Uuid())),
            Auction.starts_at <= placed_at,
            Auction.ends_at > placed_at,
            Auction.start_price <= bindparam("p_amount", type_=BigInteger()),
        )
        .values(
            bid_count=Auction.bid_count + 1,
            version=Auction.version + 1,
            event_seq=Auction.event_seq + 1,
            updated_at=placed_at,
        )
        .returning(*STATE_COLUMNS, *BID_EXTRAS)
        .execution_options(synchronize_session=False)
    )


def _build_english_bid_postgresql() -> Any:
    """PostgreSQL: the English UPDATE and the bid's INSERT in one statement (a data-modifying CTE), one round
    trip fewer per bid. The INSERT takes its row from the UPDATE's: none when the UPDATE refused the bid. Its
    own parameters: ``b_id`` and ``b_code`` (the bid's id and the bidder's code)."""
    state = _build_english_update().cte("bid_state")
    bids = cast(Table, Bid.__table__)
    row = select(
        bindparam("b_id", type_=Uuid()),
        state.c.id,
        bindparam("p_reg", type_=Uuid()),
        bindparam("b_code", type_=bids.c.bidder_code.type),
        bindparam("p_amount", type_=BigInteger()),
        bindparam("p_now", type_=UTCDateTime()),
        state.c.version,
        false(),
        false(),
        bindparam("p_rank", type_=Integer()),
    )
    columns = ["id", "auction_id", "registration_id", "bidder_code", "amount", "placed_at", "seq"]
    written = insert(bids).from_select([*columns, "sealed", "auto", "priority_rank"], row).cte("bid_row")
    return select(state).add_cte(written)


_ENGLISH_UPDATE = prepared(_build_english_update())
_ENGLISH_BID_POSTGRESQL = prepared(_build_english_bid_postgresql())
_SEALED_UPDATE = prepared(_build_sealed_update())
_INSERT_BID = prepared(insert(cast(Table, Bid.__table__)))
_SEALED_BID_OF = prepared(
    select(Bid.id).where(
        Bid.auction_id == bindparam("p_id", type_=Uuid()),
        Bid.registration_id == bindparam("p_reg", type_=Uuid()),
    )
)


_REFUSAL = prepared(
    select(
        Auction.status,
        Auction.starts_at,
        Auction.ends_at,
        Auction.current_price,
        Auction.start_price,
        Auction.increment,
        Auction.leader_registration_id,
        Auction.leader_priority_rank,
        _registration_status(),
    ).where(Auction.id == bindparam("p_id", type_=Uuid()))
)


async def _peek_refusal(
    peek: Peek, auction_id: uuid.UUID, bidder: _Bidder, amount: int, placed_at: datetime
) -> None:
    """Refuse the bid if the auction's committed state, read now, refuses it. Most bids of a busy auction
    are refused (another bidder got there first), and each refusal otherwise queued for the write lock,
    began a transaction, ran the UPDATE that matched nothing, this read, and rolled back. A refusal decided
    on this read is the one the write path would give at this instant, which lies within the request; a bid
    it takes goes on to the UPDATE, which checks every rule again under the lock."""
    a = await peek(_REFUSAL, {"p_id": auction_id, "p_reg": bidder.registration_id})
    if a is None:
        raise NotFound("No such auction.")
    _refuse(a, bidder, amount, placed_at)


async def screen_bid(
    session: AsyncSession,
    principal: Principal,
    auction_id: uuid.UUID,
    amount: int,
    *,
    now: datetime,
    peek: Peek,
) -> None:
    """Raise the refusal the auction's committed state, read now with ``peek`` (outside any transaction),
    gives the bid; return if ``place_bid`` may take it. For a bid whose write waits for a transaction of its
    own before it can refuse (a keyed bid: ``Idempotency.run``'s screen), as ``_peek_refusal`` is for the
    others."""
    bidder = await _bidder(session, principal, auction_id, lookup=peek)
    if bidder.format != AuctionFormat.dutch:  # place_bid says what a Dutch auction takes instead
        await _peek_refusal(peek, auction_id, bidder, amount, now)


async def _explain_refusal(
    session: AsyncSession, auction_id: uuid.UUID, bidder: _Bidder, amount: int, placed_at: datetime
) -> None:
    """The UPDATE matched no row: re-read the auction (and the registration) and raise the reason. Returns
    only if the bid would now be valid (the row changed between the two statements), and the caller tries
    again."""
    conn = await connection_of(session)
    a = (await conn.execute(_REFUSAL, {"p_id": auction_id, "p_reg": bidder.registration_id})).one()
    _refuse(a, bidder, amount, placed_at)


def _refuse(a: Any, bidder: _Bidder, amount: int, placed_at: datetime) -> None:
    """Raise the reason the auction's state ``a`` (a ``_REFUSAL`` row) refuses the bid; return if it takes
    it."""
    if a.registration_status != RegistrationStatus.qualified:
        raise NotQualified("Only qualified registrants of this listing may bid.")
    if (
        a.status != AuctionStatus.open
        or a.starts_at is None
        or a.starts_at > placed_at
        or a.ends_at is None
        or a.ends_at <= placed_at
    ):
        raise AuctionNotOpen("The auction is not open for bids now.")
    if bidder.format == AuctionFormat.sealed:
        if amount < a.start_price:
            raise BidRefused("A sealed bid must be at least the start price.", code="bid_too_low")
        return
    if a.leader_registration_id == bidder.registration_id:
        raise Conflict("You lead already; bid again once outbid.", code="already_leading")
    refusal = rules.english_refusal(
        amount, current_price=a.current_price, start_price=a.start_price, increment=a.increment
    )
    if refusal == "bid_too_low" and rules.valid_bid(
        amount,
        bidder.priority_rank,
        current_price=a.current_price,
        leader_rank=a.leader_priority_rank,
        start_price=a.start_price,
        increment=a.increment,
    ):
        return  # a holder's equal bid, valid now: the row changed meanwhile
    if refusal == "bid_too_low":
        minimum = rules.minimum_next_bid(
            current_price=a.current_price, start_price=a.start_price, increment=a.increment
        )
        raise BidRefused(f"The bid must be at least {minimum // 100}.{minimum % 100:02d}.", code=refusal)
    if refusal is not None:
        raise BidRefused(
            "The bid must exceed the current price (or equal the start price plus) a whole multiple of "
            "the increment.",
            code=refusal,
        )


async def place_bid(
    session: AsyncSession,
    principal: Principal,
    auction_id: uuid.UUID,
    amount: int,
    *,
    now: datetime,
    lookup: Peek | None = None,
    peek: Peek | None = None,
    alone: Peek | None = None,
    key: KeyRecord | None = None,
) -> BidPlaced:
    """An English or sealed bid at the server's receive time ``now`` (SPEC §10). ``lookup``: a one-row read
    (``Database.read_first``) for looking up a bidder this process does not know yet, outside the bid's
    write transaction. ``peek``:
    a cheap one-row read outside it (``Database.read_first`` on SQLite), to refuse a bid that the auction's
    state refuses now without taking the write lock (see ``_peek_refusal``). ``alone``: a statement run
    alone in autocommit (``Database.run_alone``, PostgreSQL), for an English bid written by one statement
    (``_english_bid_alone``) instead of in ``session``'s transaction. ``key`` (with ``alone``): the request's
    Idempotency-Key, whose row that statement writes too; a bid that cannot be written so raises
    ``Unstored`` having written nothing (``Idempotency.run``'s ``alone``)."""
    bidder = await _bidder(session, principal, auction_id, lookup=lookup)
    if bidder.format == AuctionFormat.dutch:
        raise InvalidState("A Dutch auction is won by accepting its clock price (POST …/accept).")
    if alone is not None and bidder.format == AuctionFormat.english and not holds_connection(session):
        placed = await _english_bid_alone(alone, principal, auction_id, bidder, amount, now, key)
        if placed is not None:
            return placed
    if key is not None:
        raise Unstored()
    if peek is not None and not holds_connection(session):
        await _peek_refusal(peek, auction_id, bidder, amount, now)
    conn = await connection_of(session)  # Core: the hot paths skip the ORM's compile and loading layers
    bid_id = uuid.uuid4()
    params = {
        "p_id": auction_id,
        "p_reg": bidder.registration_id,
        "p_amount": amount,
        "p_now": now,
        "p_end": now + timedelta(seconds=bidder.countdown_seconds),
        "p_rank": bidder.priority_rank,
    }
    if bidder.format == AuctionFormat.sealed:
        statement = _SEALED_UPDATE
        del params["p_end"], params["p_rank"]
    elif conn.dialect.name == "postgresql":
        statement = _ENGLISH_BID_POSTGRESQL  # the bid's row is written by the same statement
        params |= {"b_id": bid_id, "b_code": bidder.bidder_code}
    else:
        statement = _ENGLISH_UPDATE
    for _ in range(MAX_BID_ATTEMPTS):
        row = (await conn.execute(statement, params)).first()
        if row is not None:
            break
        await _explain_refusal(session, auction_id, bidder, amount, now)
    else:
        raise Conflict("The auction changed while bidding; try again.")
    state = SimpleNamespace(**row._mapping)
    sealed = bidder.format == AuctionFormat.sealed
    if sealed and await conn.scalar(_SEALED_BID_OF, {"p_id": auction_id, "p_reg": bidder.registration_id}):
        # Checked under the auction row, which the UPDATE above holds; the partial unique index backs it up.
        raise Conflict("A sealed auction takes one bid per bidder.", code="already_bid")
    bid_row, batch, trail = _records(state, bidder, bid_id, amount, principal.label, now, sealed=sealed)
    if statement is not _ENGLISH_BID_POSTGRESQL:
        await conn.execute(_INSERT_BID, bid_row)
    await events.append(session, auction_id, batch, at=now)
    if sealed:
        await record_series(session, entity_type="auction", entity_id=auction_id, events=trail)
        return BidPlaced(
            id=bid_id, amount=amount, bidder_code=bidder.bidder_code, placed_at=now, ends_at=state.ends_at
        )
    leader_code: str | None = bidder.bidder_code
    automatic: list[proxies.AutoBid] = []
    if state.has_proxies:
        automatic, leader_code = await proxies.answer(
            session,
            state,
            rules.Contender(bidder.registration_id, amount, now, bidder.priority_rank),
            countdown_seconds=bidder.countdown_seconds,
            now=now,
            leader_code=leader_code,
            audit=trail,
        )
    await record_series(session, entity_type="auction", entity_id=auction_id, events=trail)
    led = [
        state.previous_leader_registration_id,
        bidder.registration_id,
        *(b.registration_id for b in automatic),
    ]
    known = {}
    if state.previous_leader_org_id is not None:
        known[state.previous_leader_registration_id] = (
            state.previous_leader_org_id,
            state.previous_leader_code,
        )
    await notices.outbid(session, state, led, leader_code=leader_code, at=now, known=known)
    return _placed(state, bidder, bid_id, amount, now, leader_code)


def _records(
    state: Any, bidder: _Bidder, bid_id: uuid.UUID, amount: int, actor: str, now: datetime, *, sealed: bool
) -> tuple[dict[str, Any], list[tuple[int, str, dict[str, Any]]], list[proxies.AuditItem]]:
    """What an accepted bid writes besides the auction row, given the row ``state`` after it: the bid's row,
    its live events (``bid``, and ``extended`` when it moved the close) and its audit event."""
    seq, rank = state.version, None if sealed else bidder.priority_rank
    bid_row = {
        "id": bid_id,
        "auction_id": state.id,
        "registration_id": bidder.registration_id,
        "bidder_code": bidder.bidder_code,
        "amount": amount,
        "placed_at": now,
        "seq": seq,
        "sealed": sealed,
        "auto": False,
        "priority_rank": rank,
    }
    extended = not sealed and state.ends_at == now + timedelta(seconds=bidder.countdown_seconds)
    data = event_data(state, leading_code=bidder.bidder_code, winner_code=None, at=now)
    first_seq = state.event_seq - (1 if extended else 0)
    bid_data = data
    if not sealed:
        bid_data = data | {
            "bid": bid_object(bid_id, seq, amount, bidder.bidder_code, auto=False, rank=rank, placed_at=now)
        }
    batch = [(first_seq, "bid", bid_data)] + ([(state.event_seq, "extended", data)] if extended else [])
    audit: dict[str, Any] = {"bid_id": bid_id, "seq": seq, "bidder_code": bidder.bidder_code}
    if not sealed:  # a sealed amount is recorded at the close, never before
        audit |= {"amount": amount, "ends_at": state.ends_at, "extended": extended, "auto": False}
        audit |= {"priority_rank": rank}
    return bid_row, batch, [("bid_accepted", actor, now, audit)]


def _placed(
    state: Any, bidder: _Bidder, bid_id: uuid.UUID, amount: int, now: datetime, leader_code: str | None
) -> BidPlaced:
    return BidPlaced(
        id=bid_id,
        amount=amount,
        bidder_code=bidder.bidder_code,
        placed_at=now,
        ends_at=state.ends_at,
        leading=state.leader_registration_id == bidder.registration_id,
        current_price=state.current_price,
        leading_bidder_code=leader_code,
    )


def _build_english_seen() -> Any:
    """PostgreSQL: what ``_english_bid_alone`` decides on, in one read: the auction's state, who leads it (to
    tell them they were outbid), the bidder's registration status and the head of the auction's audit chain.
    Parameters: ``p_id``, ``p_reg`` and ``p_key`` (the auction's id as its chain's entity id)."""
    return select(
        *STATE_COLUMNS,
        *BID_EXTRAS,
        _registration_status(),
        *_who(Auction.leader_registration_id, "leader"),
        *chain_head("auction", bindparam("p_key", type_=String())),
    ).where(Auction.id == bindparam("p_id", type_=Uuid()))


def _build_english_guard() -> Any:
    """The English UPDATE (every rule in its WHERE clause), only if the row is still as ``_ENGLISH_SEEN`` read
    it: ``p_version``, ``p_event_seq`` and ``p_ends_at``, the columns its SET moves beyond the bid's own, and
    still without proxies."""
    return _build_english_update().where(
        Auction.has_proxies.is_(False),  # a proxy set since the read answers the bid in a transaction
        Auction.version == bindparam("p_version", type_=Integer()),
        Auction.event_seq == bindparam("p_event_seq", type_=Integer()),
        Auction.ends_at == bindparam("p_ends_at", type_=UTCDateTime()),
    )


_ENGLISH_SEEN = prepared(_build_english_seen())


# PostgreSQL: an English bid's write waits for this process's write on the same auction (``_english_bid_alone``),
# and the state the last one committed is kept, so that the next bid decides on it rather than on a read that
# the write has overtaken (a write decided on that read would lose). Bounded as ``_BIDDERS`` is.
_WRITE_TURNS = Turns()
_COMMITTED: dict[uuid.UUID, SimpleNamespace] = {}
_COMMITTED_MAX = 10_000
# The auctions whose kept state no other writer is known to have overtaken: the last read of the auction found
# it at the version this process's own last write had committed (``_english_bid_alone``), and no write
# decided on that state since has failed. A bid on one of them is written without reading the auction first.
_CURRENT: set[uuid.UUID] = set()


async def _english_bid_alone(
    run: Peek,
    principal: Principal,
    auction_id: uuid.UUID,
    bidder: _Bidder,
    amount: int,
    now: datetime,
    key: KeyRecord | None,
) -> BidPlaced | None:
    """PostgreSQL, an English bid as a compare-and-set (DESIGN.md "The bid"): read the auction's state
    (``_ENGLISH_SEEN``) and decide in Python; a refusal writes nothing. An accepted bid is ONE statement run
    alone in autocommit (``app.kit.compose``): the English UPDATE guarded by the state it was decided on,
    and after it the bid, its live events, its audit event, the outbid notice and its webhook deliveries,
    each written only if the UPDATE was. Three round trips with the caller's, where a transaction took nine;
    its row lock lasts one statement.

    Of a busy auction's bids, many pass the read together and only one write can win. So a bid the read
    takes waits for its turn behind this process's other writes on the auction (``_WRITE_TURNS``), then
    decides again on the state the last of them committed (``_COMMITTED``) when that is newer than its read:
    committed after the read, it is a state the auction had during the request. Most such bids are refused
    there, without a statement. Should the row have moved anyway (another process's write: the UPDATE matched
    nothing) or the audit chain grown (its unique key failed the statement), nothing was written, and the
    bid is decided again on a fresh read. None: leave the bid to the transaction (the auction's proxies
    answer bids there, and a bid that lost the race ``MAX_BID_ATTEMPTS`` times waits its turn on the row
    lock).

    An auction that only this process writes (``_CURRENT``) is not read first: the bid is written on the
    state kept, which the write's guard checks as it would a read's (``_bid_on_kept``)."""
    placed = await _bid_on_kept(run, principal, auction_id, bidder, amount, now, key)
    if placed is not None:
        return placed
    seen_params = {"p_id": auction_id, "p_reg": bidder.registration_id, "p_key": str(auction_id)}
    for _ in range(MAX_BID_ATTEMPTS):
        seen = await run(_ENGLISH_SEEN, seen_params)
        if seen is None:
            raise NotFound("No such auction.")
        _refuse(seen, bidder, amount, now)
        if seen.has_proxies:
            return None
        async with _WRITE_TURNS.turn(auction_id):
            committed = _COMMITTED.get(auction_id)
            if committed is not None and committed.version > seen.version:
                seen = SimpleNamespace(**vars(committed), registration_status=seen.registration_status)
                _refuse(seen, bidder, amount, now)
            elif committed is not None and committed.version == seen.version:
                _CURRENT.add(auction_id)  # nobody else wrote the auction since this process did
            else:
                _CURRENT.discard(auction_id)
            placed = await _write_english_bid(run, principal, seen, bidder, amount, now, key)
        if placed is not None:
            return placed
    return None


async def _bid_on_kept(
    run: Peek,
    principal: Principal,
    auction_id: uuid.UUID,
    bidder: _Bidder,
    amount: int,
    now: datetime,
    key: KeyRecord | None,
) -> BidPlaced | None:
    """The bid written on the auction's state this process committed last, without a read, if the auction is
    ``_CURRENT`` and that state takes the bid: the write's guard checks the bid against the row as it is (the
    version, the registration's status, every rule). None, having written nothing, when it is not so written:
    the auction is then no longer ``_CURRENT`` if the write was refused, and the bid is decided on a read.

    A state kept is not trusted with a refusal: it may be older than the request (the leader outbid in another
    process since), and it does not know the registration's status, which comes first among the reasons
    (``_refuse``). A bid it refuses, before its turn or after it, is decided on a read."""
    if _kept_taking(auction_id, bidder, amount, now) is None:
        return None
    async with _WRITE_TURNS.turn(auction_id):
        seen = _kept_taking(auction_id, bidder, amount, now)  # with what was committed while the bid waited
        if seen is None:
            return None
        placed = await _write_english_bid(run, principal, seen, bidder, amount, now, key)
        if placed is None:
            _CURRENT.discard(auction_id)
        return placed


def _kept_taking(
    auction_id: uuid.UUID, bidder: _Bidder, amount: int, now: datetime
) -> SimpleNamespace | None:
    """The auction's state this process committed last, as ``_ENGLISH_SEEN`` would read it for a qualified
    bidder (the write checks that the bidder is), if the auction is ``_CURRENT`` and that state takes the
    bid."""
    kept = _COMMITTED.get(auction_id) if auction_id in _CURRENT else None
    if kept is None:
        return None
    seen = SimpleNamespace(**vars(kept), registration_status=RegistrationStatus.qualified)
    try:
        _refuse(seen, bidder, amount, now)
    except ExchangeError:
        return None
    return seen


async def _write_english_bid(
    run: Peek,
    principal: Principal,
    seen: Any,
    bidder: _Bidder,
    amount: int,
    now: datetime,
    key: KeyRecord | None,
) -> BidPlaced | None:
    """The compare-and-set of ``_english_bid_alone`` on the state ``seen``, with ``key``'s row if given
    (its response is known before the statement); None: the row had moved, or a unique key refused the
    statement (the auction's audit chain, or the request's key)."""
    state = _after_english_bid(seen, bidder, amount, now)
    bid_id = uuid.uuid4()
    placed = _placed(state, bidder, bid_id, amount, now, bidder.bidder_code)
    bid_row, batch, trail = _records(state, bidder, bid_id, amount, principal.label, now, sealed=False)
    audit, state.audit_seq_hash = series_after(
        None if seen.audit_seq is None else (seen.audit_seq, seen.audit_hash),
        entity_type="auction",
        entity_id=state.id,
        events=trail,
    )
    told, told_committed = outbox.notices_after(
        notices.outbid_notices(state, _outbid(seen), leader_code=bidder.bidder_code), at=now
    )
    writes = [
        compose.rows("bid", cast(Table, Bid.__table__), [bid_row]),
        events.insert_after(state.id, batch, at=now),
        audit,
        *told,
        *([] if key is None else [compose.rows("request_key", key.table, [key.row(placed)])]),
    ]
    guard = {
        "p_id": state.id,
        "p_reg": bidder.registration_id,
        "p_amount": amount,
        "p_now": now,
        "p_end": now + timedelta(seconds=bidder.countdown_seconds),
        "p_rank": bidder.priority_rank,
        "p_version": seen.version,
        "p_event_seq": seen.event_seq,
        "p_ends_at": seen.ends_at,
    }
    statement = compose.compose("bid_state", _build_english_guard, writes)
    try:
        row = await run(statement, compose.params(guard, writes))
    except IntegrityError:  # a unique key: another event joined the auction's chain, or the key was taken
        return None
    if row is None:
        return None
    events.wake([state.id])
    told_committed(row)
    if len(_COMMITTED) >= _COMMITTED_MAX:
        _COMMITTED.clear()
        _CURRENT.clear()
    _COMMITTED[state.id] = _as_seen(state, principal, bidder)
    return placed


def _as_seen(state: SimpleNamespace, principal: Principal, bidder: _Bidder) -> SimpleNamespace:
    """The auction as ``_ENGLISH_SEEN`` would read it right after the bid that left it in ``state``, but for
    the registration status, which is the next bidder's own."""
    seen = SimpleNamespace(**vars(state))
    del seen.registration_status
    seen.leader_org_id, seen.leader_code = principal.organization_id, bidder.bidder_code
    (seen.audit_seq, seen.audit_hash) = seen.audit_seq_hash
    del seen.audit_seq_hash
    return seen


def _after_english_bid(seen: Any, bidder: _Bidder, amount: int, now: datetime) -> SimpleNamespace:
    """The auction's state after ``_build_english_guard`` takes the bid from the state ``seen``: what its SET
    writes and its RETURNING gives."""
    state = SimpleNamespace(**(vars(seen) if isinstance(seen, SimpleNamespace) else seen._mapping))
    new_end = now + timedelta(seconds=bidder.countdown_seconds)
    moves = rules.extends(seen.ends_at, now, bidder.countdown_seconds)
    state.previous_leader_registration_id = seen.leader_registration_id
    state.current_price = amount
    state.leader_registration_id = bidder.registration_id
    state.leader_priority_rank = bidder.priority_rank
    state.bid_count += 1
    state.version += 1
    state.ends_at = new_end if moves else seen.ends_at
    state.extensions += 1 if moves else 0
    state.event_seq += 2 if moves else 1
    return state


def _outbid(seen: Any) -> list[tuple[uuid.UUID, str]]:
    """The organization and bidder code of the leader the bid outbids (none before the first bid)."""
    return [] if seen.leader_org_id is None else [(seen.leader_org_id, seen.leader_code)]


async def accept_dutch_price(
    session: AsyncSession,
    principal: Principal,
    auction_id: uuid.UUID,
    *,
    now: datetime,
    fees: FeeSchedule,
    calendar: WorkdayCalendar,
) -> AuctionOut:
    """The first qualified bidder to accept a Dutch auction's clock price wins it at that price, and the
    auction closes in the same transaction; later acceptances get 409 ``auction_closed`` (SPEC §10)."""
    bidder = await _bidder(session, principal, auction_id, cached=False)
    if bidder.format != AuctionFormat.dutch:
        raise InvalidState("Only a Dutch auction is won by accepting its price.")
    terms = (
        await session.execute(
            select(
                Auction.status,
                Auction.starts_at,
                Auction.ends_at,
                Auction.start_price,
                Auction.floor_price,
                Auction.decrement,
                Auction.step_seconds,
            ).where(Auction.id == auction_id)
        )
    ).one()
    if terms.status in (AuctionStatus.closed, AuctionStatus.failed, AuctionStatus.cancelled) or (
        terms.ends_at is not None and terms.ends_at <= now
    ):
        raise AuctionClosed("The auction has closed.")
    if terms.status != AuctionStatus.open or terms.starts_at is None or terms.starts_at > now:
        raise AuctionNotOpen("The auction has not opened yet.")
    price = rules.dutch_price(
        terms.start_price, terms.floor_price, terms.decrement, terms.step_seconds, terms.starts_at, now
    )
    claimed = (
        await session.execute(
            update(Auction)
            .where(
                Auction.id == auction_id,
                Auction.status == AuctionStatus.open,
                Auction.starts_at == terms.starts_at,  # the price above was computed from this start
                Auction.ends_at > now,
            )
            .values(
                current_price=price,
                leader_registration_id=bidder.registration_id,
                bid_count=Auction.bid_count + 1,
                version=Auction.version + 1,
                ends_at=now,  # the acceptance ends it: closed below as of this instant
                updated_at=now,
            )
            .returning(Auction.version)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if claimed is None:
        raise AuctionClosed("Another bidder accepted first; the auction has closed.")
    await session.execute(
        insert(Bid).values(
            id=uuid.uuid4(),
            auction_id=auction_id,
            registration_id=bidder.registration_id,
            bidder_code=bidder.bidder_code,
            amount=price,
            placed_at=now,
            seq=claimed.version,
            sealed=False,
        )
    )
    await record(
        session,
        entity_type="auction",
        entity_id=auction_id,
        action="bid_accepted",
        actor=principal.label,
        at=now,
        data={"seq": claimed.version, "bidder_code": bidder.bidder_code, "amount": price},
    )
    # The closing rules act, not the bidder: the close and the deal are the exchange's events, readable by
    # the seller (the bidder's own act is the ``bid_accepted`` above, withheld from others: SPEC §20).
    closed = await closing.close_auctions(
        session, [auction_id], now=now, fees=fees, calendar=calendar, actor=SYSTEM_ACTOR
    )
    assert closed == [auction_id]  # this transaction holds the row it just claimed
    view, _ = await read_auction(await connection_of(session), auction_id, now)
    return view


# --- proxies (SPEC §17.1) -----------------------------------------------------------------------------------

_LOCK_STATE = select(*STATE_COLUMNS, *BID_EXTRAS).where(Auction.id == bindparam("p_id", type_=Uuid()))


def _proxy_out(proxy: ProxyBid, state: Any, registration_id: uuid.UUID) -> ProxyOut:
    return ProxyOut(
        auction_id=proxy.auction_id,
        bidder_code=proxy.bidder_code,
        max_amount=proxy.max_amount,
        status=ProxyStatus(proxy.status),
        set_at=proxy.set_at,
        created_at=proxy.created_at,
        leading=state.leader_registration_id == registration_id,
        current_price=state.current_price,
    )


async def set_proxy(
    session: AsyncSession, principal: Principal, auction_id: uuid.UUID, max_amount: int, *, now: datetime
) -> tuple[ProxyOut, bool]:
    """Create or raise the caller's proxy, then let the proxies answer if the auction is open, in one
    transaction under the auction row. Returns the proxy and whether it was created."""
    bidder = await _bidder(session, principal, auction_id, cached=False)
    proxies.format_supported(bidder.format)
    conn = await connection_of(session)
    row = (await conn.execute(_LOCK_STATE.with_for_update(), {"p_id": auction_id})).one()
    state = SimpleNamespace(**row._mapping)
    if state.status not in proxies.OPEN_FOR_PROXIES or (state.ends_at is not None and state.ends_at <= now):
        raise AuctionNotOpen("Proxies are set from the auction's scheduling until its end.")
    proxy = await session.scalar(
        select(ProxyBid).where(
            ProxyBid.auction_id == auction_id, ProxyBid.registration_id == bidder.registration_id
        )
    )
    if proxy is not None and max_amount < proxy.max_amount:
        raise proxies.ProxyCannotLower("A maximum can only be raised.")
    if proxy is not None and max_amount == proxy.max_amount:
        return _proxy_out(proxy, state, bidder.registration_id), False
    refusal = rules.english_refusal(
        max_amount,
        current_price=None,
        start_price=state.start_price,
        increment=state.increment,
    )
    if refusal == "bid_not_increment_multiple":
        raise BidRefused(
            "A maximum lies on the bid grid: the start price plus whole increments.", code=refusal
        )
    minimum = rules.minimum_next_bid(
        current_price=state.current_price, start_price=state.start_price, increment=state.increment
    )
    if max_amount < minimum:
        raise BidRefused(f"The maximum must be at least {format_fen(minimum)}.", code="bid_too_low")
    created = proxy is None
    if proxy is None:
        proxy = ProxyBid(
            auction_id=auction_id,
            registration_id=bidder.registration_id,
            bidder_code=bidder.bidder_code,
            created_at=now,
        )
        session.add(proxy)
    proxy.max_amount, proxy.set_at, proxy.updated_at = max_amount, now, now
    proxy.status = ProxyStatus.active
    await session.flush()
    if not state.has_proxies:
        await conn.execute(
            update(Auction)
            .where(Auction.id == auction_id)
            .values(has_proxies=True)
            .execution_options(synchronize_session=False)
        )
    await record(
        session,
        entity_type="proxy_bid",
        entity_id=proxy.id,
        action="proxy_set" if created else "proxy_raised",
        actor=principal.label,
        at=now,
        data={"auction_id": auction_id, "bidder_code": bidder.bidder_code},
    )
    if state.status == AuctionStatus.open and state.starts_at is not None and state.starts_at <= now:
        previous = state.leader_registration_id
        automatic, leader_code = await proxies.answer(
            session,
            state,
            await proxies.leader_of(session, state),
            countdown_seconds=bidder.countdown_seconds,
            now=now,
            leader_code=None,
        )
        if automatic:
            led = [previous, *(b.registration_id for b in automatic)]
            await notices.outbid(session, state, led, leader_code=leader_code, at=now)
        await session.refresh(proxy)
    return _proxy_out(proxy, state, bidder.registration_id), created


async def get_proxy(session: AsyncSession, principal: Principal, auction_id: uuid.UUID) -> ProxyOut:
    """The caller's own proxy; 404 for anyone without one, operators included."""
    row = await proxies.own_proxy(session, auction_id, principal.organization_id)
    return _proxy_out(row.ProxyBid, row, row.ProxyBid.registration_id)
