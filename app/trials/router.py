"""HTTP routes of trial licences 先使用后付费 (SPEC §18.3)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.deps import (
    CalendarDep,
    ClockDep,
    FeesDep,
    IdempotencyDep,
    OperatorDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionDep,
    VerifiedMemberDep,
)
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.trials import TrialOfferStatus
from app.trials import schemas, service

router = ExchangeRouter(tags=["trials"])
OfferOut = schemas.TrialOfferOut
TrialOut = schemas.TrialOut

_PATENT_CODES = [
    "annual_fee_unpaid",
    "exclusive_license_active",
    "open_license_active",
    "patent_expired",
    "patent_not_granted",
    "patent_preserved",
]
_PUBLIC = (
    "Offers that were offered (also when withdrawn since) are public (no sign-in needed); one pending review, or "
    "withdrawn before approval, is seen only by the owner organization and operators."
)
_IDEMPOTENT = " Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


@router.post(
    "/trial-offers",
    status_code=status.HTTP_201_CREATED,
    response_model=OfferOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={409: [*_PATENT_CODES, "trial_offer_exists"], 422: ["unsupported_character"]},
    ),
    summary="Offer your patent for trial use (public-institution owners; → pending_review)",
    description="Each conversion type takes exactly its fields (422 naming the field); a sole or exclusive kind, "
    "or an assignment conversion, needs `max_trials: 1`. Refused with 409 `patent_not_granted`, "
    "`patent_expired`, `annual_fee_unpaid`, `patent_preserved`, `exclusive_license_active`, "
    "`open_license_active` or `trial_offer_exists`." + _IDEMPOTENT,
)
async def create_trial_offer(
    body: schemas.TrialOfferCreate,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> OfferOut:
        return service.present_offer(await service.create_offer(session, principal, body, clock))

    return await idem.run(act)


@router.get(
    "/trial-offers",
    response_model=Page[OfferOut],
    responses=error_responses(401, 422),
    summary="Trial offers, newest first",
    description=_PUBLIC,
)
async def list_trial_offers(
    session: SessionDep,
    principal: OptionalPrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    patent_id: uuid.UUID | None = None,
    status_: Annotated[TrialOfferStatus | None, Query(alias="status")] = None,
) -> Page[OfferOut]:
    rows, cursor = await service.list_offers(
        session, principal, patent_id=patent_id, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present_offer(x) for x in rows], next_cursor=cursor)


@router.get(
    "/trial-offers/{trial_offer_id:uuid}",
    response_model=OfferOut,
    responses=error_responses(401, 404),
    summary="A trial offer with its number of active trials",
    description=_PUBLIC,
)
async def get_trial_offer(
    trial_offer_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipalDep
) -> OfferOut:
    return service.present_offer(await service.get_offer(session, principal, trial_offer_id))


@router.post(
    "/trial-offers/{trial_offer_id:uuid}/approve",
    response_model=OfferOut,
    responses=error_responses(
        401,
        403,
        404,
        codes={
            409: [
                *_PATENT_CODES,
                "co_owner_consent_required",
                "invalid_state",
                "patent_pledged",
                "use_right_conflict",
            ]
        },
    ),
    summary="Approve a trial offer (operators; → offered)",
    description="Re-checks the patent; a sole or exclusive kind, or an assignment conversion, needs every other "
    "co-owner's consent (409 `co_owner_consent_required`) and every use right's (409 `use_right_conflict`); a "
    "pledged patent needs its pledgee's consent to this offer (409 `patent_pledged`)." + _IDEMPOTENT,
)
async def approve_trial_offer(
    trial_offer_id: uuid.UUID,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> OfferOut:
        return service.present_offer(await service.approve_offer(session, principal, trial_offer_id, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/trial-offers/{trial_offer_id:uuid}/withdraw",
    response_model=OfferOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Withdraw a trial offer (owner); trials already started run on",
    description=_IDEMPOTENT.strip(),
)
async def withdraw_trial_offer(
    trial_offer_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> OfferOut:
        return service.present_offer(await service.withdraw_offer(session, principal, trial_offer_id, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/trial-offers/{trial_offer_id:uuid}/trials",
    status_code=status.HTTP_201_CREATED,
    response_model=TrialOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "invalid_state",
                "sme_required",
                "trial_already_active",
                "trial_already_used",
                "trial_limit_reached",
            ]
        },
    ),
    summary="Start a trial under an offered trial offer (SME enterprises)",
    description="Creates the trial's licence record; no money, no fee. Refused with 409 `sme_required`, "
    "`invalid_state`, `trial_already_active`, `trial_already_used` or `trial_limit_reached`; the owner 403."
    + _IDEMPOTENT,
)
async def start_trial(
    trial_offer_id: uuid.UUID,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    body: schemas.TrialStartIn | None = None,
) -> Response:
    async def act() -> TrialOut:
        return service.present_trial(await service.start_trial(session, principal, trial_offer_id, clock))

    return await idem.run(act)


@router.get(
    "/trial-offers/{trial_offer_id:uuid}/trials",
    response_model=Page[TrialOut],
    responses=error_responses(401, 404, 422),
    summary="Trials under an offer (the offerer and operators: all; a company: its own)",
)
async def list_offer_trials(
    trial_offer_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[TrialOut]:
    rows, cursor = await service.list_trials(
        session, principal, trial_offer_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present_trial(x) for x in rows], next_cursor=cursor)


@router.get(
    "/trials/{trial_id:uuid}",
    response_model=TrialOut,
    responses=error_responses(401, 404),
    summary="A trial (licensee, licensor, operators)",
)
async def get_trial(trial_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> TrialOut:
    return service.present_trial(await service.get_trial(session, principal, trial_id))


@router.post(
    "/trials/{trial_id:uuid}/convert",
    response_model=TrialOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state", "patent_already_listed"]}),
    summary="Convert a trial into a deal on the offer's terms (licensee, before ends_at)",
    description="The deal (`source: trial`) starts `awaiting_signatures`, or `public_notice` until 15 days "
    "after the offer's approval when it has been offered for less than that; the response names its "
    "`deal_id`." + _IDEMPOTENT,
)
async def convert_trial(
    trial_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
    fees: FeesDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> TrialOut:
        return service.present_trial(
            await service.convert_trial(session, principal, trial_id, clock, calendar, fees)
        )

    return await idem.run(act, status_code=200)


@router.post(
    "/trials/{trial_id:uuid}/terminate",
    response_model=TrialOut,
    responses=error_responses(401, 404, 422, codes={409: ["invalid_state"]}),
    summary="Terminate an active trial (licensee, licensor or operators); its licence record ends that day",
    description=_IDEMPOTENT.strip(),
)
async def terminate_trial(
    trial_id: uuid.UUID,
    body: schemas.TerminateIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> TrialOut:
        return service.present_trial(
            await service.terminate_trial(session, principal, trial_id, body.reason, clock)
        )

    return await idem.run(act, status_code=200)
