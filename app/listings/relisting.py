"""Relisting (重新挂牌, SPEC §17.3; 法释〔2016〕18号 art 26): after a listing ends ``failed`` or ``expired`` its
seller may list the same object again, once per listing, within 30 days, at no less than 80% of the price.

The relist is a new ``draft`` copying the old listing's terms (the reserve included), with ``price`` and
``deposit`` replaced when given, linked both ways (``previous_listing_id``/``next_listing_id``); from there §5
applies as usual, with the chain's own checks at PATCH and submission (``app.listings.chain``). The old row is
locked, and ``previous_listing_id`` is unique, so of two relists racing one wins and the other gets 409
``already_relisted``. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from app.kit.security import Principal
from app.listings import chain, queries, rules, schemas, service
from app.listings import repository as repo
from app.models.listings import Listing, ListingStatus


class AlreadyRelisted(Conflict):
    code = "already_relisted"


class RelistWindowClosed(Conflict):
    code = "relist_window_closed"


async def relist(
    session: AsyncSession,
    principal: Principal,
    listing_id: uuid.UUID,
    data: schemas.RelistIn,
    clock: Clock,
) -> Listing:
    """``POST /listings/{id}/relist``: 404 when the caller may not see the listing, 403 ``forbidden`` for anyone
    but the seller, 409 ``invalid_state`` unless ``failed``/``expired``, 409 ``already_relisted``, 409
    ``relist_window_closed`` after ``relist_by``; the new terms are validated as at creation (422
    ``invalid_deposit`` …, 422 ``relist_price_too_low``) and the patents checked as for a new draft."""
    old = await queries.get_visible(session, principal, listing_id, for_update=True)
    if old is None:
        raise NotFound("No such listing.")
    if principal.is_operator or principal.organization_id != old.seller_org_id:
        raise Forbidden("Only the seller may relist its listing.")
    principal.verified_org_id("Only members of the seller organization may do this.")
    if old.status not in rules.RELISTABLE:
        raise InvalidState(f"Only a failed or expired listing can be relisted (it is {old.status}).")
    if old.next_listing_id is not None:
        raise AlreadyRelisted(
            f"This listing was already relisted as {old.next_listing_id}: relist that one instead."
        )
    now = clock.now()
    ended_at = chain.ended_at(old)
    deadline = rules.relist_by(old.status, ended_at)
    if deadline is not None and now > deadline:
        raise RelistWindowClosed(f"The listing could be relisted until {deadline.isoformat()}.")
    price = data.price if data.price is not None else old.price
    deposit = data.deposit if data.deposit is not None else old.deposit
    rules.validate_terms(
        rules.Terms(
            transaction_kind=old.transaction_kind,
            pricing_mode=old.pricing_mode,
            price=price,
            deposit=deposit,
            license=old.license_terms,
            auction=old.auction_terms,
        ),
        created_at=now,
    )
    rules.check_relist_price(price, old.price)
    patent_ids = await repo.patent_ids_of(session, old.id)
    patents = await service.check_patents(
        session,
        seller_org_id=old.seller_org_id,
        patent_ids=patent_ids,
        kind=old.transaction_kind,
        listing_id=None,
        clock=clock,
    )
    new = Listing(
        id=uuid.uuid4(),
        seller_org_id=old.seller_org_id,
        title=old.title,
        summary=old.summary,
        transaction_kind=old.transaction_kind,
        pricing_mode=old.pricing_mode,
        price=price,
        deposit=deposit,
        listing_days=old.listing_days,
        extension_days=old.extension_days,
        max_extensions=old.max_extensions,
        min_bidders_for_auction=old.min_bidders_for_auction,
        requires_qualification_review=old.requires_qualification_review,
        license_terms=dict(old.license_terms) if old.license_terms is not None else None,
        auction_terms=dict(old.auction_terms) if old.auction_terms is not None else None,
        status=ListingStatus.draft,
        extensions_used=0,
        version=1,
        previous_listing_id=old.id,
        created_at=now,
        updated_at=now,
    )
    session.add(new)
    await session.flush()
    await repo.set_patents(session, new.id, patent_ids)
    await repo.write_search_document(session, new, patents)
    # The window's start is stored before the old listing changes again (see chain.ended_at).
    old.ended_at, old.next_listing_id = ended_at, new.id
    old.updated_at, old.version = now, old.version + 1
    await session.flush()
    created: dict[str, Any] = {
        "title": new.title,
        "summary": new.summary,
        "patent_ids": patent_ids,
        "transaction_kind": new.transaction_kind,
        "pricing_mode": new.pricing_mode,
        "price": new.price,
        "deposit": new.deposit,
        "listing_days": new.listing_days,
        "extension_days": new.extension_days,
        "max_extensions": new.max_extensions,
        "min_bidders_for_auction": new.min_bidders_for_auction,
        "requires_qualification_review": new.requires_qualification_review,
        "license": new.license_terms,  # the auction terms stay out of the trail: they hold the reserve
        "previous_listing_id": old.id,
        "status": ListingStatus.draft,
    }
    await record(
        session,
        entity_type="listing",
        entity_id=new.id,
        action="created",
        actor=principal.label,
        at=now,
        data=created,
    )
    await record(
        session,
        entity_type="listing",
        entity_id=old.id,
        action="relisted",
        actor=principal.label,
        at=now,
        data={"next_listing_id": new.id, "price": new.price, "deposit": new.deposit},
    )
    return new
