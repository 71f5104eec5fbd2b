"""Deadlines of negotiation (SPEC §8, DESIGN.md "Deadlines"), registered with the sweeper at import.

* ``offer_expiry`` — an open offer whose ``expires_at`` has passed becomes ``expired`` as of that time.
* ``negotiation_end`` — a published negotiated listing whose period has ended is extended while extensions
  remain, else ``expired`` (``app.listings.service.extend_or_expire``); when it expires, its open offers
  expire with it. Offers without ``expires_at`` of an extended listing stay open: the listing's new end is
  their limit.

Each item is processed in its own transaction, claimed with ``FOR UPDATE SKIP LOCKED`` and re-checked under
the claim, so a second run (or another process) is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import SYSTEM_ACTOR, record
from app.deadlines.sweeper import Due, Outcome, SweepContext, register
from app.listings.service import extend_or_expire
from app.models.trading import OfferStatus
from app.negotiation import repository as repo

OFFER_EXPIRY = "offer_expiry"
NEGOTIATION_END = "negotiation_end"


async def _due_offers(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [Due(at, OFFER_EXPIRY, offer_id) for at, offer_id in await repo.lapsed_offers(session, now, limit)]


async def _expire_offer(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        offer = await repo.claim_lapsed_offer(session, item.id, now)
        if offer is None or offer.expires_at is None:
            return Outcome.skipped
        at = offer.expires_at
        offer.status, offer.updated_at = OfferStatus.expired, at
        await session.flush()
        await record(
            session,
            entity_type="offer",
            entity_id=offer.id,
            action="expired",
            actor=SYSTEM_ACTOR,
            at=at,
            data={"status": OfferStatus.expired},
        )
    return Outcome.handled


async def _due_listings(session: AsyncSession, now: datetime, limit: int) -> list[Due]:
    return [
        Due(at, NEGOTIATION_END, listing_id)
        for at, listing_id in await repo.ended_negotiations(session, now, limit)
    ]


async def _end_negotiation(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    async with ctx.db.transaction() as session:
        listing = await repo.claim_ended_negotiation(session, item.id, now)
        if listing is None or listing.listing_ends_at is None:
            return Outcome.skipped
        at = listing.listing_ends_at
        if await extend_or_expire(session, listing, at=at, calendar=ctx.calendar, actor=SYSTEM_ACTOR):
            # The new end may itself be due already: look again.
            return Outcome.spawned
        for offer_id in await repo.end_open_offers(session, listing.id, OfferStatus.expired, at=at):
            await record(
                session,
                entity_type="offer",
                entity_id=offer_id,
                action="expired",
                actor=SYSTEM_ACTOR,
                at=at,
                data={"status": OfferStatus.expired, "reason": "listing_expired"},
            )
    return Outcome.handled


register(OFFER_EXPIRY, _due_offers, _expire_offer)
register(NEGOTIATION_END, _due_listings, _end_negotiation)
