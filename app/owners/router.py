"""HTTP routes of co-ownership and 赋权 (SPEC §18.5)."""

from __future__ import annotations

import uuid

from fastapi import Response, status

from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep, SettingsDep
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter
from app.models.owners import ConsentSubject
from app.owners import schemas, service
from app.patents import schemas as patent_schemas
from app.patents import service as patents

router = ExchangeRouter(tags=["patents"])


@router.post(
    "/patents/{patent_id:uuid}/owners",
    response_model=patent_schemas.PatentOut,
    responses=error_responses(
        401,
        403,
        404,
        codes={409: ["patent_locked"], 422: ["invalid_id_number", "invalid_shares", "unsupported_character"]},
    ),
    summary="Replace a patent's owners (the managing owner; drops and lowered shares: operators)",
    description="Shares are percentages with at most two decimals adding up to exactly 100.00 (else 422 "
    "`invalid_shares`); inventors' resident ID numbers are checked (422 `invalid_id_number`) and stored and "
    "shown only masked. The managing owner stays an owner. Refused while the patent is in an active listing, "
    "an open-licence declaration, an unsettled deal, a live trial offer or a pending or active pledge "
    "(409 `patent_locked`).",
)
async def set_patent_owners(
    patent_id: uuid.UUID,
    body: schemas.OwnersIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> patent_schemas.PatentOut:
    await service.set_owners(session, principal, patent_id, body, clock, key=settings.secret_key)
    return patent_schemas.PatentOut.model_validate(
        await patents.get_patent(session, principal, patent_id, clock)
    )


@router.post(
    "/patents/{patent_id:uuid}/empowerments",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.EmpowermentOut,
    responses=error_responses(
        401,
        403,
        404,
        codes={
            409: ["patent_locked"],
            422: ["invalid_id_number", "invalid_shares", "unsupported_character", "use_right_term_too_short"],
        },
    ),
    summary="Grant inventors ownership or a use right (赋权; a member of a public-institution owner)",
    description="Either form is refused while the patent is in an active listing, an open-licence declaration, "
    "an unsettled deal, a live trial offer or an active trial, or a pending or active pledge (409 "
    "`patent_locked`): what these commit the patent to is settled on consents given before.",
)
async def create_empowerment(
    patent_id: uuid.UUID,
    body: schemas.EmpowermentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: SettingsDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.EmpowermentOut:
        empowerment = await service.empower(
            session,
            principal,
            patent_id,
            body,
            clock,
            key=settings.secret_key,
            use_right_min_years=settings.use_right_min_years,
        )
        return schemas.EmpowermentOut.model_validate(service.empowerment_view(empowerment))

    return await idem.run(act)


CONSENT_RESPONSES = {
    200: {
        "model": schemas.OwnerConsentOut,
        "description": "The same consent was recorded before: the first, unchanged",
    },
    **error_responses(401, 403, 404, codes={409: ["invalid_state"], 422: ["validation_error"]}),
}
CONSENT_DESCRIPTION = (
    "A member of an organization owner sends `{}` (its organization's consent); an operator records a natural "
    "person's (`owner_id`) or a use right's (`use_right_id`) consent with the SHA-256 of the signed paper (the "
    "managing owner gets 403). While the subject is a draft, pending review or pending (else 409 "
    "`invalid_state`). The same consent again returns the first with 200."
)


async def _consent(
    subject: ConsentSubject,
    subject_id: uuid.UUID,
    body: schemas.OwnerConsentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    created = True

    async def act() -> schemas.OwnerConsentOut:
        nonlocal created
        consent, created = await service.record_consent(session, principal, subject, subject_id, body, clock)
        return schemas.OwnerConsentOut.model_validate(consent)

    response = await idem.run(act)
    if not created:
        response.status_code = status.HTTP_200_OK
    return response


@router.post(
    "/listings/{listing_id:uuid}/owner-consents",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OwnerConsentOut,
    responses=CONSENT_RESPONSES,
    tags=["listings"],
    summary="Record a co-owner's or a use right's consent to a listing",
    description=CONSENT_DESCRIPTION,
)
async def consent_to_listing(
    listing_id: uuid.UUID,
    body: schemas.OwnerConsentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    return await _consent(ConsentSubject.listing, listing_id, body, session, principal, clock, idem)


@router.post(
    "/pledges/{pledge_id:uuid}/owner-consents",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OwnerConsentOut,
    responses=CONSENT_RESPONSES,
    tags=["pledges"],
    summary="Record a co-owner's or a use right's consent to a pledge",
    description=CONSENT_DESCRIPTION,
)
async def consent_to_pledge(
    pledge_id: uuid.UUID,
    body: schemas.OwnerConsentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    return await _consent(ConsentSubject.pledge, pledge_id, body, session, principal, clock, idem)


@router.post(
    "/trial-offers/{offer_id:uuid}/owner-consents",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OwnerConsentOut,
    responses=CONSENT_RESPONSES,
    tags=["patents"],
    summary="Record a co-owner's or a use right's consent to a trial offer",
    description=CONSENT_DESCRIPTION,
)
async def consent_to_trial_offer(
    offer_id: uuid.UUID,
    body: schemas.OwnerConsentIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    return await _consent(ConsentSubject.trial_offer, offer_id, body, session, principal, clock, idem)


@router.post(
    "/organizations/{org_id:uuid}/inventor-payouts",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PayoutOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["insufficient_funds"]}),
    tags=["ledger"],
    summary="Pay an inventor out of the payable-to-inventors account (org admin)",
    description="More than was credited to that inventor less what was paid to them → 409 `insufficient_funds`.",
)
async def create_inventor_payout(
    org_id: uuid.UUID,
    body: schemas.PayoutIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.PayoutOut:
        return service.payout_view(await service.pay_inventor(session, principal, org_id, body, clock))

    return await idem.run(act)
