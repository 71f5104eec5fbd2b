"""HTTP routes of the inventor reward plan (SPEC §12)."""

from __future__ import annotations

import uuid

from fastapi import Response, status

from app.deps import ClockDep, PrincipalDep, SessionDep, VerifiedMemberDep
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter
from app.rewards import schemas, service

router = ExchangeRouter(tags=["rewards"])
Out = schemas.RewardPlanOut


@router.post(
    "/deals/{deal_id:uuid}/reward-plan",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses={
        200: {"model": Out, "description": "The draft plan was replaced"},
        **error_responses(401, 403, 404, codes={409: ["invalid_state"], 422: ["reward_plan_invalid"]}),
    },
    summary="Record or replace the inventor reward plan of a settled deal (seller)",
    description="201 when recorded, 200 when a draft plan is replaced; refused once paid (409 `invalid_state`). "
    "A plan breaking the seller's rule set (Zhejiang: pool ≥ 70% of net income, main contributors ≥ 70% of the "
    "pool, transfer staff and managers ≥ 5%; national: pool ≥ 50%) → 422 `reward_plan_invalid` naming each rule. "
    "An equity contribution's plan is in equity (`form: equity`, `allocations[].equity_percent`): the same shares "
    "apply to the deal's `equity_percent`, and its money fields are null; a plan of the other form → 422 "
    "`reward_plan_invalid` (rule `form`).",
)
async def record_reward_plan(
    deal_id: uuid.UUID,
    body: schemas.RewardPlanIn,
    response: Response,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
) -> Out:
    plan, deal, created = await service.record_plan(session, principal, deal_id, body, clock)
    if not created:
        response.status_code = status.HTTP_200_OK
    return service.present(plan, deal)


@router.get(
    "/deals/{deal_id:uuid}/reward-plan",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="The inventor reward plan of a deal (seller and operators)",
)
async def get_reward_plan(deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Out:
    plan, deal = await service.get_plan(session, principal, deal_id)
    return service.present(plan, deal)


@router.post(
    "/reward-plans/{reward_plan_id:uuid}/mark-paid",
    response_model=Out,
    responses=error_responses(401, 404, codes={409: ["invalid_state", "reward_notice_running"]}),
    summary="Record that the rewards were paid (seller or operators), once the 15-day notice is over",
)
async def mark_reward_plan_paid(
    reward_plan_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    plan, deal = await service.mark_paid(session, principal, reward_plan_id, clock)
    return service.present(plan, deal)
