"""The inventor reward plan of a settled deal (SPEC §12; DOMAIN.md "Inventor rewards").

The seller records how the deal's net income is shared among the people behind the result; the plan is checked
against the seller organization's rule set (``reward_rules``: Zhejiang by default, or national) and replaced
freely while ``draft``. It records the end of the 15-day notice within the unit (restarted by a replacement,
since the notice must show the plan that is paid) and the pay-by date, six months after settlement.
``mark-paid`` (seller or operator) closes it, once the notice is over. Readers: the seller's members and
operators; the buyer and anyone else get 404. Changes are audited on the deal's chain (``entity_type="deal"``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.calendar.rules import add_months
from app.deals.rules import SETTLED
from app.equity.rules import KIND as EQUITY_KIND
from app.kit.clock import Clock
from app.kit.errors import Conflict, Forbidden, InvalidState, NotFound, Unprocessable
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI
from app.models.accounts import Organization, RewardRules
from app.models.policy import RewardPlan, RewardPlanStatus
from app.models.trading import Deal
from app.owners import service as owners
from app.rewards import rules, schemas

NOTICE = timedelta(days=rules.NOTICE_DAYS)


async def _deal_for_seller(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID, *, lock: bool = False
) -> Deal:
    deal = await session.get(Deal, deal_id, with_for_update=lock)
    if deal is None or not (
        principal.is_operator or principal.organization_id in (deal.buyer_org_id, deal.seller_org_id)
    ):
        raise NotFound("No such deal.")
    return deal


def _is_seller(principal: Principal, deal: Deal) -> bool:
    return principal.organization_id is not None and principal.organization_id == deal.seller_org_id


def _equity_deal(deal: Deal) -> bool:
    return deal.transaction_kind == EQUITY_KIND


def _pool_percent(plan: RewardPlan, deal: Deal) -> int | None:
    """An equity plan's pool (SPEC §18.2): the sum of its allocations' percentages, in basis points."""
    return sum(int(a["equity_percent"]) for a in plan.allocations) if _equity_deal(deal) else None


def present(plan: RewardPlan, deal: Deal) -> schemas.RewardPlanOut:
    """An equity plan (SPEC §18.2) shows percentages and no money."""
    equity = _equity_deal(deal)
    return schemas.RewardPlanOut(
        id=plan.id,
        deal_id=plan.deal_id,
        rule_set=RewardRules(plan.rule_set),
        form=rules.RewardForm.equity if equity else rules.RewardForm.cash,
        price=None if equity else deal.price,
        seller_fee=None if equity else deal.seller_fee,
        costs=None if equity else plan.costs,
        net_income=None if equity else plan.net_income,
        pool=None if equity else plan.pool,
        equity_percent=(deal.equity or {}).get("equity_percent") if equity else None,
        pool_percent=_pool_percent(plan, deal),
        allocations=[schemas.AllocationOut.model_validate(a) for a in plan.allocations],
        status=plan.status,
        notice_ends_at=plan.notice_ends_at,
        pay_by=plan.pay_by,
        paid_at=plan.paid_at,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def record_plan(
    session: AsyncSession,
    principal: Principal,
    deal_id: uuid.UUID,
    data: schemas.RewardPlanIn,
    clock: Clock,
) -> tuple[RewardPlan, Deal, bool]:
    """Record (or replace, while ``draft``) the plan of a settled deal; returns (plan, deal, created).
    Every rule broken is named in the 422 ``reward_plan_invalid`` errors."""
    deal = await _deal_for_seller(session, principal, deal_id, lock=True)
    if not _is_seller(principal, deal):
        raise Forbidden("Only the seller records the reward plan.")
    if deal.status not in SETTLED:  # SPEC §18.1: completed counts as settled
        raise InvalidState("A reward plan is recorded after settlement.")
    plan = await session.scalar(select(RewardPlan).where(RewardPlan.deal_id == deal.id))
    if plan is not None and plan.status != RewardPlanStatus.draft:
        raise InvalidState("The reward plan has been paid; it can no longer be replaced.")
    seller = await session.get(Organization, deal.seller_org_id)
    assert seller is not None
    rule_set = rules.RULE_SETS[RewardRules(seller.reward_rules)]
    equity = _equity_deal(deal)
    # SPEC §18.5: a co-owned deal's net income is the seller's own part − costs; the co-owners' parts go like the fee.
    others = 0 if equity else deal.price - deal.seller_fee - await owners.seller_part(session, deal)
    wrong_form = rules.form_violation(data.form, equity_deal=equity)
    if wrong_form is not None:
        violations = [wrong_form]
    elif equity:  # SPEC §18.2: the rule set applied to the deal's equity percentage
        violations = rules.check_equity_plan(
            rule_set,
            equity_bp=int((deal.equity or {}).get("equity_percent") or 0),
            allocations=[(a.role, a.equity_percent or 0) for a in data.allocations],
        )
    else:
        violations = rules.check_plan(
            rule_set,
            price=deal.price,
            seller_fee=deal.seller_fee + others,
            costs=data.costs or 0,
            allocations=[rules.Allocation(a.name, a.role, a.amount or 0) for a in data.allocations],
        )
    if violations:
        raise Unprocessable(
            "The reward plan breaks: " + ", ".join(v.rule for v in violations) + ".",
            code="reward_plan_invalid",
            errors=[v.as_error() for v in violations],
        )
    now = clock.now()
    settled_at = deal.settled_at or deal.updated_at
    costs = data.costs or 0
    values = {
        "rule_set": rule_set.name.value,
        "costs": costs,
        "net_income": 0 if equity else rules.net_income(deal.price, deal.seller_fee + others, costs),
        "pool": sum(a.amount or 0 for a in data.allocations),
        "allocations": [
            {"name": a.name, "role": a.role.value, "equity_percent": a.equity_percent}
            if equity
            else {"name": a.name, "role": a.role.value, "amount": a.amount}
            for a in data.allocations
        ],
        "notice_ends_at": now + NOTICE,
        "pay_by": add_months(settled_at.astimezone(SHANGHAI).date(), rules.PAY_WITHIN_MONTHS),
    }
    created = plan is None
    if plan is None:
        plan = RewardPlan(
            id=uuid.uuid4(),
            deal_id=deal.id,
            seller_org_id=deal.seller_org_id,
            status=RewardPlanStatus.draft,
            version=1,
            created_at=now,
            updated_at=now,
            **values,
        )
        session.add(plan)
    else:
        for key, value in values.items():
            setattr(plan, key, value)
        plan.version += 1
        plan.updated_at = now
    await session.flush()
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="reward_plan_recorded" if created else "reward_plan_replaced",
        actor=principal.label,
        at=now,
        data={
            "reward_plan_id": plan.id,
            "version": plan.version,
            "status": plan.status,
            "form": data.form.value,
            "pool_percent": _pool_percent(plan, deal),
            **values,
        },
    )
    return plan, deal, created


async def get_plan(
    session: AsyncSession, principal: Principal, deal_id: uuid.UUID
) -> tuple[RewardPlan, Deal]:
    deal = await _deal_for_seller(session, principal, deal_id)
    if not (principal.is_operator or _is_seller(principal, deal)):
        raise NotFound("No reward plan for this deal.")
    plan = await session.scalar(select(RewardPlan).where(RewardPlan.deal_id == deal.id))
    if plan is None:
        raise NotFound("No reward plan for this deal.")
    return plan, deal


async def mark_paid(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, clock: Clock
) -> tuple[RewardPlan, Deal]:
    """``draft`` → ``paid`` (the seller or an operator), once the 15-day notice is over (409
    ``reward_notice_running`` before)."""
    found = await session.scalar(select(RewardPlan.deal_id).where(RewardPlan.id == plan_id))
    if found is None:
        raise NotFound("No such reward plan.")
    deal = await _deal_for_seller(session, principal, found, lock=True)
    if not (principal.is_operator or _is_seller(principal, deal)):
        raise NotFound("No such reward plan.")
    plan = await session.scalar(select(RewardPlan).where(RewardPlan.id == plan_id).with_for_update())
    assert plan is not None
    if plan.status != RewardPlanStatus.draft:
        raise InvalidState("The reward plan is paid already.")
    now = clock.now()
    if now < plan.notice_ends_at:
        raise Conflict(
            f"The plan's notice within the unit runs until {plan.notice_ends_at.isoformat()}.",
            code="reward_notice_running",
        )
    plan.status, plan.paid_at, plan.updated_at = RewardPlanStatus.paid, now, now
    await session.flush()
    await record(
        session,
        entity_type="deal",
        entity_id=deal.id,
        action="reward_plan_paid",
        actor=principal.label,
        at=now,
        data={
            "reward_plan_id": plan.id,
            "version": plan.version,
            "status": plan.status,
            "form": rules.RewardForm.equity if _equity_deal(deal) else rules.RewardForm.cash,
            "pool": plan.pool,
            "pool_percent": _pool_percent(plan, deal),
            "late": now.date() > plan.pay_by,
        },
    )
    return plan, deal
