"""HTTP routes of the filing workflow (SPEC §18.6): transfer tasks and licence records."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response

from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep
from app.filings import schemas, service
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["filings"])
TaskOut = schemas.TransferTaskOut
LicenceOut = schemas.LicenceRecordOut
MOVE_ERRORS = error_responses(
    401, 404, codes={409: ["invalid_state"], 422: ["unsupported_character", "validation_error"]}
)


@router.get(
    "/transfer-tasks",
    response_model=Page[TaskOut],
    responses=error_responses(401, 422),
    summary="Transfer-registration tasks of settled assignments (operators: all; parties: their own)",
)
async def list_transfer_tasks(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    deal_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[TaskOut]:
    rows, cursor = await service.list_transfer_tasks(
        session, principal, deal_id=deal_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[TaskOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/transfer-tasks/{transfer_task_id:uuid}",
    response_model=TaskOut,
    responses=error_responses(401, 404),
    summary="A transfer-registration task (its parties, operators)",
)
async def get_transfer_task(
    transfer_task_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> TaskOut:
    return TaskOut.model_validate(await service.get_transfer_task(session, principal, transfer_task_id))


@router.post(
    "/transfer-tasks/{transfer_task_id:uuid}/filed",
    response_model=TaskOut,
    responses=MOVE_ERRORS,
    summary="Record that an assignment was filed with CNIPA (either party, operators)",
    description="`pending` → `filed` (else 409 `invalid_state`) with CNIPA's receipt number; `filed_at` may not "
    "be before the settlement nor in the future (422).",
)
async def file_transfer_task(
    transfer_task_id: uuid.UUID,
    body: schemas.TransferFiledIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> TaskOut:
        return TaskOut.model_validate(
            await service.file_transfer(session, principal, transfer_task_id, body, clock)
        )

    return await idem.run(act, status_code=200)


@router.post(
    "/transfer-tasks/{transfer_task_id:uuid}/registered",
    response_model=TaskOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"], 422: ["validation_error"]}),
    summary="Record CNIPA's announcement of a filed assignment (operators; the parties 403)",
    description="`filed` → `registered` (else 409 `invalid_state`); `announcement_date` may not be before the "
    "filing day nor after today (422). For an equity contribution it completes the assignment step.",
)
async def register_transfer_task(
    transfer_task_id: uuid.UUID,
    body: schemas.TransferRegisteredIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> TaskOut:
        return TaskOut.model_validate(
            await service.register_transfer(session, principal, transfer_task_id, body, clock)
        )

    return await idem.run(act, status_code=200)


async def _licence_page(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageParams,
    deal_id: uuid.UUID | None,
    trial_id: uuid.UUID | None,
    patent_id: uuid.UUID | None,
) -> Page[LicenceOut]:
    rows, cursor = await service.list_licence_records(
        session,
        principal,
        deal_id=deal_id,
        trial_id=trial_id,
        patent_id=patent_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=[LicenceOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/licence-records",
    response_model=Page[LicenceOut],
    responses=error_responses(401, 422),
    summary="Licence records of settled licence deals and trials (operators: all; parties: their own)",
)
async def list_licence_records(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    deal_id: Annotated[uuid.UUID | None, Query()] = None,
    trial_id: Annotated[uuid.UUID | None, Query()] = None,
    patent_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[LicenceOut]:
    return await _licence_page(session, principal, page, deal_id, trial_id, patent_id)


@router.get(
    "/licences",
    response_model=Page[LicenceOut],
    responses=error_responses(401, 422),
    summary="Licence records (the older name of GET /licence-records, same answer)",
)
async def list_licences(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    deal_id: Annotated[uuid.UUID | None, Query()] = None,
    trial_id: Annotated[uuid.UUID | None, Query()] = None,
    patent_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[LicenceOut]:
    return await _licence_page(session, principal, page, deal_id, trial_id, patent_id)


@router.get(
    "/licence-records/{licence_record_id:uuid}",
    response_model=LicenceOut,
    responses=error_responses(401, 404),
    summary="A licence record (licensor, licensee, operators)",
)
async def get_licence_record(
    licence_record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> LicenceOut:
    return LicenceOut.model_validate(await service.get_licence_record(session, principal, licence_record_id))


@router.post(
    "/licence-records/{licence_record_id:uuid}/filed",
    response_model=LicenceOut,
    responses=MOVE_ERRORS,
    summary="Record that a licence was filed with CNIPA (licensor, licensee, operators)",
    description="`pending` → `filed` (else 409 `invalid_state`) with CNIPA's filing number; `filed_at` may not "
    "be before the record's creation nor in the future (422).",
)
async def file_licence_record(
    licence_record_id: uuid.UUID,
    body: schemas.LicenceFiledIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> LicenceOut:
        return LicenceOut.model_validate(
            await service.file_licence(session, principal, licence_record_id, body, clock)
        )

    return await idem.run(act, status_code=200)
