"""Open licensing (SPEC §13; 专利法 2020 arts 50–52): declarations, their review, and licences taken at once.

Visibility: a declaration that has been declared (``declared``, or ``withdrawn`` after it) has been published
(by the patent office and by the exchange) and anyone may read it, signed in or not; one ``pending_review``,
or withdrawn before approval, is seen only by the owner organization and operators (404 for anyone else,
SPEC §20: something never published is never public). A licence is seen by its licensee, the owner and
operators. Every change writes an audit event (``open_license``, and ``deal`` for the licence's deal) in the
caller's transaction. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.calendar.rules import add_months
from app.deals import rules as deal_rules
from app.deals.fees import FeeSchedule
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.ledger.service import Line, account_id, post
from app.licensing import queries, rules, schemas
from app.models.ledger import AccountKind, EntryKind
from app.models.listings import ACTIVE_STATUSES, Listing, ListingPatent, TransactionKind
from app.models.patents import Patent
from app.models.policy import OpenLicense, OpenLicenseGrant, OpenLicenseStatus
from app.models.trading import Deal, DealSource
from app.owners import queries as owner_queries
from app.pledges import queries as pledges
from app.royalties.service import royalty_terms
from app.settlement import service as settlement
from app.trials import queries as trials

ENTITY = "open_license"
S = OpenLicenseStatus
EXCLUSIVE_LICENCE_KINDS = (TransactionKind.exclusive_license, TransactionKind.sole_license)


def _today(clock: Clock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


# --- rules that need the database --------------------------------------------------------------------------


async def exclusive_licence_active(session: AsyncSession, patent_id: uuid.UUID, today: date) -> bool:
    """An exclusive or sole licence of the patent is in force or on offer (SPEC §13): a listing of that kind in
    an active state (pending review through under contract), or a settled deal of that kind whose licence term
    (the listing's ``license.term_months`` from settlement) still runs, or such a licence through a trial
    (§18.3: an active sole or exclusive trial, its conversion deal). A settled deal without a known term
    counts as in force."""
    if await trials.exclusive_licence_held(session, patent_id, today):
        return True
    on_offer = await session.scalar(
        select(
            exists().where(
                ListingPatent.patent_id == patent_id,
                Listing.id == ListingPatent.listing_id,
                Listing.transaction_kind.in_([k.value for k in EXCLUSIVE_LICENCE_KINDS]),
                Listing.status.in_([s.value for s in ACTIVE_STATUSES]),
            )
        )
    )
    if on_offer:
        return True
    settled = (
        await session.execute(
            select(Deal.settled_at, Deal.updated_at, Listing.license_terms)
            .join(Listing, Listing.id == Deal.listing_id)
            .join(ListingPatent, ListingPatent.listing_id == Listing.id)
            .where(
                ListingPatent.patent_id == patent_id,
                Deal.status.in_(deal_rules.SETTLED),
                Deal.transaction_kind.in_([k.value for k in EXCLUSIVE_LICENCE_KINDS]),
            )
        )
    ).all()
    for settled_at, updated_at, terms in settled:
        term = (terms or {}).get("term_months")
        if not term:
            return True
        start = (settled_at or updated_at).astimezone(SHANGHAI).date()
        if add_months(start, int(term)) > today:
            return True
    return False


async def _check_patent(session: AsyncSession, patent: Patent, today: date) -> None:
    refusal = rules.patent_refusal(
        patent, today, exclusive_licence_active=await exclusive_licence_active(session, patent.id, today)
    )
    if refusal is not None:
        raise Conflict(refusal.detail, code=refusal.code)


# --- presentation ------------------------------------------------------------------------------------------


async def present(session: AsyncSession, items: Sequence[OpenLicense]) -> list[schemas.OpenLicenseOut]:
    ids = {x.patent_id for x in items}
    patents = (
        {p.id: p for p in (await session.scalars(select(Patent).where(Patent.id.in_(ids)))).all()}
        if ids
        else {}
    )
    out = []
    for x in items:
        p = patents[x.patent_id]
        out.append(
            schemas.OpenLicenseOut(
                id=x.id,
                patent_id=x.patent_id,
                patent_number=f"ZL{p.application_number}" if p.grant_date is not None else None,
                patent_title=p.title,
                patent_kind=p.kind,
                owner_org_id=x.owner_org_id,
                fee_type=x.fee_type,
                lump_sum=x.lump_sum,
                royalty_rate=rules.ppm_to_rate(x.royalty_rate_ppm),
                royalty_base=x.royalty_base,
                royalty_period=x.royalty_period if x.fee_type in rules.ROYALTY_KINDS else None,
                term_months=x.term_months,
                status=x.status,
                declared_at=x.declared_at,
                withdrawn_at=x.withdrawn_at,
                created_at=x.created_at,
                updated_at=x.updated_at,
            )
        )
    return out


# --- visibility --------------------------------------------------------------------------------------------


def _visible(principal: Principal | None) -> ColumnElement[bool]:
    public = queries.published()
    if principal is None:
        return public
    if principal.is_operator:
        return true()
    if principal.organization_id is None:
        return public
    return or_(public, OpenLicense.owner_org_id == principal.organization_id)


async def _load(
    session: AsyncSession,
    principal: Principal | None,
    open_license_id: uuid.UUID,
    *,
    lock: bool = False,
    shared: bool = False,
) -> OpenLicense:
    query = select(OpenLicense).where(OpenLicense.id == open_license_id, _visible(principal))
    if lock or shared:
        query = query.with_for_update(read=shared and not lock)
    found = await session.scalar(query)
    if found is None:
        raise NotFound("No such open licence.")
    return found


def _require_owner(principal: Principal, item: OpenLicense) -> None:
    if principal.organization_id != item.owner_org_id:
        raise Forbidden("Only the patent owner may do this.")


def _check_transition(current: OpenLicenseStatus, target: OpenLicenseStatus) -> None:
    if target not in rules.TRANSITIONS[S(current)]:
        raise InvalidState(f"An open licence cannot go from {current} to {target}.")


# --- commands ----------------------------------------------------------------------------------------------


async def create_open_license(
    session: AsyncSession, principal: Principal, data: schemas.OpenLicenseCreate, clock: Clock
) -> OpenLicense:
    """Declare an open licence of one of the caller's patents → ``pending_review``. The patent rules of
    SPEC §13 are checked here and again at approval; a pledge only blocks the approval."""
    assert principal.organization_id is not None
    errors = rules.fee_errors(data.fee_type, data.lump_sum, data.royalty_rate, data.royalty_base)
    if errors:
        raise Unprocessable("The fee terms do not fit the fee type.", errors=errors)
    patent = await session.get(Patent, data.patent_id, with_for_update=True)
    # SPEC §18.5: any organization owner alone declares a (non-exclusive) open licence.
    if patent is None or not await owner_queries.owned_by(session, [patent.id], principal.organization_id):
        raise NotFound("No such patent of your organization.")
    await _check_patent(session, patent, _today(clock))
    if await _live_declaration(session, patent.id):
        raise Conflict(
            "This patent has an open licence pending review or declared already.", code="open_license_exists"
        )
    now = clock.now()
    item = OpenLicense(
        id=uuid.uuid4(),
        patent_id=patent.id,
        owner_org_id=principal.organization_id,
        fee_type=data.fee_type,
        lump_sum=data.lump_sum,
        royalty_rate_ppm=rules.rate_to_ppm(data.royalty_rate),
        royalty_base=data.royalty_base,
        royalty_period=data.royalty_period,
        term_months=data.term_months,
        status=S.pending_review,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(item)
    except IntegrityError:
        # A concurrent declaration of the same patent committed first (partial unique index).
        raise Conflict(
            "This patent has an open licence pending review or declared already.", code="open_license_exists"
        ) from None
    await record(
        session,
        entity_type=ENTITY,
        entity_id=item.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            "patent_id": item.patent_id,
            "owner_org_id": item.owner_org_id,
            "fee_type": item.fee_type,
            "lump_sum": item.lump_sum,
            "royalty_rate_ppm": item.royalty_rate_ppm,
            "royalty_base": item.royalty_base,
            "royalty_period": item.royalty_period if item.fee_type in rules.ROYALTY_KINDS else None,
            "term_months": item.term_months,
            "status": item.status,
        },
    )
    return item


async def _live_declaration(session: AsyncSession, patent_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    OpenLicense.patent_id == patent_id,
                    OpenLicense.status.in_([s.value for s in (S.pending_review, S.declared)]),
                )
            )
        )
    )


async def _set_status(
    session: AsyncSession,
    item: OpenLicense,
    target: OpenLicenseStatus,
    *,
    actor: str,
    action: str,
    at: datetime,
) -> OpenLicense:
    _check_transition(item.status, target)
    previous = item.status
    item.status, item.updated_at = target, at
    if target == S.declared:
        item.declared_at = at
    elif target == S.withdrawn:
        item.withdrawn_at = at
    await session.flush()
    await record(
        session,
        entity_type=ENTITY,
        entity_id=item.id,
        action=action,
        actor=actor,
        at=at,
        data={"from": previous, "status": target},
    )
    return item


async def approve_open_license(
    session: AsyncSession, principal: Principal, open_license_id: uuid.UUID, clock: Clock
) -> OpenLicense:
    """Operator review: ``pending_review`` → ``declared``, re-checking the patent rules, and refusing a pledged
    patent (409 ``patent_pledged``) until its pledgee has consented to this declaration (SPEC §13–14)."""
    item = await _load(session, principal, open_license_id, lock=True)
    _check_transition(item.status, S.declared)
    patent = await session.get(Patent, item.patent_id, with_for_update=True)
    assert patent is not None
    await _check_patent(session, patent, _today(clock))
    if await pledges.unconsented(session, [patent.id], open_license_id=item.id):
        raise Conflict(
            "The patent is pledged and the pledgee has not consented to this open licence.",
            code="patent_pledged",
        )
    return await _set_status(
        session, item, S.declared, actor=principal.label, action="approved", at=clock.now()
    )


async def withdraw_open_license(
    session: AsyncSession, principal: Principal, open_license_id: uuid.UUID, clock: Clock
) -> OpenLicense:
    """The owner withdraws a pending or declared open licence; licences already granted stay valid."""
    item = await _load(session, principal, open_license_id, lock=True)
    _require_owner(principal, item)
    return await _set_status(
        session, item, S.withdrawn, actor=principal.label, action="withdrawn", at=clock.now()
    )


async def take_licence(
    session: AsyncSession,
    principal: Principal,
    open_license_id: uuid.UUID,
    clock: Clock,
    fees: FeeSchedule,
) -> OpenLicenseGrant:
    """A verified organization other than the owner takes a non-exclusive licence (SPEC §13): a deal with
    source ``open_license`` is made, paid and settled in this transaction. The licensee pays the lump sum plus
    its fee into the deal's escrow; ``settle_deal`` (the settlement of every deal) pays the owner the lump sum
    less its fee and the exchange both fees, issues the certificate and records the licence (its dates: from
    today for ``term_months``, within the patent's term, filing due in 3 months). No lump sum (free or royalty
    only): no money and no fee.
    Short of money → 409 ``insufficient_funds`` and nothing is left behind (the transaction rolls back).

    The declaration is held with a shared lock, so licences are taken concurrently while a withdrawal waits
    for them (and they for it); each licence is its own deal and its own payment.
    """
    assert principal.organization_id is not None
    item = await _load(session, principal, open_license_id, shared=True)
    if principal.organization_id == item.owner_org_id:
        raise Forbidden("The patent owner cannot take a licence of its own patent.")
    if item.status != S.declared:
        raise InvalidState("Licences are taken only under a declared open licence.")
    patent = await session.get(Patent, item.patent_id)
    assert patent is not None
    if not await owner_queries.owned_by(session, [patent.id], item.owner_org_id):
        raise InvalidState("The patent has changed hands since the open licence was declared.")
    today = _today(clock)
    refusal = rules.patent_refusal(patent, today, exclusive_licence_active=False)
    if refusal is not None:
        raise Conflict(refusal.detail, code=refusal.code)

    now = clock.now()
    price = item.lump_sum or 0
    buyer_fee, seller_fee = fees.fees(price)  # each at most the price: a free licence pays none
    deal = Deal(
        id=uuid.uuid4(),
        listing_id=None,
        buyer_org_id=principal.organization_id,
        seller_org_id=item.owner_org_id,
        source=DealSource.open_license,
        transaction_kind=TransactionKind.nonexclusive_license,
        status=deal_rules.initial_status(DealSource.open_license, seller_is_public_institution=False),
        price=price,
        cash_price=deal_rules.cash_price(TransactionKind.nonexclusive_license, price),
        buyer_fee=buyer_fee,
        seller_fee=seller_fee,
        deposit_applied=0,
        amount_due=deal_rules.amount_due(
            TransactionKind.nonexclusive_license,
            price=price,
            deposit=0,
            buyer_fee=buyer_fee,
            seller_fee=seller_fee,
        ),
        paid_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(deal)
    await session.flush()
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="created",
        actor=principal.label,
        at=now,
        data={
            "listing_id": None,
            "open_license_id": item.id,
            "patent_id": item.patent_id,
            "buyer_org_id": deal.buyer_org_id,
            "seller_org_id": deal.seller_org_id,
            "source": deal.source,
            "transaction_kind": deal.transaction_kind,
            "price": price,
            "buyer_fee": buyer_fee,
            "seller_fee": seller_fee,
            "amount_due": deal.amount_due,
            "status": deal.status,
        },
    )
    if deal.amount_due > 0:
        licensee = await account_id(session, AccountKind.available, deal.buyer_org_id)
        escrow = await account_id(session, AccountKind.escrow, deal.id)
        await post(
            session,
            EntryKind.open_license,
            [Line(licensee, -deal.amount_due), Line(escrow, deal.amount_due)],
            at=now,
            actor=principal.label,
            memo="open licence: lump sum and the licensee's fee into escrow",
            organization_id=deal.buyer_org_id,
            deal_id=deal.id,
        )
    # Settlement proper (escrow to the owner and fee income, certificate, licence record) is the one of every
    # deal (SPEC §11).
    await settlement.settle_deal(
        session,
        deal,
        at=now,
        actor=principal.label,
        patent_ids=[patent.id],
        licence_terms=settlement.LicenceTerms(
            term_months=item.term_months,
            # Royalties are reported per period on the licence record (SPEC §18.4).
            royalty=royalty_terms(
                rules.ppm_to_rate(item.royalty_rate_ppm) or "", item.royalty_base, item.royalty_period
            )
            if item.fee_type in rules.ROYALTY_KINDS
            else None,
        ),
    )
    licence = await settlement.licence_of_deal(session, deal.id)
    assert licence is not None
    grant = OpenLicenseGrant(
        id=uuid.uuid4(),
        open_license_id=item.id,
        licensee_org_id=principal.organization_id,
        deal_id=deal.id,
        starts_on=licence.starts_on,
        ends_on=licence.ends_on,
        filing_due=licence.filing_due,
        created_at=now,
    )
    session.add(grant)
    await session.flush()
    return grant


# --- queries -----------------------------------------------------------------------------------------------


async def get_open_license(
    session: AsyncSession, principal: Principal | None, open_license_id: uuid.UUID
) -> OpenLicense:
    return await _load(session, principal, open_license_id)


async def list_open_licenses(
    session: AsyncSession,
    principal: Principal | None,
    *,
    patent_id: uuid.UUID | None,
    status: OpenLicenseStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[OpenLicense], str | None]:
    query = select(OpenLicense).where(_visible(principal))
    if patent_id is not None:
        query = query.where(OpenLicense.patent_id == patent_id)
    if status is not None:
        query = query.where(OpenLicense.status == status)
    keys = [
        datetime_key(OpenLicense.created_at, descending=True),
        SortKey(OpenLicense.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda x: (x.created_at, x.id))


async def list_licences(
    session: AsyncSession, principal: Principal, open_license_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[OpenLicenseGrant], str | None]:
    """Licences under an open licence: all of them for the owner and operators, its own for a licensee."""
    item = await _load(session, principal, open_license_id)
    query = select(OpenLicenseGrant).where(OpenLicenseGrant.open_license_id == item.id)
    if not principal.is_operator and principal.organization_id != item.owner_org_id:
        query = query.where(OpenLicenseGrant.licensee_org_id == principal.organization_id)
    keys = [
        datetime_key(OpenLicenseGrant.created_at, descending=True),
        SortKey(OpenLicenseGrant.id, uuid.UUID, descending=True),
    ]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda x: (x.created_at, x.id))
