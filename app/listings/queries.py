"""The listings a caller may see and the patents an active listing holds: read-only queries that other domains
use (offers, registrations, demands, watch lists, trials) without the listings repository, and the facts of a
listing's patents that its page shows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.security import Principal
from app.models.listings import ACTIVE_STATUSES, EXCLUSIVE_KINDS, PUBLIC_STATUSES, Listing, ListingPatent
from app.models.patents import Patent
from app.trials import queries as trials


def is_public() -> ColumnElement[bool]:
    """Published-or-later (SPEC §5). A draft withdrawn before publication was never public and stays hidden."""
    return and_(Listing.status.in_([s.value for s in PUBLIC_STATUSES]), Listing.published_at.is_not(None))


class Audience(Enum):
    """Who sees which listings: the public (anonymous callers and users without an organization) the
    public listings, a member of an organization also its own, operators everything."""

    public = "public"
    member = "member"
    operator = "operator"


def audience(principal: Principal | None) -> Audience:
    if principal is not None and principal.is_operator:
        return Audience.operator
    if principal is not None and principal.organization_id is not None:
        return Audience.member
    return Audience.public


def visibility(who: Audience, organization: Any) -> ColumnElement[bool] | None:
    """The condition of what ``who`` may see; ``organization``: the member's organization id, or a bind
    parameter for it in a statement built once."""
    if who is Audience.operator:
        return None
    if who is Audience.member:
        return or_(is_public(), Listing.seller_org_id == organization)
    return is_public()


def visible_to(principal: Principal | None) -> ColumnElement[bool] | None:
    """What a caller may see: everyone the public listings, the seller its own, operators everything."""
    return visibility(audience(principal), principal.organization_id if principal is not None else None)


async def get_visible(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, *, for_update: bool = False
) -> Listing | None:
    query = select(Listing).where(Listing.id == listing_id)
    condition = visible_to(principal)
    if condition is not None:
        query = query.where(condition)
    if for_update:
        query = query.with_for_update()
    result: Listing | None = await session.scalar(query)
    return result


async def listed_elsewhere(
    session: AsyncSession, patent_ids: Sequence[uuid.UUID], exclude_listing_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Patents of ``patent_ids`` held by another active assignment/exclusive/sole listing (SPEC §5), or by a trial's
    conversion deal of such a kind until it is settled, cancelled or defaulted (§18.3)."""
    query = (
        select(ListingPatent.patent_id)
        .join(Listing, Listing.id == ListingPatent.listing_id)
        .where(
            ListingPatent.patent_id.in_(list(patent_ids)),
            Listing.status.in_([s.value for s in ACTIVE_STATUSES]),
            Listing.transaction_kind.in_([k.value for k in EXCLUSIVE_KINDS]),
        )
        .distinct()
    )
    if exclude_listing_id is not None:
        query = query.where(Listing.id != exclude_listing_id)
    taken = set((await session.scalars(query)).all()) | set(await trials.converting(session, patent_ids))
    return [p for p in dict.fromkeys(patent_ids) if p in taken]


async def patent_facts(
    session: AsyncSession, listing_id: uuid.UUID
) -> dict[uuid.UUID, tuple[list[str], date]]:
    """The IPC codes and the expiry of each patent of a listing, which its page shows beside the API's brief
    (SPEC §19.4); the caller has checked that the listing is visible."""
    rows = await session.execute(
        select(Patent.id, Patent.ipc_codes, Patent.expires_on)
        .join(ListingPatent, ListingPatent.patent_id == Patent.id)
        .where(ListingPatent.listing_id == listing_id)
    )
    return {patent_id: (list(codes), expires_on) for patent_id, codes, expires_on in rows}
