"""Contract generation (SPEC §11): a new deal's contract, in the deal's own transaction. Apart from the deal's
life (``app.contracts.service``) so that making a deal (``app.deals.service.create_deal``) needs nothing that
moves one."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contracts import rules, templates
from app.kit.workdays import SHANGHAI
from app.models.accounts import Organization
from app.models.contracts import Contract, ContractStatus
from app.models.listings import Listing, ListingPatent
from app.models.patents import Patent
from app.models.trading import Deal

_PATENTS_OF_LISTINGS = (
    select(ListingPatent.listing_id, Patent.application_number, Patent.title, Patent.grant_date)
    .join(Patent, Patent.id == ListingPatent.patent_id)
    .where(ListingPatent.listing_id.in_(bindparam("p_listings", expanding=True, type_=Uuid())))
    .order_by(ListingPatent.listing_id, ListingPatent.position, Patent.application_number)
)


async def patents_of(
    session: AsyncSession, listing_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[templates.PatentFacts]]:
    """The patents each listing's contract names, in the listing's order: one SELECT for many listings."""
    out: dict[uuid.UUID, list[templates.PatentFacts]] = {i: [] for i in listing_ids}
    if listing_ids:
        for row in await session.execute(_PATENTS_OF_LISTINGS, {"p_listings": list(listing_ids)}):
            out[row.listing_id].append(
                templates.PatentFacts(row.application_number, row.title, row.grant_date is not None)
            )
    return out


def contract_values(
    deal: Mapping[str, Any],
    *,
    seller: templates.PartyFacts,
    buyer: templates.PartyFacts,
    patents: list[templates.PatentFacts],
    license_terms: dict[str, Any] | None,
    at: datetime,
) -> dict[str, Any]:
    """Every column of a new deal's contract (``deal``: its column values): the text from the template of its
    transaction kind and the SHA-256 the parties will sign. Pure, so a batch of deals is rendered alike."""
    text = templates.render(
        templates.ContractFacts(
            deal_id=str(deal["id"]),
            transaction_kind=str(deal["transaction_kind"]),
            source=str(deal["source"]),
            seller=seller,
            buyer=buyer,
            patents=patents,
            price=deal["price"],
            deposit=deal["deposit_applied"],
            buyer_fee=deal["buyer_fee"],
            amount_due=deal["amount_due"],
            made_on=at.astimezone(SHANGHAI).date(),
            license_terms=license_terms,
            seller_fee=deal["seller_fee"],
            equity=deal.get("equity"),
        )
    )
    return {
        "id": uuid.uuid4(),
        "deal_id": deal["id"],
        "transaction_kind": deal["transaction_kind"],
        "text": text,
        "sha256": rules.contract_hash(text),
        "status": ContractStatus.awaiting_signatures,
        "created_at": at,
        "updated_at": at,
    }


async def generate_contract(session: AsyncSession, deal: Deal, listing: Listing, *, at: datetime) -> Contract:
    """The contract of a new deal, in the deal's transaction; sets ``deal.contract_id``."""
    patents = await patents_of(session, [listing.id])
    return await _generate(session, deal, patents[listing.id], listing.license_terms, at=at)


async def generate_contract_of_patents(
    session: AsyncSession,
    deal: Deal,
    patent_ids: Sequence[uuid.UUID],
    license_terms: dict[str, Any] | None,
    *,
    at: datetime,
) -> Contract:
    """The contract of a new deal without a listing (a trial's conversion, SPEC §18.3), naming ``patent_ids`` in
    that order with these licence terms; sets ``deal.contract_id``."""
    rows = {
        p.id: templates.PatentFacts(p.application_number, p.title, p.grant_date is not None)
        for p in await session.scalars(select(Patent).where(Patent.id.in_(list(patent_ids))))
    }
    return await _generate(session, deal, [rows[i] for i in patent_ids], license_terms, at=at)


async def _generate(
    session: AsyncSession,
    deal: Deal,
    patents: list[templates.PatentFacts],
    license_terms: dict[str, Any] | None,
    *,
    at: datetime,
) -> Contract:
    orgs = {
        o.id: templates.PartyFacts(o.name, o.credit_code)
        for o in await session.scalars(
            select(Organization).where(Organization.id.in_([deal.seller_org_id, deal.buyer_org_id]))
        )
    }
    facts = {
        "id": deal.id,
        "transaction_kind": deal.transaction_kind,
        "source": deal.source,
        "price": deal.price,
        "deposit_applied": deal.deposit_applied,
        "buyer_fee": deal.buyer_fee,
        "seller_fee": deal.seller_fee,
        "amount_due": deal.amount_due,
        "equity": deal.equity,
    }
    contract = Contract(
        **contract_values(
            facts,
            seller=orgs[deal.seller_org_id],
            buyer=orgs[deal.buyer_org_id],
            patents=patents,
            license_terms=license_terms,
            at=at,
        )
    )
    session.add(contract)
    deal.contract_id = contract.id
    await session.flush()
    return contract
