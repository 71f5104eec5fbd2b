"""HTTP routes of technology-contract registration (SPEC §18.7)."""

from __future__ import annotations

import uuid

from fastapi import Response, status

from app.deps import ClockDep, IdempotencyDep, OperatorDep, PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter
from app.techcontracts import schemas, service

router = ExchangeRouter(tags=["tech-contracts"])
Out = schemas.TechContractRegistrationOut


@router.post(
    "/deals/{deal_id:uuid}/tech-contract-registration",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401, 403, 404, codes={409: ["invalid_state"], 422: ["invalid_contract_category", "validation_error"]}
    ),
    summary="File a settled deal's contract for technology-contract registration (the seller)",
    description="技术合同认定登记. The deal must be settled or completed, and its contract not filed or registered "
    "already (409 `invalid_state`; after a rejection it is filed anew). `category` is `technology_transfer` for "
    "an assignment or equity contribution, `technology_licensing` for a licence (else 422 "
    "`invalid_contract_category`); 0 < `technology_amount` ≤ `contract_amount`, the price (else 422).",
)
async def file_tech_contract_registration(
    deal_id: uuid.UUID,
    body: schemas.TechContractFilingIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(await service.file(session, principal, deal_id, body, clock))

    return await idem.run(act, status_code=201)


@router.get(
    "/deals/{deal_id:uuid}/tech-contract-registration",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="The latest technology-contract registration filing of a deal (its parties, operators)",
)
async def get_deal_tech_contract_registration(
    deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Out:
    return service.present(await service.latest_of_deal(session, principal, deal_id))


@router.get(
    "/tech-contract-registrations/{tech_contract_registration_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="A technology-contract registration filing (its deal's parties, operators)",
)
async def get_tech_contract_registration(
    tech_contract_registration_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Out:
    return service.present(await service.get(session, principal, tech_contract_registration_id))


@router.post(
    "/tech-contract-registrations/{tech_contract_registration_id:uuid}/register",
    response_model=Out,
    responses=error_responses(
        401, 403, 404, codes={409: ["invalid_state"], 422: ["unsupported_character", "validation_error"]}
    ),
    summary="Register a filed contract with its registration number (operators)",
    description="`filed` → `registered` (else 409 `invalid_state`); `registered_on` defaults to today "
    "(Shanghai) and may not be after it (422).",
)
async def register_tech_contract(
    tech_contract_registration_id: uuid.UUID,
    body: schemas.TechContractRegisterIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(
            await service.register(session, principal, tech_contract_registration_id, body, clock)
        )

    return await idem.run(act, status_code=200)


@router.post(
    "/tech-contract-registrations/{tech_contract_registration_id:uuid}/reject",
    response_model=Out,
    responses=error_responses(
        401, 403, 404, codes={409: ["invalid_state"], 422: ["unsupported_character", "validation_error"]}
    ),
    summary="Reject a filed contract with the reason (operators); the seller may file anew",
)
async def reject_tech_contract(
    tech_contract_registration_id: uuid.UUID,
    body: schemas.TechContractRejectIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(
            await service.reject(session, principal, tech_contract_registration_id, body, clock)
        )

    return await idem.run(act, status_code=200)
