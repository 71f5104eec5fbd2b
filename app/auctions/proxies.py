"""Proxy bidding (代理出价, SPEC §17.1): maxima left by qualified registrants of English auctions, and the
automatic bids that answer every change, placed in the transaction of what triggered them.

``answer`` runs inside a transaction that already holds the auction row (the accepted bid's UPDATE, the
proxy's ``SELECT … FOR UPDATE``, or the opening): it reads the active proxies, asks the pure resolution
(``rules.resolve_proxies``) for at most two bids, and writes them as bid rows (``auto``), live events and
audit events of the ``system`` actor, then the auction row once.

Secrecy: a maximum is shown to its holder only (``GET …/proxy``), never in a response, event, notification or
the auction's audit chain. ``proxy_set`` / ``proxy_raised`` / ``ended`` go on the proxy's own chain
(``proxy_bid``), which operators read only once the auction is over (``app.audit.access``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import BigInteger, Table, Uuid, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auctions import events, notices, rules, views
from app.auctions.rules import Contender
from app.audit.access import register_parties, seal_from_operators
from app.audit.service import SYSTEM_ACTOR, record, record_series
from app.kit.db import connection_of
from app.kit.errors import Conflict, NotFound
from app.kit.money import format_fen
from app.kit.types import UTCDateTime
from app.models.listings import AuctionFormat, PriorityHolder
from app.models.trading import (
    Auction,
    AuctionStatus,
    Bid,
    ProxyBid,
    ProxyStatus,
    Registration,
    RegistrationStatus,
)

OPEN_FOR_PROXIES = (AuctionStatus.scheduled, AuctionStatus.open)


class FormatNotSupported(Conflict):
    code = "format_not_supported"


class ProxyCannotLower(Conflict):
    code = "proxy_cannot_lower"


AuditItem = tuple[str, str, datetime, dict[str, Any]]  # (action, actor, at, data) of an auction's event


@dataclass(frozen=True)
class AutoBid:
    id: uuid.UUID
    registration_id: uuid.UUID
    bidder_code: str
    amount: int
    seq: int
    priority_rank: int | None


_ACTIVE = (
    select(
        ProxyBid.id,
        ProxyBid.registration_id,
        ProxyBid.bidder_code,
        ProxyBid.max_amount,
        ProxyBid.set_at,
        PriorityHolder.rank,
    )
    .join(Registration, Registration.id == ProxyBid.registration_id)
    .outerjoin(PriorityHolder, PriorityHolder.registration_id == ProxyBid.registration_id)
    .where(
        ProxyBid.auction_id == bindparam("p_auction", type_=Uuid()),
        ProxyBid.status == ProxyStatus.active,
        Registration.status == RegistrationStatus.qualified,
    )
)
_INSERT_BIDS = insert(cast(Table, Bid.__table__))
_SAVE_STATE = (
    update(Auction)
    .where(Auction.id == bindparam("p_id", type_=Uuid()))
    .values(
        current_price=bindparam("p_price", type_=BigInteger()),
        leader_registration_id=bindparam("p_leader", type_=Uuid()),
        leader_priority_rank=bindparam("p_rank"),
        bid_count=bindparam("p_bid_count"),
        version=bindparam("p_version"),
        ends_at=bindparam("p_ends_at", type_=UTCDateTime()),
        extensions=bindparam("p_extensions"),
        event_seq=bindparam("p_event_seq"),
        updated_at=bindparam("p_now", type_=UTCDateTime()),
    )
    .execution_options(synchronize_session=False)
)


async def answer(
    session: AsyncSession,
    state: SimpleNamespace,
    leader: Contender | None,
    *,
    countdown_seconds: int,
    now: datetime,
    leader_code: str | None,
    audit: list[AuditItem] | None = None,
) -> tuple[list[AutoBid], str | None]:
    """Place the automatic bids that answer the auction's present ``state`` (a row of
    ``views.STATE_COLUMNS`` and ``views.BID_EXTRAS``; updated in place) for the ``leader`` at its
    bid. Returns the bids and the leader's code afterwards. Their audit events are appended to ``audit`` when
    given (the caller writes its own event and these with one ``record_series``), else written here."""
    conn = await connection_of(session)
    proxies = (await conn.execute(_ACTIVE, {"p_auction": state.id})).all()
    if not proxies:
        return [], leader_code
    by_registration = {p.registration_id: p for p in proxies}
    contenders = [Contender(p.registration_id, p.max_amount, p.set_at, p.rank) for p in proxies]
    decided = rules.resolve_proxies(
        leader, contenders, increment=state.increment, start_price=state.start_price
    )
    placed: list[AutoBid] = []
    batch: list[tuple[int, str, dict[str, Any]]] = []
    new_end = now + timedelta(seconds=countdown_seconds)
    for registration_id, amount in decided:
        proxy = by_registration[registration_id]
        state.version += 1
        state.bid_count += 1
        state.current_price = amount
        state.leader_registration_id = registration_id
        state.leader_priority_rank = proxy.rank
        leader_code = proxy.bidder_code
        # The countdown rule of §10; the bids of one instant move the close once.
        extended = state.ends_at is not None and new_end > state.ends_at
        if extended:
            state.ends_at, state.extensions = new_end, state.extensions + 1
        bid = AutoBid(uuid.uuid4(), registration_id, proxy.bidder_code, amount, state.version, proxy.rank)
        placed.append(bid)
        data = views.event_data(state, leading_code=leader_code, winner_code=None, at=now)
        state.event_seq += 1
        batch.append(
            (
                state.event_seq,
                "bid",
                data
                | {
                    "bid": views.bid_object(
                        bid.id, bid.seq, amount, bid.bidder_code, auto=True, rank=proxy.rank, placed_at=now
                    )
                },
            )
        )
        if extended:
            state.event_seq += 1
            batch.append((state.event_seq, "extended", data))
    if not placed:
        await _exhaust(session, state, by_registration)
        return [], leader_code
    await conn.execute(
        _INSERT_BIDS,
        [
            {
                "id": b.id,
                "auction_id": state.id,
                "registration_id": b.registration_id,
                "bidder_code": b.bidder_code,
                "amount": b.amount,
                "placed_at": now,
                "seq": b.seq,
                "sealed": False,
                "auto": True,
                "priority_rank": b.priority_rank,
            }
            for b in placed
        ],
    )
    await conn.execute(
        _SAVE_STATE,
        {
            "p_id": state.id,
            "p_price": state.current_price,
            "p_leader": state.leader_registration_id,
            "p_rank": state.leader_priority_rank,
            "p_bid_count": state.bid_count,
            "p_version": state.version,
            "p_ends_at": state.ends_at,
            "p_extensions": state.extensions,
            "p_event_seq": state.event_seq,
            "p_now": now,
        },
    )
    await events.append(session, state.id, batch, at=now)
    items: list[AuditItem] = [
        (
            "bid_accepted",
            SYSTEM_ACTOR,
            now,
            {
                "bid_id": b.id,
                "seq": b.seq,
                "bidder_code": b.bidder_code,
                "amount": b.amount,
                "ends_at": state.ends_at,
                "auto": True,
                "priority_rank": b.priority_rank,
            },
        )
        for b in placed
    ]
    if audit is not None:
        audit += items
    else:
        await record_series(session, entity_type="auction", entity_id=state.id, events=items)
    await _exhaust(session, state, by_registration)
    return placed, leader_code


async def _exhaust(session: AsyncSession, state: SimpleNamespace, proxies: dict[uuid.UUID, Any]) -> None:
    """Active proxies that no longer lead and whose maximum is no longer a valid bid become ``exhausted``."""
    spent = [
        p.id
        for p in proxies.values()
        if p.registration_id != state.leader_registration_id
        and not rules.valid_bid(
            p.max_amount,
            p.rank,
            current_price=state.current_price,
            leader_rank=state.leader_priority_rank,
            start_price=state.start_price,
            increment=state.increment,
        )
    ]
    if spent:
        await session.execute(
            update(ProxyBid)
            .where(ProxyBid.id.in_(spent))
            .values(status=ProxyStatus.exhausted)
            .execution_options(synchronize_session=False)
        )


async def leader_of(session: AsyncSession, state: SimpleNamespace) -> Contender | None:
    """The leader as the resolution ranks it: its current bid and that bid's time."""
    if state.leader_registration_id is None:
        return None
    row = (
        await session.execute(
            select(Bid.placed_at, Bid.priority_rank).where(
                Bid.auction_id == state.id, Bid.seq == state.version
            )
        )
    ).one()
    return Contender(state.leader_registration_id, state.current_price, row.placed_at, row.priority_rank)


async def end_proxies(session: AsyncSession, auction_ids: list[uuid.UUID], *, at: datetime) -> None:
    """At the close (or failure, or cancellation) every proxy becomes ``ended``, and its chain records its
    last maximum (readable by operators and the holder from now on)."""
    rows = (
        await session.execute(
            update(ProxyBid)
            .where(ProxyBid.auction_id.in_(auction_ids), ProxyBid.status != ProxyStatus.ended)
            .values(status=ProxyStatus.ended, updated_at=at)
            .returning(ProxyBid.id, ProxyBid.auction_id, ProxyBid.bidder_code, ProxyBid.max_amount)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for row in rows:
        await record(
            session,
            entity_type="proxy_bid",
            entity_id=row.id,
            action="ended",
            actor=SYSTEM_ACTOR,
            at=at,
            data={
                "auction_id": row.auction_id,
                "bidder_code": row.bidder_code,
                "max_amount": format_fen(row.max_amount),
            },
        )


_OPENING_STATE = select(*views.STATE_COLUMNS, *views.BID_EXTRAS, Auction.countdown_seconds).where(
    Auction.id == bindparam("p_id", type_=Uuid())
)


async def answer_opening(session: AsyncSession, auction_id: uuid.UUID, *, at: datetime) -> None:
    """At the opening the proxies set before it bid (SPEC §17.1): a lone one the start price, placed at
    ``starts_at``. The caller has just opened the auction in this transaction."""
    conn = await connection_of(session)
    row = (await conn.execute(_OPENING_STATE, {"p_id": auction_id})).one()
    state = SimpleNamespace(**row._mapping)
    automatic, leader_code = await answer(
        session, state, None, countdown_seconds=row.countdown_seconds, now=at, leader_code=None
    )
    led = [b.registration_id for b in automatic]
    await notices.outbid(session, state, led, leader_code=leader_code, at=at)


def _not_found() -> NotFound:
    return NotFound("You have no proxy on this auction.")


async def own_proxy(session: AsyncSession, auction_id: uuid.UUID, org_id: uuid.UUID | None) -> Any:
    """The caller's proxy with the auction's state, or 404 (operators and everyone without one alike)."""
    if org_id is None:
        raise _not_found()
    row = (
        await session.execute(
            select(
                ProxyBid,
                Auction.current_price,
                Auction.leader_registration_id,
                Auction.format,
            )
            .join(Auction, Auction.id == ProxyBid.auction_id)
            .join(Registration, Registration.id == ProxyBid.registration_id)
            .where(ProxyBid.auction_id == auction_id, Registration.organization_id == org_id)
        )
    ).first()
    if row is None:
        raise _not_found()
    return row


def format_supported(fmt: str) -> None:
    if AuctionFormat(fmt) != AuctionFormat.english:
        raise FormatNotSupported("Proxies are for English auctions only.")


# --- who reads a proxy's chain (SPEC §17.1) -----------------------------------------------------------------


def _holder(key: uuid.UUID) -> Any:
    return (
        select(Registration.organization_id)
        .join(ProxyBid, ProxyBid.registration_id == Registration.id)
        .where(ProxyBid.id == key)
    )


async def _sealed_now(session: AsyncSession) -> Callable[[str, Any], bool]:
    """Operators read a proxy's chain only once its auction is over: the chains of live auctions' proxies."""
    live = {
        str(i)
        for i in await session.scalars(
            select(Auction.id).where(Auction.has_proxies.is_(True), Auction.status.in_(OPEN_FOR_PROXIES))
        )
    }
    return lambda _entity_id, data: isinstance(data, dict) and str(data.get("auction_id")) in live


register_parties("proxy_bid", _holder)
seal_from_operators("proxy_bid", _sealed_now)
