"""Statistics (SPEC §15). Turnover counts settled deals by price (技术合同成交金额); months are Shanghai
months, computed in Python from the UTC ``settled_at`` so SQLite and PostgreSQL agree."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.rules import day_range, month_key
from app.deals.rules import SETTLED
from app.kit.errors import NotFound
from app.kit.security import Principal
from app.models.accounts import Organization
from app.models.listings import Listing, ListingPatent
from app.models.patents import Patent
from app.models.settlement import LicenceRecord, TransferTask
from app.models.trading import Deal
from app.royalties.service import turnover as royalty_turnover
from app.stats import rules
from app.stats.schemas import GroupBy


async def turnover(
    session: AsyncSession, *, start: date | None, end: date | None, group_by: GroupBy
) -> list[tuple[str, int, int, int]]:
    """``(key, deals, amount, royalties)`` per group (amounts in fen), ordered by key: settled deals by price,
    plus royalties settled in the range (SPEC §18.4: counted in ``amount``, not in ``deals``). ``start``/``end``
    are inclusive Shanghai days of settlement. Deals without a listing (open licences) have pricing mode
    ``open_license``."""
    deals = await _deal_turnover(session, start=start, end=end, group_by=group_by)
    royalties = await royalty_turnover(session, start=start, end=end, group_by=group_by)
    counts = {k: (n, amount) for k, n, amount in deals}
    return [
        (k, counts.get(k, (0, 0))[0], counts.get(k, (0, 0))[1] + royalties.get(k, 0), royalties.get(k, 0))
        for k in sorted(counts.keys() | royalties.keys())
    ]


async def _deal_turnover(
    session: AsyncSession, *, start: date | None, end: date | None, group_by: GroupBy
) -> list[tuple[str, int, int]]:
    low, high = day_range(start, end)
    filters: list[Any] = [Deal.status.in_(SETTLED), Deal.settled_at.is_not(None)]
    if low is not None:
        filters.append(Deal.settled_at >= low)
    if high is not None:
        filters.append(Deal.settled_at < high)
    if group_by == "month":
        rows = (await session.execute(select(Deal.settled_at, Deal.price).where(*filters))).all()
        return _grouped((month_key(at), price) for at, price in rows if at is not None)
    if group_by == "transaction_kind":
        key: Any = Deal.transaction_kind
        query = select(key, func.count(), func.sum(Deal.price)).where(*filters)
    elif group_by == "pricing_mode":
        key = func.coalesce(Listing.pricing_mode, Deal.source)
        query = (
            select(key, func.count(), func.sum(Deal.price))
            .select_from(Deal)
            .outerjoin(Listing, Listing.id == Deal.listing_id)
            .where(*filters)
        )
    else:
        key = Organization.kind
        query = (
            select(key, func.count(), func.sum(Deal.price))
            .select_from(Deal)
            .join(Organization, Organization.id == Deal.seller_org_id)
            .where(*filters)
        )
    grouped = (await session.execute(query.group_by(key))).all()
    return sorted((str(k), int(n), int(total or 0)) for k, n, total in grouped)


def _grouped(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int, int]]:
    counts: dict[str, int] = defaultdict(int)
    sums: dict[str, int] = defaultdict(int)
    for key, price in pairs:
        counts[key] += 1
        sums[key] += price
    return [(k, counts[k], sums[k]) for k in sorted(counts)]


async def organization_stats(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID
) -> dict[str, Any]:
    """An organization's patents held, listed and transacted, and its industrialization rate. Its members
    and operators only (anyone else 404)."""
    if not principal.is_operator and principal.organization_id != org_id:
        raise NotFound("No such organization.")
    if await session.get(Organization, org_id) is None:
        raise NotFound("No such organization.")
    held = int(
        await session.scalar(select(func.count()).select_from(Patent).where(Patent.owner_org_id == org_id))
        or 0
    )
    listed = int(
        await session.scalar(
            select(func.count(distinct(ListingPatent.patent_id)))
            .select_from(ListingPatent)
            .join(Listing, Listing.id == ListingPatent.listing_id)
            .where(Listing.seller_org_id == org_id, Listing.published_at.is_not(None))
        )
        or 0
    )
    # Every settled deal leaves a transfer task (assignment) or a licence record (licences, open licences
    # included), each naming its patents: together they are the patents transacted as seller.
    assigned: set[str] = set()
    for ids in (
        await session.scalars(select(TransferTask.patent_ids).where(TransferTask.from_org_id == org_id))
    ).all():
        assigned.update(ids)
    licensed: set[str] = set()
    for ids in (
        await session.scalars(
            # A trial's own licence record (no deal) counts nowhere (SPEC §18.3).
            select(LicenceRecord.patent_ids).where(
                LicenceRecord.licensor_org_id == org_id, LicenceRecord.deal_id.is_not(None)
            )
        )
    ).all():
        licensed.update(ids)
    transacted = assigned | licensed
    return {
        "organization_id": org_id,
        "patents_held": held,
        "patents_listed": listed,
        "patents_transacted": len(transacted),
        "patents_assigned_away": len(assigned),
        "industrialization_rate": rules.industrialization_rate(len(transacted), held, len(assigned)),
    }
