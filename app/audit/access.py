"""Which organizations are parties to an audited entity (SPEC §15: a party sees the events of its own deals
and listings). Each entity type names its model and the columns holding its parties' organization ids;
later domains add themselves with ``register_party_columns``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.accounts import Organization
from app.models.listings import Listing
from app.models.patents import Patent
from app.models.trading import Deal, Offer, Registration

_PARTIES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "organization": (Organization, ("id",)),
    "patent": (Patent, ("owner_org_id",)),
    "listing": (Listing, ("seller_org_id",)),
    "deal": (Deal, ("buyer_org_id", "seller_org_id")),
    "registration": (Registration, ("organization_id",)),
    "offer": (Offer, ("buyer_org_id",)),
}


def register_party_columns(entity_type: str, model: Any, *columns: str) -> None:
    _PARTIES[entity_type] = (model, columns)


async def is_party(session: AsyncSession, entity_type: str, entity_id: str, org_id: uuid.UUID) -> bool:
    if entity_type not in _PARTIES:
        return False
    model, columns = _PARTIES[entity_type]
    try:
        key = uuid.UUID(entity_id)
    except ValueError:
        return False
    row = (
        await session.execute(select(*[getattr(model, c) for c in columns]).where(model.id == key))
    ).first()
    return row is not None and org_id in tuple(row)
