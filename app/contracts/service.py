"""Contracts and signing (SPEC §11), public notice and objections (SPEC §8; 浙江条例 art. 17).

* A contract is generated in the deal's own transaction (``app.contracts.generation.generate_contract``,
  called by ``create_deal``); its text never changes, and a party signs the SHA-256 of what it read (409
  ``contract_changed`` if that is not the stored hash). Signing is refused (409 ``invalid_state``) while the deal is in ``public_notice``,
  after ``sign_by``, and a second time by the same party (a retry with the same ``Idempotency-Key`` replays
  the first response instead). The second signature moves the deal to ``awaiting_payment`` with ``pay_by``
  5 working days later.
* A deal in ``public_notice`` is published (``list_notices``/``get_notice``). Any member of a verified
  organization may object while the notice runs (the seller's own staff included: art. 17 publicises inside
  the unit too), one ``pending`` objection per organization (409 ``objection_exists``, SPEC §20); an operator
  upholds (deal ``cancelled``, listing back per SPEC §5) or dismisses. A pending objection holds the deal in
  notice past ``notice_ends_at``; dismissing the last one after that moves the deal on at once, ``sign_by``
  counted from the dismissal. The objector is known to operators and to itself only (``shows_objector``):
  the deal's parties see an objection's id, status, reason and dates.
* ``related_party`` is declared by the seller during the notice (the exchange has no data to derive that a
  buyer is related to the inventors).

Services never commit; every state change is audited on the deal's chain (and objections on their own). A
deal's status changes only through ``app.deals.service.move`` (the table of ``app.deals.rules``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import record
from app.contracts import generation
from app.deals import service as deals
from app.deals.rules import By
from app.equity import rules as equity_rules
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound
from app.kit.pagination import SortKey, datetime_key, keyset_query, page_of
from app.kit.security import Principal
from app.kit.workdays import WorkdayCalendar
from app.ledger import deposits
from app.listings import service as listings
from app.models.accounts import Organization
from app.models.contracts import (
    Contract,
    ContractSignature,
    ContractStatus,
    Objection,
    ObjectionStatus,
    Party,
)
from app.models.listings import Listing, ListingStatus, PricingMode
from app.models.patents import Patent
from app.models.trading import Deal, DealStatus, Registration
from app.models.trials import Trial, TrialOffer
from app.notifications import service as notifications

SIGNING_WORKING_DAYS = 5  # SPEC §11: sign_by
PAYMENT_WORKING_DAYS = 5  # SPEC §11: pay_by, after both signatures
RECENT_NOTICES = timedelta(days=30)  # how long a finished notice stays on the public list
ENDED = (DealStatus.cancelled, DealStatus.defaulted)


def _objection_readers(key: uuid.UUID) -> Select[Any]:
    """The objector and the deal's two parties may read an objection's chain (SPEC §15)."""
    query = (
        select(Objection.organization_id, Deal.buyer_org_id, Deal.seller_org_id)
        .join(Deal, Deal.id == Objection.deal_id)
        .where(Objection.id == key)
    )
    return cast("Select[Any]", query)


def _objector(key: uuid.UUID) -> Select[Any]:
    """The objector, whose identity the deal's parties may not learn (SPEC §20), unless it is one of them."""
    query = (
        select(Objection.organization_id)
        .join(Deal, Deal.id == Objection.deal_id)
        .where(
            Objection.id == key,
            Objection.organization_id.not_in((Deal.buyer_org_id, Deal.seller_org_id)),
        )
    )
    return cast("Select[Any]", query)


register_parties("objection", _objection_readers, confidential=_objector)


# --- generation (app.contracts.generation, named here too for the callers that know it here) --------------

contract_values = generation.contract_values
generate_contract = generation.generate_contract
patents_of = generation.patents_of


# --- reading ---------------------------------------------------------------------------------------------


def _is_party(principal: Principal, deal: Deal) -> bool:
    return principal.organization_id is not None and principal.organization_id in (
        deal.buyer_org_id,
        deal.seller_org_id,
    )


async def _lock_deal(session: AsyncSession, deal_id: uuid.UUID) -> Deal | None:
    deal: Deal | None = await session.scalar(
        select(Deal).where(Deal.id == deal_id).with_for_update().execution_options(populate_existing=True)
    )
    return deal


async def get_contract(
    session: AsyncSession, principal: Principal, contract_id: uuid.UUID
) -> tuple[Contract, Deal, list[ContractSignature]]:
    """The contract with its deal and signatures, for the two parties and operators (others: 404)."""
    row = (
        await session.execute(
            select(Contract, Deal).join(Deal, Deal.id == Contract.deal_id).where(Contract.id == contract_id)
        )
    ).first()
    if row is None or not (principal.is_operator or _is_party(principal, row[1])):
        raise NotFound("No such contract.")
    return row[0], row[1], await _signatures(session, contract_id)


async def _signatures(session: AsyncSession, contract_id: uuid.UUID) -> list[ContractSignature]:
    return list(
        (
            await session.scalars(
                select(ContractSignature)
                .where(ContractSignature.contract_id == contract_id)
                .order_by(ContractSignature.signed_at, ContractSignature.party)
            )
        ).all()
    )


def contract_status(contract: Contract, deal: Deal) -> ContractStatus:
    """``void`` once the deal is cancelled or defaulted, whoever ended it; else as stored."""
    if deal.status in ENDED:
        return ContractStatus.void
    return ContractStatus(contract.status)


# --- signing ---------------------------------------------------------------------------------------------


async def sign_contract(
    session: AsyncSession,
    principal: Principal,
    contract_id: uuid.UUID,
    sha256: str,
    *,
    now: datetime,
    calendar: WorkdayCalendar,
) -> tuple[Contract, Deal, list[ContractSignature]]:
    """A party signs the hash of the text it read (SPEC §11). Checks, in order: a party's member (operators
    403, others 404); the deal awaiting signatures and ``sign_by`` not passed (409 ``invalid_state``); the
    hash (409 ``contract_changed``); not signed yet by this party (409 ``invalid_state``)."""
    contract = await session.get(Contract, contract_id)
    if contract is None:
        raise NotFound("No such contract.")
    deal = await _lock_deal(session, contract.deal_id)
    assert deal is not None
    if principal.is_operator:
        raise Forbidden("Only the parties sign their contract.")
    if not _is_party(principal, deal):
        raise NotFound("No such contract.")
    if deal.status == DealStatus.public_notice:
        raise InvalidState("The deal is still in public notice; the contract cannot be signed yet.")
    if deal.status != DealStatus.awaiting_signatures:
        raise InvalidState(f"The deal is {deal.status}; the contract cannot be signed.")
    if deal.sign_by is not None and now >= deal.sign_by:
        raise InvalidState("The signing deadline has passed.")
    if deal.transaction_kind == equity_rules.KIND:  # SPEC §18.2: terms, valuation, validity, then the hash
        equity_rules.check_signable(deal.equity, equity_rules.shanghai_day(now))
    if sha256.lower() != contract.sha256:
        raise Conflict(
            "The contract text differs from the one you read: read it again and sign its hash.",
            code="contract_changed",
        )
    party = Party.buyer if principal.organization_id == deal.buyer_org_id else Party.seller
    signatures = await _signatures(session, contract.id)
    if any(s.party == party for s in signatures):
        raise InvalidState(f"The {party} has already signed this contract.")
    assert principal.organization_id is not None
    signature = ContractSignature(
        id=uuid.uuid4(),
        contract_id=contract.id,
        party=party,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        sha256=contract.sha256,
        signed_at=now,
    )
    session.add(signature)
    signatures.append(signature)
    contract.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="contract_signed",
        actor=str(principal.user_id),
        at=now,
        data={
            "contract_id": contract.id,
            "party": party,
            "organization_id": principal.organization_id,
            "sha256": contract.sha256,
        },
    )
    if {s.party for s in signatures} == {Party.buyer, Party.seller}:
        contract.status = ContractStatus.signed
        pay_by = calendar.add_working_days(now, PAYMENT_WORKING_DAYS)
        await deals.move(
            session,
            deal,
            DealStatus.awaiting_payment,
            by=By.parties,
            actor=str(principal.user_id),
            at=now,
            action="contract_completed",
            values={"pay_by": pay_by},
            data={
                "contract_id": contract.id,
                "sha256": contract.sha256,  # the text both signed (the dossier's contract item)
                "status": DealStatus.awaiting_payment,
                "pay_by": pay_by,
            },
        )
    return contract, deal, signatures


async def _deal_changed(
    session: AsyncSession, deal: Deal, *, action: str, actor: str, at: datetime, data: dict[str, Any]
) -> None:
    """Write a change the caller made to ``deal`` other than its status (new version, ``updated_at``) and its
    audit event; a status changes only through ``app.deals.service.move``."""
    deal.updated_at = at
    deal.version += 1
    await session.flush()
    await record(session, entity_type="deal", entity_id=deal.id, action=action, actor=actor, at=at, data=data)


# --- ending a deal ---------------------------------------------------------------------------------------


async def end_deal(
    session: AsyncSession,
    deal: Deal,
    status: DealStatus,
    *,
    by: By,
    reason: str,
    action: str,
    at: datetime,
    actor: str,
) -> None:
    """Cancel or default a deal the caller holds (SPEC §5, §11), ``by`` the sweeper or an operator (the move
    must be in the table of ``app.deals.rules``: else 409 ``invalid_state``).

    ``defaulted`` (the buyer's fault): the buyer's held deposit is forfeited to the seller and an
    ``under_contract`` listing fails. ``cancelled``: the deposit is refunded and an ``under_contract``
    listing returns to ``published`` if negotiated, else fails. A listing that is not ``under_contract``
    (a non-exclusive negotiated listing still open to others) is left as it is. The contract becomes void.
    """
    assert status in ENDED
    previous = deal.status
    contract = await session.get(Contract, deal.contract_id) if deal.contract_id else None
    if contract is not None:
        contract.status, contract.updated_at = ContractStatus.void, at
    await deals.move(
        session,
        deal,
        status,
        by=by,
        actor=actor,
        at=at,
        action=action,
        values={"status_reason": reason},
        data={"from": previous, "status": status, "reason": reason},
    )
    if deal.registration_id is not None:
        registration = await session.get(Registration, deal.registration_id, with_for_update=True)
        assert registration is not None
        if status == DealStatus.defaulted:
            done = await deposits.forfeit(
                session, registration, deal.seller_org_id, at=at, actor=actor, deal_id=deal.id
            )
            event = "deposit_forfeited"
        else:
            done = await deposits.refund(session, registration, at=at, actor=actor)
            event = "deposit_refunded"
        if done:
            registration.updated_at = at
            await session.flush()
            await record(
                session,
                entity_type="registration",
                entity_id=registration.id,
                action=event,
                actor=actor,
                at=at,
                data={"deal_id": deal.id, "deposit_status": registration.deposit_status, "reason": reason},
            )
    if deal.listing_id is not None:
        listing = await session.scalar(
            select(Listing)
            .where(Listing.id == deal.listing_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if listing is not None and listing.status == ListingStatus.under_contract:
            reopen = status == DealStatus.cancelled and listing.pricing_mode == PricingMode.negotiated
            await listings.set_status(
                session,
                listing,
                ListingStatus.published if reopen else ListingStatus.failed,
                actor=actor,
                action="deal_" + str(status),
                at=at,
                data={"deal_id": deal.id, "reason": reason},
            )


async def start_signing(
    session: AsyncSession,
    deal: Deal,
    *,
    by: By,
    at: datetime,
    actor: str,
    calendar: WorkdayCalendar,
    reason: str,
) -> None:
    """public_notice → awaiting_signatures, ``sign_by`` 5 working days after ``at`` (``by`` the sweeper at the
    notice's end, or the operator dismissing the last objection after it)."""
    sign_by = calendar.add_working_days(at, SIGNING_WORKING_DAYS)
    await deals.move(
        session,
        deal,
        DealStatus.awaiting_signatures,
        by=by,
        actor=actor,
        at=at,
        action="notice_ended",
        values={"sign_by": sign_by},
        data={"status": DealStatus.awaiting_signatures, "sign_by": sign_by, "reason": reason},
    )


async def pending_objections(session: AsyncSession, deal_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Objection)
        .where(Objection.deal_id == deal_id, Objection.status == ObjectionStatus.pending)
    )
    return int(count or 0)


# --- public notice ---------------------------------------------------------------------------------------


def _pending_count() -> Any:
    return (
        select(func.count())
        .select_from(Objection)
        .where(Objection.deal_id == Deal.id, Objection.status == ObjectionStatus.pending)
        .correlate(Deal)
        .scalar_subquery()
    )


def _notice_query() -> Any:
    # A trial's conversion deal has no listing (SPEC §18.3): its notice names the patent and the trial's terms.
    trial_summary = literal("先使用后付费试用转化，实施领域：") + TrialOffer.field_of_use
    return (
        select(
            Deal,
            func.coalesce(Listing.title, Patent.title),
            func.coalesce(Listing.summary, trial_summary),
            Organization.name,
            _pending_count(),
        )
        .outerjoin(Listing, Listing.id == Deal.listing_id)
        .outerjoin(Trial, Trial.id == Deal.trial_id)
        .outerjoin(TrialOffer, TrialOffer.id == Trial.trial_offer_id)
        .outerjoin(Patent, Patent.id == Trial.patent_id)
        .join(Organization, Organization.id == Deal.seller_org_id)
        .where(Deal.notice_ends_at.is_not(None))
    )


def notice_view(row: Any) -> dict[str, Any]:
    deal: Deal = row[0]
    if deal.status == DealStatus.public_notice:
        state = "in_notice"
    elif deal.status == DealStatus.cancelled:
        state = "cancelled"
    else:
        state = "ended"
    return {
        "deal_id": deal.id,
        "listing_id": deal.listing_id,
        "title": row[1],
        "summary": row[2],
        "transaction_kind": deal.transaction_kind,
        "price": deal.price,
        "seller_org_id": deal.seller_org_id,
        "seller_name": row[3],
        "related_party": deal.related_party,
        "status": state,
        "pending_objections": int(row[4] or 0),
        "notice_starts_at": deal.created_at,
        "notice_ends_at": deal.notice_ends_at,
    }


async def list_notices(
    session: AsyncSession, *, now: datetime, in_notice: bool | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Deals in public notice now, and those whose notice ended within the last 30 days; newest first."""
    query = _notice_query()
    if in_notice:
        query = query.where(Deal.status == DealStatus.public_notice)
    elif in_notice is False:
        query = query.where(
            Deal.status != DealStatus.public_notice, Deal.notice_ends_at >= now - RECENT_NOTICES
        )
    else:
        query = query.where(
            or_(Deal.status == DealStatus.public_notice, Deal.notice_ends_at >= now - RECENT_NOTICES)
        )
    keys = [datetime_key(Deal.created_at, descending=True), SortKey(Deal.id, uuid.UUID, descending=True)]
    rows = (await session.execute(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    items, next_cursor = page_of(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return [notice_view(r) for r in items], next_cursor


async def get_notice(session: AsyncSession, deal_id: uuid.UUID) -> dict[str, Any]:
    row = (await session.execute(_notice_query().where(Deal.id == deal_id))).first()
    if row is None:
        raise NotFound("No such public notice.")
    return notice_view(row)


async def notices_of_listing(session: AsyncSession, listing_id: uuid.UUID) -> list[dict[str, Any]]:
    """The public notices of the deals made from a listing (its page shows them), newest first."""
    query = _notice_query().where(Deal.listing_id == listing_id).order_by(Deal.created_at.desc())
    return [notice_view(r) for r in (await session.execute(query)).all()]


async def _noticed_deal(session: AsyncSession, principal: Principal, deal_id: uuid.UUID) -> Deal:
    """The deal, locked: public if it ever had a notice, else only for its parties and operators."""
    deal = await _lock_deal(session, deal_id)
    if deal is None or (
        deal.notice_ends_at is None and not (principal.is_operator or _is_party(principal, deal))
    ):
        raise NotFound("No such deal.")
    return deal


async def set_related_party(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, related: bool, *, now: datetime
) -> dict[str, Any]:
    """The seller declares whether the buyer is related to the inventors (浙江条例 art. 17), while the notice
    runs; the public notice shows the flag."""
    deal = await _noticed_deal(session, principal, deal_id)
    if principal.organization_id != deal.seller_org_id:
        raise Forbidden("Only the seller declares a related party.")
    if deal.status != DealStatus.public_notice or (deal.notice_ends_at and now >= deal.notice_ends_at):
        raise InvalidState("The public notice of this deal is over.")
    if deal.related_party != related:
        deal.related_party = related
        await _deal_changed(
            session,
            deal,
            action="related_party_declared",
            actor=str(principal.user_id),
            at=now,
            data={"related_party": related},
        )
    return await get_notice(session, deal.id)


# --- objections ------------------------------------------------------------------------------------------


class ObjectionExists(Conflict):
    code = "objection_exists"


async def object_to_deal(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, reason: str, *, now: datetime
) -> Objection:
    """A verified organization's member objects while the notice runs (before ``notice_ends_at``); one
    ``pending`` objection per organization and deal (SPEC §20: 409 ``objection_exists``), another one once
    it is resolved."""
    deal = await _noticed_deal(session, principal, deal_id)
    if deal.status != DealStatus.public_notice or deal.notice_ends_at is None or now >= deal.notice_ends_at:
        raise InvalidState("The deal is not in public notice: objections are closed.")
    assert principal.organization_id is not None
    # Checked under the deal's row lock (``_noticed_deal``; SQLite: BEGIN IMMEDIATE), which every objection
    # to this deal takes first: of parallel requests one inserts, the others then see its row.
    pending = await session.scalar(
        select(Objection.id).where(
            Objection.deal_id == deal.id,
            Objection.organization_id == principal.organization_id,
            Objection.status == ObjectionStatus.pending,
        )
    )
    if pending is not None:
        raise ObjectionExists("Your organization already has a pending objection to this deal.")
    objection = Objection(
        id=uuid.uuid4(),
        deal_id=deal.id,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        reason=reason,
        status=ObjectionStatus.pending,
        created_at=now,
        updated_at=now,
    )
    session.add(objection)
    await session.flush()
    # Both events name the objector (its user is the actor): restricted to operators and the objector by
    # app.audit.access (the objection's ``confidential`` query), not redacted, as the chain hashes them.
    await record(
        session,
        entity_type="objection",
        entity_id=objection.id,
        action="filed",
        actor=str(principal.user_id),
        at=now,
        data={
            "deal_id": deal.id,
            "organization_id": objection.organization_id,
            "reason": reason,
            "status": objection.status,
        },
    )
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="objection_filed",
        actor=str(principal.user_id),
        at=now,
        data={"objection_id": objection.id},
    )
    await notifications.objection_filed(session, deal, objection, at=now)
    return objection


def shows_objector(principal: Principal, objection: Objection) -> bool:
    """The objector's identity is known to operators and to the objector only (SPEC §20); the deal's
    parties see the objection's id, status, reason and dates."""
    return principal.is_operator or principal.organization_id == objection.organization_id


def _may_see_objection(principal: Principal, objection: Objection, deal: Deal) -> bool:
    return (
        principal.is_operator
        or _is_party(principal, deal)
        or principal.organization_id == objection.organization_id
    )


async def get_objection(session: AsyncSession, principal: Principal, objection_id: uuid.UUID) -> Objection:
    row = (
        await session.execute(
            select(Objection, Deal)
            .join(Deal, Deal.id == Objection.deal_id)
            .where(Objection.id == objection_id)
        )
    ).first()
    if row is None or not _may_see_objection(principal, row[0], row[1]):
        raise NotFound("No such objection.")
    objection: Objection = row[0]
    return objection


async def list_objections(
    session: AsyncSession,
    principal: Principal,
    *,
    deal_id: uuid.UUID | None,
    status: ObjectionStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Objection], str | None]:
    """Operators see every objection; an organization those it filed and those against its own deals."""
    query = select(Objection).join(Deal, Deal.id == Objection.deal_id)
    if not principal.is_operator:
        org = principal.organization_id
        query = query.where(
            or_(Objection.organization_id == org, Deal.buyer_org_id == org, Deal.seller_org_id == org)
        )
    if deal_id is not None:
        query = query.where(Objection.deal_id == deal_id)
    if status is not None:
        query = query.where(Objection.status == status)
    keys = [datetime_key(Objection.created_at, descending=True), SortKey(Objection.id, uuid.UUID, True)]
    rows = (await session.scalars(keyset_query(query, keys, cursor).limit(limit + 1))).all()
    return page_of(rows, limit, lambda o: (o.created_at, o.id))


async def resolve_objection(
    session: AsyncSession,
    principal: Principal,
    objection_id: uuid.UUID,
    outcome: ObjectionStatus,
    note: str | None,
    *,
    now: datetime,
    calendar: WorkdayCalendar,
) -> Objection:
    """Operator: ``upheld`` cancels the deal (listing back per SPEC §5, other pending objections closed);
    ``dismissed`` lets it proceed — at once if the notice period is over and nothing else is pending."""
    objection = await session.get(Objection, objection_id)
    if objection is None:
        raise NotFound("No such objection.")
    deal = await _lock_deal(session, objection.deal_id)
    assert deal is not None
    await session.refresh(objection, with_for_update=True)
    if objection.status != ObjectionStatus.pending:
        raise InvalidState(f"The objection is already {objection.status}.")
    if outcome == ObjectionStatus.upheld and deal.status != DealStatus.public_notice:
        raise InvalidState(f"The deal is {deal.status}; it can no longer be cancelled by an objection.")
    actor = str(principal.user_id)
    await _close_objection(session, objection, outcome, note, now=now, actor=actor, by=principal.user_id)
    if outcome == ObjectionStatus.upheld:
        others = (
            await session.scalars(
                select(Objection).where(
                    Objection.deal_id == deal.id,
                    Objection.status == ObjectionStatus.pending,
                    Objection.id != objection.id,
                )
            )
        ).all()
        for other in others:
            await _close_objection(
                session, other, ObjectionStatus.closed, "deal cancelled", now=now, actor=actor, by=None
            )
        reason = "objection upheld" + (f": {note}" if note else "")
        await end_deal(
            session,
            deal,
            DealStatus.cancelled,
            by=By.operator,
            reason=reason,
            action="cancelled",
            at=now,
            actor=actor,
        )
    elif (
        deal.status == DealStatus.public_notice
        and deal.notice_ends_at is not None
        and now >= deal.notice_ends_at
        and await pending_objections(session, deal.id) == 0
    ):
        await start_signing(
            session,
            deal,
            by=By.operator,
            at=now,
            actor=actor,
            calendar=calendar,
            reason="last objection dismissed",
        )
    return objection


async def _close_objection(
    session: AsyncSession,
    objection: Objection,
    outcome: ObjectionStatus,
    note: str | None,
    *,
    now: datetime,
    actor: str,
    by: uuid.UUID | None,
) -> None:
    objection.status, objection.resolution_note = outcome, note
    objection.resolved_at, objection.resolved_by, objection.updated_at = now, by, now
    await session.flush()
    await record(
        session,
        entity_type="objection",
        entity_id=objection.id,
        action=str(outcome),
        actor=actor,
        at=now,
        data={"deal_id": objection.deal_id, "reason": objection.reason, "status": outcome, "note": note},
    )
    await record(
        session,
        entity_type="deal",
        entity_id=objection.deal_id,
        action="objection_" + str(outcome),
        actor=actor,
        at=now,
        data={"objection_id": objection.id},
    )
