"""Priority holders (优先购买权, SPEC §17.2): registrants an operator confirms, before the auction opens, as
holding a right of first refusal, with a rank (1 comes first; several holders may share a rank).

``ranks`` is what the bid path asks; ``holder_first`` orders registrants for a listed listing that resolves to
a deal without an auction (SPEC §9 as amended by §17.2). Bidders stay anonymous (SPEC §20): a designation
shows the bidder code, never the organization, in responses and in the audit trail.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.listings import PriorityHolder
from app.models.trading import Registration, RegistrationStatus


async def ranks(session: AsyncSession, listing_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """registration_id → rank of the listing's priority holders whose registration is still ``qualified``
    (a holder disqualified or withdrawn loses the right, SPEC §17.2)."""
    rows = await session.execute(
        select(PriorityHolder.registration_id, PriorityHolder.rank)
        .join(Registration, Registration.id == PriorityHolder.registration_id)
        .where(
            PriorityHolder.listing_id == listing_id,
            Registration.status == RegistrationStatus.qualified,
        )
    )
    return {registration_id: rank for registration_id, rank in rows.all()}
