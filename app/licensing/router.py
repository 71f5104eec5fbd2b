"""HTTP routes of open licensing (SPEC §13)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.deps import (
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
from app.licensing import schemas, service
from app.models.policy import OpenLicenseGrant, OpenLicenseStatus

router = ExchangeRouter(tags=["open-licenses"])
Out = schemas.OpenLicenseOut
_PUBLIC = (
    "Declared open licences, and those withdrawn after their declaration, are public (no sign-in needed); a "
    "declaration pending review, or withdrawn before approval, is seen only by the owner organization and "
    "operators."
)


def _licence(grant: OpenLicenseGrant) -> schemas.OpenLicenceGrantOut:
    return schemas.OpenLicenceGrantOut.model_validate(grant)


@router.post(
    "/open-licenses",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "annual_fee_unpaid",
                "evaluation_report_required",
                "exclusive_license_active",
                "open_license_exists",
                "patent_expired",
                "patent_not_granted",
                "patent_preserved",
            ]
        },
    ),
    summary="Declare an open licence of your patent (→ pending_review)",
    description="Refused with 409 `patent_not_granted`, `patent_expired`, `annual_fee_unpaid`, `patent_preserved`, "
    "`exclusive_license_active`, `evaluation_report_required` or `open_license_exists`.",
)
async def create_open_license(
    body: schemas.OpenLicenseCreate, session: SessionDep, principal: VerifiedMemberDep, clock: ClockDep
) -> Out:
    item = await service.create_open_license(session, principal, body, clock)
    return (await service.present(session, [item]))[0]


@router.get(
    "/open-licenses",
    response_model=Page[Out],
    responses=error_responses(401, 422),
    summary="Open licences, newest first",
    description=_PUBLIC,
)
async def list_open_licenses(
    session: SessionDep,
    principal: OptionalPrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    patent_id: uuid.UUID | None = None,
    status_: Annotated[OpenLicenseStatus | None, Query(alias="status")] = None,
) -> Page[Out]:
    rows, cursor = await service.list_open_licenses(
        session, principal, patent_id=patent_id, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=await service.present(session, rows), next_cursor=cursor)


@router.get(
    "/open-licenses/{open_license_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="An open licence",
    description=_PUBLIC,
)
async def get_open_license(
    open_license_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipalDep
) -> Out:
    item = await service.get_open_license(session, principal, open_license_id)
    return (await service.present(session, [item]))[0]


@router.post(
    "/open-licenses/{open_license_id:uuid}/approve",
    response_model=Out,
    responses=error_responses(
        401,
        403,
        404,
        codes={
            409: [
                "annual_fee_unpaid",
                "evaluation_report_required",
                "exclusive_license_active",
                "invalid_state",
                "patent_expired",
                "patent_not_granted",
                "patent_pledged",
                "patent_preserved",
            ]
        },
    ),
    summary="Approve a pending open licence (operators; → declared)",
    description="Re-checks the patent rules; a pledged patent needs its pledgee's consent (409 `patent_pledged`).",
)
async def approve_open_license(
    open_license_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> Out:
    item = await service.approve_open_license(session, principal, open_license_id, clock)
    return (await service.present(session, [item]))[0]


@router.post(
    "/open-licenses/{open_license_id:uuid}/withdraw",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Withdraw an open licence (owner); licences already granted stay valid",
)
async def withdraw_open_license(
    open_license_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    item = await service.withdraw_open_license(session, principal, open_license_id, clock)
    return (await service.present(session, [item]))[0]


@router.post(
    "/open-licenses/{open_license_id:uuid}/licenses",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OpenLicenceGrantOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "annual_fee_unpaid",
                "evaluation_report_required",
                "exclusive_license_active",
                "insufficient_funds",
                "invalid_state",
                "patent_expired",
                "patent_not_granted",
                "patent_not_transferable",
                "patent_pledged",
                "patent_preserved",
            ]
        },
    ),
    summary="Take a non-exclusive licence under a declared open licence, paid and settled at once",
    description="The licensee pays the lump sum plus its fee; the owner receives the lump sum less its fee. "
    "Short of money → 409 `insufficient_funds`. Send an `Idempotency-Key` to make a retry safe: the first "
    "response is replayed.",
)
async def take_open_license(
    open_license_id: uuid.UUID,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
    fees: FeesDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.OpenLicenceGrantOut:
        return _licence(await service.take_licence(session, principal, open_license_id, clock, fees))

    return await idem.run(act)


@router.get(
    "/open-licenses/{open_license_id:uuid}/licenses",
    response_model=Page[schemas.OpenLicenceGrantOut],
    responses=error_responses(401, 404, 422),
    summary="Licences under an open licence (owner and operators: all; a licensee: its own)",
)
async def list_open_license_licences(
    open_license_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[schemas.OpenLicenceGrantOut]:
    rows, cursor = await service.list_licences(
        session, principal, open_license_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[_licence(g) for g in rows], next_cursor=cursor)
