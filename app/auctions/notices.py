"""What auctions tell organizations (SPEC §17.4): ``auction_opening``, ``auction_ending_soon`` and
``auction_closed``, each through the outbox in the transaction of the change (the opening, the sweeper's claim,
the close). ``outbid`` is written by the bid path itself (``service``). Bidders appear by code only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import connection_of
from app.kit.money import format_fen
from app.models.trading import Auction, AuctionStatus, Registration, RegistrationStatus
from app.notifications.outbox import notify
from app.notifications.service import watchers

ENDING_SOON = timedelta(minutes=10)


async def _registrants(session: AsyncSession, listing_id: uuid.UUID, *, qualified: bool) -> list[uuid.UUID]:
    query = select(Registration.organization_id).where(Registration.listing_id == listing_id)
    if qualified:
        query = query.where(Registration.status == RegistrationStatus.qualified)
    return list((await session.scalars(query)).all())


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def opening(session: AsyncSession, auction: Auction, *, at: datetime) -> None:
    """``auction_opening`` to qualified registrants and watchers; ``auction_ending_soon`` at once as well when
    less than ten minutes are left."""
    told = await _registrants(session, auction.listing_id, qualified=True)
    told += await watchers(session, auction.listing_id)
    await notify(
        session,
        "auction_opening",
        told,
        {
            "auction_id": str(auction.id),
            "listing_id": str(auction.listing_id),
            "format": str(auction.format),
            "starts_at": _iso(auction.starts_at),
            "ends_at": _iso(auction.ends_at),
        },
        at=at,
    )
    if auction.ends_at is not None and auction.ends_at - ENDING_SOON <= at:
        await ending_soon(session, auction.id, at=at)


_CLAIM_ENDING_SOON = (
    update(Auction)
    .where(Auction.status == AuctionStatus.open, Auction.ending_soon_notified.is_(False))
    .values(ending_soon_notified=True)
    .returning(Auction.id, Auction.listing_id, Auction.ends_at)
    .execution_options(synchronize_session=False)
)


async def ending_soon(session: AsyncSession, auction_id: uuid.UUID, *, at: datetime) -> bool:
    """``auction_ending_soon``, once per auction (the flag on the row is the claim). False: sent already."""
    row = (await session.execute(_CLAIM_ENDING_SOON.where(Auction.id == auction_id))).first()
    if row is None:
        return False
    told = await _registrants(session, row.listing_id, qualified=True)
    told += await watchers(session, row.listing_id)
    data = {"auction_id": str(row.id), "listing_id": str(row.listing_id), "ends_at": _iso(row.ends_at)}
    await notify(session, "auction_ending_soon", told, data, at=at)
    return True


async def closed(
    session: AsyncSession,
    auction_id: uuid.UUID,
    listing_id: uuid.UUID,
    seller_org_id: uuid.UUID,
    *,
    status: AuctionStatus,
    winner_code: str | None,
    price: int | None,
    registrants: Iterable[Any],
    at: datetime,
) -> None:
    """``auction_closed`` to the registrants, the watchers and the seller."""
    told = [r.organization_id for r in registrants] + await watchers(session, listing_id) + [seller_org_id]
    await notify(
        session,
        "auction_closed",
        told,
        {
            "auction_id": str(auction_id),
            "listing_id": str(listing_id),
            "status": str(status),
            "winner_bidder_code": winner_code,
            "price": format_fen(price) if price is not None else None,
        },
        at=at,
    )


_OUTBID = select(Registration.id, Registration.organization_id, Registration.bidder_code).where(
    Registration.id.in_(bindparam("p_ids", expanding=True))
)


async def outbid(
    session: AsyncSession,
    state: Any,
    led: Iterable[uuid.UUID | None],
    *,
    leader_code: str | None,
    at: datetime,
    known: Mapping[uuid.UUID, tuple[uuid.UUID, str]] | None = None,
) -> None:
    """``outbid`` (SPEC §17.4) to each organization that led before or during the transaction (``led``: their
    registrations) and does not lead after it (``state.leader_registration_id``), with its own bidder code.
    ``known``: (organization, bidder code) of registrations the caller has read already."""
    registrations = {r for r in led if r is not None} - {state.leader_registration_id}
    if not registrations:
        return
    facts = {r: known[r] for r in registrations if known and r in known}
    if missing := registrations - facts.keys():
        # Core on the session's connection: this runs on bids that outbid someone, where the ORM session's
        # execute cost more than the statement.
        rows = (await (await connection_of(session)).execute(_OUTBID, {"p_ids": list(missing)})).all()
        facts |= {row.id: (row.organization_id, row.bidder_code) for row in rows}
    for kind, told, data in outbid_notices(state, facts.values(), leader_code=leader_code):
        await notify(session, kind, told, data, at=at)


def outbid_notices(
    state: Any, outbid: Iterable[tuple[uuid.UUID, str]], *, leader_code: str | None
) -> list[tuple[str, list[uuid.UUID], dict[str, Any]]]:
    """The ``outbid`` notices ``(kind, recipients, data)`` to the organizations ``outbid`` (with their
    bidder codes) by the auction's ``state``, which ``leader_code`` leads."""
    return [
        (
            "outbid",
            [organization_id],
            {
                "auction_id": str(state.id),
                "listing_id": str(state.listing_id),
                "bidder_code": bidder_code,
                "current_price": format_fen(state.current_price),
                "leading_bidder_code": leader_code,
            },
        )
        for organization_id, bidder_code in outbid
    ]
