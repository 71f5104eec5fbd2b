"""HTTP routes of patents as equity (SPEC §18.2): the terms, the valuation and the equity registration of an
equity contribution's deal. Each returns the deal."""

from __future__ import annotations

import uuid

from fastapi import Response

from app.deals.schemas import DealOut
from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep
from app.equity import schemas, service
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["equity"])


@router.post(
    "/deals/{deal_id:uuid}/equity-terms",
    response_model=DealOut,
    responses=error_responses(
        401, 403, 404, codes={409: ["invalid_state"], 422: ["invalid_equity_terms", "unsupported_character"]}
    ),
    summary="Record the equity terms of an equity contribution (either party), replacing earlier ones",
    description="0 < `registered_capital` ≤ price and 0 < `equity_percent` ≤ 100 (else 422 "
    "`invalid_equity_terms`). Only in `public_notice`, or in `awaiting_signatures` before any signature (else 409 "
    "`invalid_state`); the contract text is rendered again (same contract, new `sha256`).",
)
async def record_equity_terms(
    deal_id: uuid.UUID,
    body: schemas.EquityTermsIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> DealOut:
        return DealOut.model_validate(await service.record_terms(session, principal, deal_id, body, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/deals/{deal_id:uuid}/valuation",
    response_model=DealOut,
    responses=error_responses(
        401,
        403,
        404,
        codes={
            409: ["invalid_state", "valuation_expired", "price_below_valuation", "equity_terms_required"],
            422: ["invalid_credit_code", "unsupported_character"],
        },
    ),
    summary="Record an appraisal report (the seller) or the seller's appraisal waiver (operators)",
    description="A report: `valid_until` is the day before one year after `base_date` (409 `valuation_expired` "
    "when before today); a public institution's price below 90% of `value` needs `price_justification` (409 "
    "`price_below_valuation`). A waiver needs the equity terms (409 `equity_terms_required`); its `basis` is "
    "`wholly_state_owned_investee` or `unit_decision`. Same states and contract rendering as the terms.",
)
async def record_valuation(
    deal_id: uuid.UUID,
    body: schemas.ValuationIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> DealOut:
        return DealOut.model_validate(
            await service.record_valuation(session, principal, deal_id, body, clock)
        )

    return await idem.run(act, status_code=200)


@router.post(
    "/deals/{deal_id:uuid}/equity-registration",
    response_model=DealOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"], 422: ["unsupported_character"]}),
    summary="Record the investee's change registration of the new shareholding (the buyer or operators)",
    description="A `settled` equity deal, once (else 409 `invalid_state`); `registered_on` from the settlement "
    "day to today (else 422). With the transfer registered too, the deal becomes `completed`.",
)
async def record_equity_registration(
    deal_id: uuid.UUID,
    body: schemas.EquityRegistrationIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> DealOut:
        return DealOut.model_validate(
            await service.record_registration(session, principal, deal_id, body, clock)
        )

    return await idem.run(act, status_code=200)
