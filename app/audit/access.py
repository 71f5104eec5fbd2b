"""Who may read an audited entity's chain, and which of its events (SPEC §15, §20 "Confidentiality").

A party sees the events of its own deals and listings (§15): each entity type maps to a query of the
organizations that may read its chain (``readers``). Some chains also concern organizations whose identity
the other readers may not learn (§20): registrants (bidders are anonymous to the seller and to each other
until a deal names the winner) and objectors (known to operators and to themselves only). Each entity type
may name them with a second query (``confidential``); later domains add theirs with ``register_parties``.

How an event that names a confidential organization is handled: it is **withheld** from every reader other
than operators and that organization, never rewritten. Its ``data`` and ``actor`` are hashed into the chain,
so a redacted copy could not be verified, and operators need the original. An event "names" an
organization when its actor is one of that organization's users, or when a value anywhere in its data is the
organization's id, name or credit code, or one of its users' id, email or name (``names``). The chain owner
still sees the events that name nobody hidden: the seller follows a registration's review (``qualified``,
``disqualified``, deposit outcomes) and an auction's life, but not ``registered``, ``withdrawn`` or
``bid_accepted``, whose actor is the bidder's user; the deal's parties see an objection's resolution but not
its filing. Bids stay readable by bidder code through the auction's own routes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from app.models.accounts import Organization, User
from app.models.contracts import Objection
from app.models.listings import Listing
from app.models.owners import PatentOwner
from app.models.patents import Patent
from app.models.policy import OpenLicense, Pledge
from app.models.trading import Auction, Deal, Offer, Registration

PartiesQuery = Callable[[uuid.UUID], Executable]

_READERS: dict[str, PartiesQuery] = {
    "organization": lambda key: select(Organization.id).where(Organization.id == key),
    # A patent concerns every organization owner (SPEC §18.5): its owners and empowerments are on its chain.
    "patent": lambda key: union(
        select(Patent.owner_org_id).where(Patent.id == key),
        select(PatentOwner.organization_id).where(
            PatentOwner.patent_id == key, PatentOwner.organization_id.is_not(None)
        ),
    ),
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


def _hidden_from_deal_parties(key: uuid.UUID) -> Executable:
    """The registrants of a deal's listing other than its two parties (the losers stay anonymous after the
    deal names the winner) and the deal's objectors. The parties themselves are never hidden from each
    other on the deal's chain: should one of them object, its objection events are readable by both."""
    not_a_party = (Deal.buyer_org_id, Deal.seller_org_id)
    registrants = (
        select(Registration.organization_id.label("org"))
        .join(Deal, Deal.listing_id == Registration.listing_id)
        .where(Deal.id == key, Registration.organization_id.not_in(not_a_party))
    )
    objectors = (
        select(Objection.organization_id.label("org"))
        .join(Deal, Deal.id == Objection.deal_id)
        .where(Deal.id == key, Objection.organization_id.not_in(not_a_party))
    )
    return union(registrants, objectors)


_CONFIDENTIAL: dict[str, PartiesQuery] = {
    "registration": lambda key: select(Registration.organization_id).where(Registration.id == key),
    "listing": lambda key: select(Registration.organization_id).where(Registration.listing_id == key),
    "auction": lambda key: (
        select(Registration.organization_id)
        .join(Auction, Auction.listing_id == Registration.listing_id)
        .where(Auction.id == key)
    ),
    "deal": _hidden_from_deal_parties,
}


# Chains that only the reading organizations' admins may read, not their other members (SPEC §17.6: webhooks).
_ADMINS_ONLY: set[str] = set()


def register_parties(
    entity_type: str,
    readers: PartiesQuery,
    *,
    confidential: PartiesQuery | None = None,
    admins_only: bool = False,
) -> None:
    """``readers``: the organizations that may read the entity's chain; ``confidential``: those among the
    organizations its events may name that the other readers may not learn (objectors, registrants);
    ``admins_only``: of those organizations, only their admins read it."""
    _READERS[entity_type] = readers
    if confidential is not None:
        _CONFIDENTIAL[entity_type] = confidential
    if admins_only:
        _ADMINS_ONLY.add(entity_type)


# Chains operators may not read yet (SPEC §17.1: a proxy's chain until its auction is over). For an entity
# type, a function that reads which of its events are sealed now: it returns a predicate over an event's
# ``(entity_id, data)``.
SealedNow = Callable[[AsyncSession], Awaitable[Callable[[str, Any], bool]]]
_SEALED_FROM_OPERATORS: dict[str, SealedNow] = {}


def seal_from_operators(entity_type: str, sealed_now: SealedNow) -> None:
    _SEALED_FROM_OPERATORS[entity_type] = sealed_now


async def operator_view(session: AsyncSession) -> Callable[[str, str, Any], bool] | None:
    """Which events operators may read now: ``(entity_type, entity_id, data) -> bool``, None for all."""
    if not _SEALED_FROM_OPERATORS:
        return None
    sealed = {kind: await read(session) for kind, read in _SEALED_FROM_OPERATORS.items()}

    def shows(entity_type: str, entity_id: str, data: Any) -> bool:
        test = sealed.get(entity_type)
        return test is None or not test(entity_id, data)

    return shows


@dataclass(frozen=True)
class Concealed:
    """The identities of the organizations a reader may not learn, case-folded: ``tokens`` (organization
    and user ids, organization names, credit codes, emails) are matched anywhere inside a value,
    ``person_names`` only as a whole value (a two-character personal name inside a title or a reason is no
    proof of naming)."""

    tokens: frozenset[str]
    person_names: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def names(self, actor: str, data: Any) -> bool:
        """Whether an event with this actor and data names one of the concealed organizations (pure)."""
        for value in (actor, *_strings(data)):
            folded = value.casefold()
            if folded in self.person_names or any(token in folded for token in self.tokens):
                return True
        return False


def _strings(value: Any) -> Iterator[str]:
    """Every string value (not key) inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


async def _concealed(session: AsyncSession, org_ids: Iterable[uuid.UUID]) -> Concealed:
    wanted = list(set(org_ids))
    tokens: set[str] = set()
    person_names: set[str] = set()
    if wanted:
        for org in await session.execute(
            select(Organization.id, Organization.name, Organization.credit_code).where(
                Organization.id.in_(wanted)
            )
        ):
            tokens.update((str(org.id), org.name, org.credit_code))
        for user in await session.execute(
            select(User.id, User.email, User.name).where(User.organization_id.in_(wanted))
        ):
            tokens.update((str(user.id), user.email))
            person_names.add(user.name)
    return Concealed(
        frozenset(t.casefold() for t in tokens if t and t.strip()),
        frozenset(n.casefold() for n in person_names if n and n.strip()),
    )


async def _orgs(session: AsyncSession, query: Executable) -> set[uuid.UUID]:
    return {org for row in (await session.execute(query)).all() for org in row if org is not None}


async def reader_view(
    session: AsyncSession, entity_type: str, entity_id: str, org_id: uuid.UUID, *, admin: bool = True
) -> Concealed | None:
    """What a member of ``org_id`` (an admin of it when ``admin``) may not learn from the entity's chain, or
    None if it may not read the chain at all (not a reader: 404 for the caller). An empty ``Concealed`` means
    every event is readable."""
    if entity_type not in _READERS or (entity_type in _ADMINS_ONLY and not admin):
        return None
    try:
        key = uuid.UUID(entity_id)
    except ValueError:
        return None
    if org_id not in await _orgs(session, _READERS[entity_type](key)):
        return None
    confidential = _CONFIDENTIAL.get(entity_type)
    hidden = await _orgs(session, confidential(key)) if confidential is not None else set()
    return await _concealed(session, hidden - {org_id})


async def is_party(session: AsyncSession, entity_type: str, entity_id: str, org_id: uuid.UUID) -> bool:
    """Whether the organization may read the entity's chain (some of its events may still be withheld)."""
    return await reader_view(session, entity_type, entity_id, org_id) is not None
