"""Technology-contract registration (技术合同认定登记, SPEC §18.7): the basis of 涉及专利的技术合同成交金额.

The seller of a settled (or completed) deal files its contract under the category its kind fits, with the
technical part of the price; an operator registers it with the number the technology market office gave, or
rejects it with a reason; after a rejection the seller files anew. Both parties and operators read a deal's
filings; anyone else gets 404. Each filing has its own audit chain (``tech_contract_registration``), readable
by both parties. Registered contracts are counted by ``turnover`` (``GET /stats/turnover?measure=registered``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.access import register_parties
from app.audit.service import record
from app.deals import service as deals
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.models.accounts import Organization
from app.models.listings import Listing
from app.models.techcontracts import TechContractRegistration, TechContractStatus
from app.models.trading import Deal
from app.techcontracts import rules, schemas

ENTITY = "tech_contract_registration"

register_parties(
    ENTITY,
    lambda key: (
        select(Deal.buyer_org_id, Deal.seller_org_id)
        .join(TechContractRegistration, TechContractRegistration.deal_id == Deal.id)
        .where(TechContractRegistration.id == key)
    ),
)


def present(registration: TechContractRegistration) -> schemas.TechContractRegistrationOut:
    return schemas.TechContractRegistrationOut.model_validate(registration)


def _facts(registration: TechContractRegistration) -> dict[str, Any]:
    """What every event of a filing's chain records, so its latest event tells the filing's state (the deal's
    dossier cites it: SPEC §18.7)."""
    return {
        "deal_id": registration.deal_id,
        "category": registration.category,
        "status": registration.status,
        "registration_number": registration.registration_number,
    }


def _today(clock: Clock) -> date:
    return clock.now().astimezone(SHANGHAI).date()


async def _latest(session: AsyncSession, deal_id: uuid.UUID) -> TechContractRegistration | None:
    return await session.scalar(
        select(TechContractRegistration)
        .where(TechContractRegistration.deal_id == deal_id)
        .order_by(TechContractRegistration.created_at.desc(), TechContractRegistration.id.desc())
        .limit(1)
    )


async def file(
    session: AsyncSession,
    principal: Principal,
    deal_id: uuid.UUID,
    data: schemas.TechContractFilingIn,
    clock: Clock,
) -> TechContractRegistration:
    """The seller files a settled or completed deal's contract (else 409 ``invalid_state``), once at a time:
    again only after a rejection (409 ``invalid_state`` while ``filed`` or ``registered``). The category must
    be the one the deal's kind fits (422 ``invalid_contract_category``); 0 < ``technology_amount`` ≤ the
    price (422). The deal's row is held, so two filings of one deal never both pass."""
    deal = await deals.get_deal(session, principal, deal_id, lock=True)
    if principal.organization_id is None or principal.organization_id != deal.seller_org_id:
        raise Forbidden("Only the seller files the contract for registration.")
    if not rules.is_settled(deal.status):
        raise InvalidState("A contract is filed for registration once the deal is settled.")
    latest = await _latest(session, deal.id)
    if not rules.may_file(TechContractStatus(latest.status) if latest is not None else None):
        raise InvalidState(
            "The contract is filed or registered already; it is filed anew only after a rejection."
        )
    expected = rules.category_for(deal.transaction_kind)
    if data.category != expected:
        fits = f"`{expected.value}`" if expected is not None else "no category"
        raise Unprocessable(
            f"A {deal.transaction_kind} deal is registered as {fits}.",
            code="invalid_contract_category",
            errors=[{"loc": ["body", "category"], "msg": f"must be {fits} for this deal"}],
        )
    if data.technology_amount > deal.price:
        raise Unprocessable(
            "The technology amount is more than the contract amount.",
            errors=[
                {
                    "loc": ["body", "technology_amount"],
                    "msg": "must not exceed the contract amount (the price)",
                }
            ],
        )
    now = clock.now()
    registration = TechContractRegistration(
        id=uuid.uuid4(),
        deal_id=deal.id,
        category=data.category,
        contract_amount=deal.price,
        technology_amount=data.technology_amount,
        status=TechContractStatus.filed,
        registration_number=None,
        registered_on=None,
        rejection_reason=None,
        filed_at=now,
        decided_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(registration)
    await session.flush()
    await record(
        session,
        entity_type=ENTITY,
        entity_id=registration.id,
        action="filed",
        actor=principal.label,
        at=now,
        data={
            **_facts(registration),
            "contract_amount": registration.contract_amount,
            "technology_amount": registration.technology_amount,
            "previous_id": latest.id if latest is not None else None,
        },
    )
    return registration


async def _for_operator(session: AsyncSession, registration_id: uuid.UUID) -> TechContractRegistration:
    registration = await session.get(TechContractRegistration, registration_id, with_for_update=True)
    if registration is None:
        raise NotFound("No such technology-contract registration.")
    return registration


def _move(registration: TechContractRegistration, new: TechContractStatus) -> None:
    if not rules.may_move(TechContractStatus(registration.status), new):
        raise InvalidState(f"The filing is {registration.status}; only a filed contract is {new}.")


async def register(
    session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    data: schemas.TechContractRegisterIn,
    clock: Clock,
) -> TechContractRegistration:
    """``filed`` → ``registered`` (operators) with the registration number and day (default today, never
    after today: 422)."""
    registration = await _for_operator(session, registration_id)
    _move(registration, TechContractStatus.registered)
    today = _today(clock)
    registered_on = data.registered_on or today
    if registered_on > today:
        raise Unprocessable(
            "A contract is not registered on a day to come.",
            errors=[{"loc": ["body", "registered_on"], "msg": "must not be after today"}],
        )
    now = clock.now()
    registration.status = TechContractStatus.registered
    registration.registration_number = data.registration_number
    registration.registered_on = registered_on
    registration.decided_at = registration.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type=ENTITY,
        entity_id=registration.id,
        action="registered",
        actor=principal.label,
        at=now,
        data={
            **_facts(registration),
            "registered_on": registered_on,
        },
    )
    return registration


async def reject(
    session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    data: schemas.TechContractRejectIn,
    clock: Clock,
) -> TechContractRegistration:
    """``filed`` → ``rejected`` (operators) with the reason; the seller may then file anew."""
    registration = await _for_operator(session, registration_id)
    _move(registration, TechContractStatus.rejected)
    now = clock.now()
    registration.status = TechContractStatus.rejected
    registration.rejection_reason = data.reason
    registration.decided_at = registration.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type=ENTITY,
        entity_id=registration.id,
        action="rejected",
        actor=principal.label,
        at=now,
        data={**_facts(registration), "reason": data.reason},
    )
    return registration


async def get(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> TechContractRegistration:
    """A filing, for its deal's parties and operators (anyone else 404)."""
    registration = await session.get(TechContractRegistration, registration_id)
    if registration is None:
        raise NotFound("No such technology-contract registration.")
    try:
        await deals.get_deal(session, principal, registration.deal_id)
    except NotFound:
        raise NotFound("No such technology-contract registration.") from None
    return registration


async def latest_of_deal(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID
) -> TechContractRegistration:
    """The deal's latest filing, for its parties and operators (anyone else 404; 404 when never filed)."""
    deal = await deals.get_deal(session, principal, deal_id)
    registration = await _latest(session, deal.id)
    if registration is None:
        raise NotFound("The deal's contract has not been filed for registration.")
    return registration


async def registered_numbers(session: AsyncSession, deal_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The registration number of each of these deals whose contract is registered (at most one each)."""
    if not deal_ids:
        return {}
    rows = await session.execute(
        select(TechContractRegistration.deal_id, TechContractRegistration.registration_number).where(
            TechContractRegistration.deal_id.in_(deal_ids),
            TechContractRegistration.status == TechContractStatus.registered,
        )
    )
    return {deal_id: number for deal_id, number in rows.all() if number is not None}


async def turnover(
    session: AsyncSession, *, start: date | None, end: date | None, group_by: str
) -> list[tuple[str, int, int, int]]:
    """Registered contracts (SPEC §18.7, ``measure=registered``): ``(key, contracts, contract amount,
    technology amount)`` in fen per group, ordered by key. ``start``/``end`` are inclusive days of
    registration (``registered_on``, a Shanghai day); month keys are its ``YYYY-MM``. The other groupings are
    the deal's (§15: a deal without a listing has its ``source`` as pricing mode)."""
    t = TechContractRegistration
    filters: list[Any] = [t.status == TechContractStatus.registered, t.registered_on.is_not(None)]
    if start is not None:
        filters.append(t.registered_on >= start)
    if end is not None:
        filters.append(t.registered_on <= end)
    if group_by == "month":
        rows = (
            await session.execute(
                select(t.registered_on, t.contract_amount, t.technology_amount).where(*filters)
            )
        ).all()
        counts: dict[str, int] = defaultdict(int)
        amounts: dict[str, int] = defaultdict(int)
        technology: dict[str, int] = defaultdict(int)
        for day, amount, tech in rows:
            if day is None:
                continue
            month = f"{day.year:04d}-{day.month:02d}"
            counts[month] += 1
            amounts[month] += amount
            technology[month] += tech
        return [(k, counts[k], amounts[k], technology[k]) for k in sorted(counts)]
    key: Any
    query = select().select_from(t).join(Deal, Deal.id == t.deal_id)
    if group_by == "transaction_kind":
        key = Deal.transaction_kind
    elif group_by == "pricing_mode":
        key = func.coalesce(Listing.pricing_mode, Deal.source)
        query = query.outerjoin(Listing, Listing.id == Deal.listing_id)
    else:  # seller_kind
        key = Organization.kind
        query = query.join(Organization, Organization.id == Deal.seller_org_id)
    grouped = (
        await session.execute(
            query.add_columns(key, func.count(), func.sum(t.contract_amount), func.sum(t.technology_amount))
            .where(*filters)
            .group_by(key)
        )
    ).all()
    return sorted((str(k), int(n), int(amount or 0), int(tech or 0)) for k, n, amount, tech in grouped)
