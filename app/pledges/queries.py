"""Read-only pledge look-ups used by other domains (listings, patents, licensing, settlement). Models only,
so any service may import this without an import cycle."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.policy import Pledge, PledgeConsent, PledgeStatus


async def pledged(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these patents are under an active pledge."""
    if not patent_ids:
        return set()
    rows = await session.scalars(
        select(Pledge.patent_id).where(
            Pledge.patent_id.in_(list(patent_ids)), Pledge.status == PledgeStatus.active
        )
    )
    return set(rows.all())


async def unconsented(
    session: AsyncSession,
    patent_ids: Collection[uuid.UUID],
    *,
    listing_id: uuid.UUID | None = None,
    open_license_id: uuid.UUID | None = None,
    trial_offer_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Patents among these under an active pledge whose pledgee has not consented to this listing (or this
    open-licence declaration, or this trial offer) — SPEC §14, §18.3, 民法典 art. 444. Sorted, for stable
    messages."""
    if not patent_ids:
        return []
    if listing_id is not None:
        target = PledgeConsent.listing_id == listing_id
    elif open_license_id is not None:
        target = PledgeConsent.open_license_id == open_license_id
    else:
        target = PledgeConsent.trial_offer_id == trial_offer_id
    consented = exists().where(and_(PledgeConsent.pledge_id == Pledge.id, target))
    rows = await session.scalars(
        select(Pledge.patent_id).where(
            Pledge.patent_id.in_(list(patent_ids)), Pledge.status == PledgeStatus.active, ~consented
        )
    )
    return sorted(set(rows.all()))
