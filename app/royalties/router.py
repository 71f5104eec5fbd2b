"""HTTP routes of royalty reports (SPEC §18.4)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response

from app.deps import ClockDep, FeesDep, IdempotencyDep, OperatorDep, PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.royalties import schemas, service

router = ExchangeRouter(tags=["royalties"])
Out = schemas.RoyaltyReportOut
_IDEMPOTENT = " Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


@router.get(
    "/licence-records/{licence_record_id:uuid}/royalty-reports",
    response_model=Page[Out],
    responses=error_responses(401, 404, 422),
    summary="A licence record's royalty reports, latest period first (its two parties, operators)",
)
async def list_royalty_reports(
    licence_record_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[Out]:
    rows, cursor = await service.list_reports(
        session, principal, licence_record_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present(r) for r in rows], next_cursor=cursor)


@router.get(
    "/royalty-reports/{royalty_report_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="A royalty report (the licence's two parties, operators)",
)
async def get_royalty_report(
    royalty_report_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Out:
    return service.present(await service.get_report(session, principal, royalty_report_id))


@router.post(
    "/royalty-reports/{royalty_report_id:uuid}/file",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="File the period's royalty base (the licensee; again while filed to replace the figures)",
    description="`due` or `filed` → `filed` (else 409 `invalid_state`): royalty = base × rate rounded half-up "
    "to the fen; each side's fee at the schedule's bracket rates on the royalty, without the minimum; "
    "`amount_due` = royalty + the licensee's fee." + _IDEMPOTENT,
)
async def file_royalty_report(
    royalty_report_id: uuid.UUID,
    body: schemas.RoyaltyFileIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    fees: FeesDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(await service.file(session, principal, royalty_report_id, body, clock, fees))

    return await idem.run(act, status_code=200)


@router.post(
    "/royalty-reports/{royalty_report_id:uuid}/pay",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["insufficient_funds", "invalid_state"]}),
    summary="Pay a filed royalty report into escrow (the licensee)",
    description="`filed` → `paid`: `amount_due` moves from the licensee's available balance into the report's "
    "escrow. Short of money → 409 `insufficient_funds` and the report stays `filed`." + _IDEMPOTENT,
)
async def pay_royalty_report(
    royalty_report_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(await service.pay(session, principal, royalty_report_id, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/royalty-reports/{royalty_report_id:uuid}/settle",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["insufficient_funds", "invalid_state"]}),
    summary="Settle a paid royalty report (operators)",
    description="`paid` → `settled` in one journal entry: the licensor receives the royalty less its fee (a "
    "co-owned patent's: split among its owners), the exchange both fees. Settling twice never pays twice (409 "
    "`invalid_state`); 409 `insufficient_funds` only if the report's escrow were short of what was paid, which "
    "the ledger's guard refuses." + _IDEMPOTENT,
)
async def settle_royalty_report(
    royalty_report_id: uuid.UUID,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        return service.present(await service.settle(session, principal, royalty_report_id, clock))

    return await idem.run(act, status_code=200)
