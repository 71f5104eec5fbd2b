"""Patents as equity (作价入股, SPEC §18.2): the terms, the valuation (a report or an operator-recorded waiver), the
completion steps after settlement, and the move to ``completed``.

* Terms and valuation change only in ``public_notice`` or in ``awaiting_signatures`` before any signature (else
  409 ``invalid_state``); each change renders the contract again (same ``contract_id``, new ``sha256``, so a
  signature sent with the older hash gets 409 ``contract_changed``), bumps the deal's ``version`` and appends
  ``equity_terms_recorded`` / ``valuation_recorded`` to the deal's chain.
* Settlement (``app.settlement.service``) calls ``start_completion``: both steps due on the settlement day + 60.
  The assignment step is done when the transfer task is registered (``on_transfer_registered``, called by
  ``app.filings``); ``record_registration`` records the other (``equity_registration_recorded``). Both done →
  ``completed`` through the deals mover (``completed_at``, audit ``completed``).
* ``flag_overdue`` (the sweeper, ``app.equity.deadlines``) flags each step past its ``due_on`` once and tells
  both parties (``equity_completion_overdue``); nothing is unwound.

Services flush, never commit.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import SYSTEM_ACTOR, record
from app.contracts import generation, templates
from app.deals import service as deals
from app.deals.rules import By
from app.equity import rules, schemas
from app.equity.rules import KIND
from app.kit.clock import Clock
from app.kit.errors import Forbidden, InvalidState, Unprocessable
from app.kit.security import Principal
from app.models.accounts import Organization
from app.models.contracts import Contract, ContractSignature
from app.models.listings import ListingPatent
from app.models.settlement import TransferTask
from app.models.trading import Deal, DealStatus
from app.notifications.outbox import notify
from app.owners import queries as owners

__all__ = [
    "KIND",
    "flag_overdue",
    "on_transfer_registered",
    "overdue_deals",
    "record_registration",
    "record_terms",
    "record_valuation",
    "start_completion",
]


async def _equity_deal(session: AsyncSession, principal: Principal, deal_id: uuid.UUID) -> Deal:
    """The deal, locked, for its parties and operators (others 404); 404 too when it is not an equity
    contribution (it has no such sub-resource)."""
    deal = await deals.get_deal(session, principal, deal_id, lock=True)
    if deal.transaction_kind != KIND:
        raise InvalidState("Only an equity contribution has equity terms.")
    return deal


async def _check_editable(session: AsyncSession, deal: Deal) -> None:
    """``public_notice``, or ``awaiting_signatures`` before any signature (409 ``invalid_state``)."""
    if deal.status == DealStatus.public_notice:
        return
    if deal.status == DealStatus.awaiting_signatures:
        signed = await session.scalar(
            select(func.count())
            .select_from(ContractSignature)
            .where(ContractSignature.contract_id == deal.contract_id)
        )
        if not signed:
            return
        raise InvalidState("The contract has been signed: the equity terms and valuation are fixed.")
    raise InvalidState(f"The deal is {deal.status}: the equity terms and valuation are fixed.")


async def _regenerate_contract(session: AsyncSession, deal: Deal, at: datetime) -> Contract:
    """Render the deal's contract again from its current facts: same id, new text and SHA-256."""
    contract = await session.get(Contract, deal.contract_id, with_for_update=True)
    assert contract is not None
    parties = {
        o.id: templates.PartyFacts(o.name, o.credit_code)
        for o in await session.scalars(
            select(Organization).where(Organization.id.in_([deal.seller_org_id, deal.buyer_org_id]))
        )
    }
    patents = (
        (await generation.patents_of(session, [deal.listing_id]))[deal.listing_id] if deal.listing_id else []
    )
    values = generation.contract_values(
        {
            "id": deal.id,
            "transaction_kind": deal.transaction_kind,
            "source": deal.source,
            "price": deal.price,
            "deposit_applied": deal.deposit_applied,
            "buyer_fee": deal.buyer_fee,
            "seller_fee": deal.seller_fee,
            "amount_due": deal.amount_due,
            "equity": deal.equity,
        },
        seller=parties[deal.seller_org_id],
        buyer=parties[deal.buyer_org_id],
        patents=patents,
        license_terms=None,
        at=deal.created_at,  # the date the contract was generated stays the deal's
    )
    contract.text, contract.sha256, contract.updated_at = values["text"], values["sha256"], at
    await session.flush()
    return contract


async def _changed(
    session: AsyncSession,
    deal: Deal,
    equity: dict[str, Any],
    *,
    action: str,
    actor: str,
    at: datetime,
    data: dict[str, Any],
) -> None:
    """Store the new ``equity``, bump the deal's version and append ``action`` to its chain."""
    deal.equity = equity
    deal.version += 1
    deal.updated_at = at
    await session.flush()
    await record(session, entity_type="deal", entity_id=deal.id, action=action, actor=actor, at=at, data=data)


async def _contributors(session: AsyncSession, deal: Deal, equity_bp: int) -> list[dict[str, Any]]:
    """The owners of the deal's patents (every patent of a listing has the same owners, SPEC §18.5) with their
    part of ``equity_bp``."""
    patent_ids = await _patent_ids(session, deal.listing_id) if deal.listing_id is not None else []
    found = await owners.owners_of(session, patent_ids[:1])
    listed = found.get(patent_ids[0], []) if patent_ids else []
    seller = str(deal.seller_org_id)
    people = [
        rules.Contributor(str(o.id if o.id is not None else o.organization_id), o.name, o.share_bp)
        for o in listed
    ]
    seller_key = next(
        (c.owner_id for c, o in zip(people, listed, strict=True) if o.organization_id == deal.seller_org_id),
        seller,
    )
    if not people:
        organization = await session.get(Organization, deal.seller_org_id)
        assert organization is not None
        people = [rules.Contributor(seller, organization.name, 10_000)]
    return rules.contributors(people, equity_bp, seller_key)


async def _patent_ids(session: AsyncSession, listing_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(ListingPatent.patent_id)
        .where(ListingPatent.listing_id == listing_id)
        .order_by(ListingPatent.position, ListingPatent.patent_id)
    )
    return list(rows.all())


# --- terms and valuation -----------------------------------------------------------------------------------


async def record_terms(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, body: schemas.EquityTermsIn, clock: Clock
) -> Deal:
    """``POST /deals/{id}/equity-terms`` (a member of either party; operators 403): replaces earlier terms."""
    deal = await _equity_deal(session, principal, deal_id)
    if principal.is_operator:
        raise Forbidden("The parties record their equity terms.")
    await _check_editable(session, deal)
    rules.check_terms(
        registered_capital=body.registered_capital, equity_bp=body.equity_percent, price=deal.price
    )
    now = clock.now()
    equity = copy.deepcopy(deal.equity) or {}
    equity["registered_capital"] = body.registered_capital
    equity["equity_percent"] = body.equity_percent
    equity["investee_state_owned"] = body.investee_state_owned
    equity["contributors"] = await _contributors(session, deal, body.equity_percent)
    if equity.get("appraisal_waiver") is not None:  # the waiver's basis follows the terms
        equity["appraisal_waiver"]["basis"] = rules.basis(body.investee_state_owned).value
    deal.equity = equity
    contract = await _regenerate_contract(session, deal, now)
    await _changed(
        session,
        deal,
        equity,
        action="equity_terms_recorded",
        actor=principal.label,
        at=now,
        data={
            "registered_capital": body.registered_capital,
            "equity_percent": body.equity_percent,
            "investee_state_owned": body.investee_state_owned,
            "contributors": equity["contributors"],
            "contract_id": contract.id,
            "contract_sha256": contract.sha256,
        },
    )
    return deal


async def record_valuation(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, body: schemas.ValuationIn, clock: Clock
) -> Deal:
    """``POST /deals/{id}/valuation``: the seller records an appraisal report, an operator the seller's waiver
    (the seller 403; the buyer 403 for both). A report replaces a waiver and the reverse."""
    deal = await _equity_deal(session, principal, deal_id)
    now = clock.now()
    today = rules.shanghai_day(now)
    equity = copy.deepcopy(deal.equity) or {}
    if body.report is not None:
        if principal.organization_id != deal.seller_org_id:
            raise Forbidden("The seller records the appraisal report.")
        await _check_editable(session, deal)
        report = body.report
        if report.base_date > today:
            raise Unprocessable(
                "The report's base date is in the future.",
                errors=[{"loc": ["body", "report", "base_date"], "msg": "must not be in the future"}],
            )
        valuation = {
            "appraiser_name": report.appraiser_name,
            "appraiser_credit_code": report.appraiser_credit_code,
            "method": report.method.value,
            "value": report.value,
            "base_date": report.base_date.isoformat(),
            "valid_until": rules.valid_until(report.base_date).isoformat(),
            "report_number": report.report_number,
        }
        rules.check_report_current(valuation, today)
        seller = await session.get(Organization, deal.seller_org_id)
        assert seller is not None
        rules.check_price(
            price=deal.price,
            value=report.value,
            seller_is_public_institution=seller.is_public_institution,
            justification=body.price_justification,
        )
        equity.update(
            valuation=valuation, appraisal_waiver=None, price_justification=body.price_justification
        )
        data: dict[str, Any] = {"valuation": valuation, "price_justification": body.price_justification}
    else:
        assert body.appraisal_waiver is not None
        if not principal.is_operator:
            raise Forbidden("An operator records an appraisal waiver from the seller's decision document.")
        await _check_editable(session, deal)
        waiver = {
            "decision_number": body.appraisal_waiver.decision_number,
            "decided_on": body.appraisal_waiver.decided_on.isoformat(),
            "basis": rules.waiver_basis(equity).value,
            "recorded_by": principal.label,
        }
        equity.update(valuation=None, appraisal_waiver=waiver, price_justification=None)
        data = {"appraisal_waiver": waiver}
    deal.equity = equity
    contract = await _regenerate_contract(session, deal, now)
    data.update(contract_id=contract.id, contract_sha256=contract.sha256)
    await _changed(
        session, deal, equity, action="valuation_recorded", actor=principal.label, at=now, data=data
    )
    return deal


# --- completion --------------------------------------------------------------------------------------------


async def start_completion(session: AsyncSession, deal: Deal, *, at: datetime) -> None:
    """At settlement (in its transaction): both steps due on the settlement day + 60 days."""
    equity = copy.deepcopy(deal.equity) or {}
    equity["completion"] = rules.completion(rules.shanghai_day(at))
    deal.equity = equity
    await session.flush()


async def _complete_if_done(session: AsyncSession, deal: Deal, *, at: datetime, actor: str) -> None:
    """Both steps done → ``completed`` through the mover (``completed_at``, audit ``completed``)."""
    completion = (deal.equity or {}).get("completion")
    if deal.status != DealStatus.settled or set(rules.done_steps(completion)) != {
        s.value for s in rules.STEPS
    }:
        return
    await deals.move(
        session,
        deal,
        DealStatus.completed,
        by=By.rules,
        actor=actor,
        at=at,
        action="completed",
        values={"completed_at": at},
        data={"status": DealStatus.completed, "completion": completion},
    )


async def on_transfer_registered(session: AsyncSession, task: TransferTask, at: datetime) -> None:
    """The transfer task of an equity deal became ``registered``: the assignment step is done on the
    announcement date; the deal completes if the other step is done too. Called by ``app.filings``."""
    deal = await session.get(Deal, task.deal_id, with_for_update=True)
    if deal is None or deal.transaction_kind != KIND or not (deal.equity or {}).get("completion"):
        return
    equity = copy.deepcopy(deal.equity)
    assert equity is not None
    step = equity["completion"][rules.Step.assignment.value]
    if step["done_on"] is not None:
        return
    step["done_on"] = (
        task.announcement_date.isoformat() if task.announcement_date else rules.shanghai_day(at).isoformat()
    )
    deal.equity = equity
    deal.updated_at = at
    await session.flush()
    await _complete_if_done(session, deal, at=at, actor=SYSTEM_ACTOR)


async def record_registration(
    session: AsyncSession,
    principal: Principal,
    deal_id: uuid.UUID,
    body: schemas.EquityRegistrationIn,
    clock: Clock,
) -> Deal:
    """``POST /deals/{id}/equity-registration`` (a member of the buyer, or an operator; the seller 403): a
    ``settled`` deal's change registration, once (409 ``invalid_state`` otherwise)."""
    deal = await _equity_deal(session, principal, deal_id)
    if not (principal.is_operator or principal.organization_id == deal.buyer_org_id):
        raise Forbidden("The investee (or an operator) records the equity registration.")
    equity = copy.deepcopy(deal.equity) or {}
    completion = equity.get("completion")
    if deal.status != DealStatus.settled or not completion:
        raise InvalidState(f"The deal is {deal.status}: the equity registration follows settlement.")
    step = completion[rules.Step.equity_registration.value]
    if step["registered_on"] is not None:
        raise InvalidState("The equity registration is already recorded.")
    now = clock.now()
    assert deal.settled_at is not None
    problem = rules.registration_day_problem(
        body.registered_on, settled_on=rules.shanghai_day(deal.settled_at), today=rules.shanghai_day(now)
    )
    if problem is not None:
        raise Unprocessable(
            f"registered_on {problem}.", errors=[{"loc": ["body", "registered_on"], "msg": problem}]
        )
    step.update(
        registration_number=body.registration_number,
        authority=body.authority,
        registered_on=body.registered_on.isoformat(),
    )
    await _changed(
        session,
        deal,
        equity,
        action="equity_registration_recorded",
        actor=principal.label,
        at=now,
        data={
            "registration_number": body.registration_number,
            "authority": body.authority,
            "registered_on": body.registered_on.isoformat(),
        },
    )
    await _complete_if_done(session, deal, at=now, actor=principal.label)
    return deal


# --- overdue steps (the sweeper) ---------------------------------------------------------------------------


async def overdue_deals(session: AsyncSession, now: datetime, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    """Settled equity deals with a step to flag as of ``now``: (when it passed, deal id), earliest first. Few
    deals are ever settled-but-incomplete, so the JSON is read and checked here."""
    horizon = now - timedelta(days=rules.COMPLETION_DAYS)
    rows = await session.execute(
        select(Deal.id, Deal.equity).where(
            Deal.status == DealStatus.settled, Deal.transaction_kind == KIND, Deal.settled_at <= horizon
        )
    )
    due = []
    for deal_id, equity in rows:
        at = rules.first_overdue_at((equity or {}).get("completion"))
        if at is not None and at <= now:
            due.append((at, deal_id))
    return sorted(due)[:limit]


async def flag_overdue(session: AsyncSession, deal_id: uuid.UUID, now: datetime) -> bool:
    """Flag every step of the deal whose ``due_on`` passed by ``now`` and tell both parties once per step
    (``equity_completion_overdue`` {deal_id, step, due_on}), as of the instant it passed. The deal stays
    ``settled``. False when nothing was left to flag (another sweeper did, or the step was done)."""
    deal = await session.scalar(
        select(Deal)
        .where(Deal.id == deal_id, Deal.status == DealStatus.settled)
        .with_for_update(skip_locked=True)
    )
    if deal is None:
        return False
    equity = copy.deepcopy(deal.equity) or {}
    completion = equity.get("completion")
    steps = rules.overdue_steps(completion, rules.shanghai_day(now))
    if not steps:
        return False
    assert completion is not None
    for step in steps:
        entry = completion[step.value]
        entry["overdue"] = True
        at = rules.passes_at(date.fromisoformat(entry["due_on"]))
        await record(
            session,
            entity_type="deal",
            entity_id=deal.id,
            action="completion_overdue",
            actor=SYSTEM_ACTOR,
            at=at,
            data={"step": step.value, "due_on": entry["due_on"]},
        )
        await notify(
            session,
            "equity_completion_overdue",
            [deal.seller_org_id, deal.buyer_org_id],
            {"deal_id": str(deal.id), "step": step.value, "due_on": entry["due_on"]},
            at=at,
        )
    deal.equity = equity
    await session.flush()
    return True
