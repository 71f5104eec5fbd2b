"""Which organizations are parties to an audited entity (SPEC §15: a party sees the events of its own deals
and listings). Each entity type maps to a query of its parties' organization ids; later domains add theirs
with ``register_parties``."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from app.models.accounts import Organization
from app.models.listings import Listing
from app.models.patents import Patent
from app.models.policy import OpenLicense, Pledge
from app.models.trading import Auction, Deal, Offer, Registration

PartiesQuery = Callable[[uuid.UUID], Executable]

_PARTIES: dict[str, PartiesQuery] = {
    "organization": lambda key: select(Organization.id).where(Organization.id == key),
    "patent": lambda key: select(Patent.owner_org_id).where(Patent.id == key),
    "listing": lambda key: select(Listing.seller_org_id).where(Listing.id == key),
    "deal": lambda key: select(Deal.buyer_org_id, Deal.seller_org_id).where(Deal.id == key),
    # A registration and an offer concern the buyer and the listing's seller.
    "registration": lambda key: (
        select(Registration.organization_id, Listing.seller_org_id)
        .join(Listing, Listing.id == Registration.listing_id)
        .where(Registration.id == key)
    ),
    "offer": lambda key: (
        select(Offer.buyer_org_id, Listing.seller_org_id)
        .join(Listing, Listing.id == Offer.listing_id)
        .where(Offer.id == key)
    ),
    "auction": lambda key: (
        select(Listing.seller_org_id).join(Auction, Auction.listing_id == Listing.id).where(Auction.id == key)
    ),
    # An open licence concerns its owner (licensees see their licence's deal); a pledge both its parties.
    "open_license": lambda key: select(OpenLicense.owner_org_id).where(OpenLicense.id == key),
    "pledge": lambda key: select(Pledge.pledgor_org_id, Pledge.pledgee_org_id).where(Pledge.id == key),
}


def register_parties(entity_type: str, query: PartiesQuery) -> None:
    _PARTIES[entity_type] = query


async def is_party(session: AsyncSession, entity_type: str, entity_id: str, org_id: uuid.UUID) -> bool:
    if entity_type not in _PARTIES:
        return False
    try:
        key = uuid.UUID(entity_id)
    except ValueError:
        return False
    row = (await session.execute(_PARTIES[entity_type](key))).first()
    return row is not None and org_id in tuple(row)
