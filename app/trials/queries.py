"""Read-only trial look-ups used by other domains (open licensing, listings, settlement). Models only, so any
service may import this without an import cycle."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.rules import add_months
from app.kit.workdays import SHANGHAI
from app.models.listings import EXCLUSIVE_KINDS
from app.models.trading import Deal, DealStatus
from app.models.trials import Trial, TrialOffer, TrialOfferStatus, TrialStatus
from app.trials import rules

# A conversion deal holds its patent like an active listing until it is settled, cancelled or defaulted.
UNSETTLED = (
    DealStatus.public_notice,
    DealStatus.awaiting_signatures,
    DealStatus.awaiting_payment,
    DealStatus.paid,
)
SETTLED = (DealStatus.settled, DealStatus.completed)


async def exclusive_licence_held(session: AsyncSession, patent_id: uuid.UUID, today: date) -> bool:
    """An exclusive or sole licence of the patent through a trial is in force or on offer (SPEC §18.3): a
    ``trial_active`` sole or exclusive trial, a conversion deal of that kind not yet settled, cancelled or
    defaulted, or a settled one whose licence term (from settlement) still runs."""
    kinds = sorted(rules.EXCLUSIVE_TRIAL_KINDS)
    active = await session.scalar(
        select(
            exists().where(
                Trial.patent_id == patent_id, Trial.status == TrialStatus.trial_active, Trial.kind.in_(kinds)
            )
        )
    )
    if active:
        return True
    rows = (
        await session.execute(
            select(Deal.status, Deal.settled_at, Deal.updated_at, Trial.conversion)
            .join(Trial, Trial.id == Deal.trial_id)
            .where(
                Trial.patent_id == patent_id,
                Deal.transaction_kind.in_(kinds),
                Deal.status.in_([*UNSETTLED, *SETTLED]),
            )
        )
    ).all()
    for status, settled_at, updated_at, conversion in rows:
        if status in UNSETTLED:
            return True
        term = (conversion or {}).get("term_months")
        if not term:
            return True
        start = (settled_at or updated_at).astimezone(SHANGHAI).date()
        if add_months(start, int(term)) > today:
            return True
    return False


async def converting(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """Patents among these held by a trial's conversion deal of an exclusive kind until it is settled,
    cancelled or defaulted (SPEC §18.3: it counts as an active listing of that kind, §5 ``patent_already_listed``)."""
    if not patent_ids:
        return []
    rows = await session.scalars(
        select(Trial.patent_id)
        .join(Deal, Deal.trial_id == Trial.id)
        .where(
            Trial.patent_id.in_(list(patent_ids)),
            Deal.transaction_kind.in_([str(k) for k in EXCLUSIVE_KINDS]),
            Deal.status.in_(UNSETTLED),
        )
        .distinct()
    )
    return sorted(rows.all())


async def in_trial(session: AsyncSession, patent_id: uuid.UUID) -> str | None:
    """Why the patent is committed to a trial (SPEC §18.3), or None: a live (``pending_review`` or ``offered``)
    offer, a ``trial_active`` trial (its offer may be withdrawn, it still converts on the offer's terms) or a
    conversion deal not yet settled, cancelled or defaulted. Its conversion is settled on the offer's consents
    and pledges (SPEC §18.5, §14), which can no longer be given once the offer is offered: a right that would
    need them is refused meanwhile (409 ``patent_locked``)."""
    live = [TrialOfferStatus.pending_review.value, TrialOfferStatus.offered.value]
    if await session.scalar(
        select(exists().where(TrialOffer.patent_id == patent_id, TrialOffer.status.in_(live)))
    ):
        return "The patent is in a live trial offer."
    if await session.scalar(
        select(exists().where(Trial.patent_id == patent_id, Trial.status == TrialStatus.trial_active.value))
    ):
        return "The patent is in an active trial."
    converting_deal = exists().where(
        Trial.patent_id == patent_id,
        Deal.trial_id == Trial.id,
        Deal.status.in_([s.value for s in UNSETTLED]),
    )
    if await session.scalar(select(converting_deal)):
        return "The patent is in a trial's unsettled conversion deal."
    return None


async def offer_of_deal(session: AsyncSession, deal: Deal) -> uuid.UUID | None:
    """The trial offer a trial's conversion deal was made under (None for any other deal): the subject of its
    owners' and pledgee's consents (SPEC §18.3, §18.5, §14)."""
    if deal.trial_id is None:
        return None
    return await session.scalar(select(Trial.trial_offer_id).where(Trial.id == deal.trial_id))


@dataclass(frozen=True)
class ConversionTerms:
    """What the settlement of a trial's conversion deal records: its patent and the licence terms."""

    patent_ids: list[uuid.UUID]
    term_months: int | None
    territory: str | None
    field_of_use: str | None
    royalty: dict[str, Any] | None


async def conversion_terms(session: AsyncSession, deal: Deal) -> ConversionTerms | None:
    """The agreed terms of a trial's conversion deal (None for any other deal): its settlement creates a licence
    record with them, royalty terms included (SPEC §18.3, §18.4)."""
    if deal.trial_id is None:
        return None
    row = (
        await session.execute(
            select(Trial.patent_id, Trial.conversion, TrialOffer.territory, TrialOffer.field_of_use)
            .join(TrialOffer, TrialOffer.id == Trial.trial_offer_id)
            .where(Trial.id == deal.trial_id)
        )
    ).first()
    if row is None:
        return None
    patent_id, conversion, territory, field_of_use = row
    licence = rules.Conversion.of(conversion).type != rules.ConversionType.assignment
    return ConversionTerms(
        patent_ids=[patent_id],
        term_months=rules.deal_terms("", conversion).term_months,
        territory=territory if licence else None,
        field_of_use=field_of_use if licence else None,
        royalty=rules.royalty_terms(conversion),
    )
