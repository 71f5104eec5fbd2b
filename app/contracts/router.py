"""HTTP routes of contracts and signing (SPEC §11) and of public notices and objections (SPEC §8)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import Body, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.contracts import pdf, schemas, service
from app.deps import (
    CalendarDep,
    ClockDep,
    IdempotencyDep,
    OperatorDep,
    PrincipalDep,
    SessionDep,
    VerifiedMemberDep,
)
from app.kit.clock import Clock
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.kit.security import Principal
from app.kit.workdays import WorkdayCalendar
from app.models.contracts import Contract, ContractSignature, Objection, ObjectionStatus
from app.models.trading import Deal

contracts_router = ExchangeRouter(tags=["contracts"])
notices_router = ExchangeRouter(tags=["notices"])
_IDEMPOTENT = "Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


def _contract_out(contract: Contract, deal: Deal, signatures: list[ContractSignature]) -> schemas.ContractOut:
    return schemas.ContractOut(
        id=contract.id,
        deal_id=contract.deal_id,
        transaction_kind=contract.transaction_kind,
        text=contract.text,
        sha256=contract.sha256,
        signatures=[schemas.SignatureOut.model_validate(s) for s in signatures],
        status=service.contract_status(contract, deal),
        created_at=contract.created_at,
    )


@contracts_router.get(
    "/contracts/{contract_id:uuid}",
    response_model=schemas.ContractOut,
    responses=error_responses(401, 404),
    summary="A deal's contract: text, SHA-256, signatures (the two parties and operators)",
)
async def get_contract(
    contract_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> schemas.ContractOut:
    return _contract_out(*await service.get_contract(session, principal, contract_id))


@contracts_router.post(
    "/contracts/{contract_id:uuid}/sign",
    response_model=schemas.ContractOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "contract_changed",
                "invalid_state",
                "equity_terms_required",
                "valuation_required",
                "valuation_expired",
            ]
        },
    ),
    summary="Sign the contract (a member of a party): send the SHA-256 of the text you read",
    description="409 `contract_changed` if the hash is not the contract's; 409 `invalid_state` while the deal "
    "is in public notice, after `sign_by`, or when this party has already signed. The second signature "
    "moves the deal to `awaiting_payment` with `pay_by` 5 working days later. An equity contribution is checked, "
    "after its state, for its terms (409 `equity_terms_required`), a report or waiver (409 `valuation_required`) "
    "and the report's validity (409 `valuation_expired`), then the hash. " + _IDEMPOTENT,
)
async def sign_contract(
    contract_id: uuid.UUID,
    body: schemas.SignIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.ContractOut:
        result = await service.sign_contract(
            session, principal, contract_id, body.sha256, now=clock.now(), calendar=calendar
        )
        return _contract_out(*result)

    return await idem.run(act, status_code=200)


@contracts_router.get(
    "/contracts/{contract_id:uuid}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The contract as a PDF (CJK font embedded)"},
        **error_responses(401, 404),
    },
    summary="The contract as a PDF (the two parties and operators)",
)
async def get_contract_pdf(contract_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    contract, _, _ = await service.get_contract(session, principal, contract_id)
    content = await asyncio.to_thread(
        pdf.render_pdf, contract.text, contract.sha256, created=contract.created_at
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="contract-{contract.id}.pdf"'},
    )


# --- public notice ---------------------------------------------------------------------------------------


def _objection_out(principal: Principal, objection: Objection) -> schemas.ObjectionOut:
    out = schemas.ObjectionOut.model_validate(objection)
    if not service.shows_objector(principal, objection):
        out.organization_id = None
    return out


@notices_router.get(
    "/notices",
    response_model=Page[schemas.NoticeOut],
    responses=error_responses(422),
    summary="Public notices of negotiated deals (public): in notice now and ended in the last 30 days",
    description="Newest first. `in_notice=true` keeps only deals in notice now, `false` only recent ended ones.",
)
async def list_notices(
    session: SessionDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
    in_notice: Annotated[bool | None, Query()] = None,
) -> Page[schemas.NoticeOut]:
    rows, cursor = await service.list_notices(
        session, now=clock.now(), in_notice=in_notice, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[schemas.NoticeOut.model_validate(r) for r in rows], next_cursor=cursor)


@notices_router.get(
    "/notices/{deal_id:uuid}",
    response_model=schemas.NoticeOut,
    responses=error_responses(404),
    summary="The public notice of a deal (public)",
)
async def get_notice(deal_id: uuid.UUID, session: SessionDep) -> schemas.NoticeOut:
    return schemas.NoticeOut.model_validate(await service.get_notice(session, deal_id))


@notices_router.post(
    "/deals/{deal_id:uuid}/related-party",
    response_model=schemas.NoticeOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Declare whether the buyer is related to the inventors (seller, during the notice)",
)
async def declare_related_party(
    deal_id: uuid.UUID,
    body: schemas.RelatedPartyIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> schemas.NoticeOut:
    view = await service.set_related_party(session, principal, deal_id, body.related_party, now=clock.now())
    return schemas.NoticeOut.model_validate(view)


@notices_router.post(
    "/deals/{deal_id:uuid}/objections",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ObjectionOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state", "objection_exists"]}),
    summary="Object to a deal in public notice (members of verified organizations)",
    description="Only while the notice runs (409 `invalid_state` after); one pending objection per organization "
    "and deal (409 `objection_exists`). A pending objection holds the deal in notice until an operator "
    "resolves it. The objector's identity is shown to operators and to the objector only. " + _IDEMPOTENT,
)
async def object_to_deal(
    deal_id: uuid.UUID,
    body: schemas.ObjectionIn,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.ObjectionOut:
        objection = await service.object_to_deal(session, principal, deal_id, body.reason, now=clock.now())
        return _objection_out(principal, objection)

    return await idem.run(act)


@notices_router.get(
    "/objections",
    response_model=Page[schemas.ObjectionOut],
    responses=error_responses(401, 422),
    summary="Objections: operators see all; an organization those it filed and those against its deals",
    description="The deal's parties see an objection's id, status, reason and dates; `organization_id` (the "
    "objector) is null for them.",
)
async def list_objections(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    deal_id: Annotated[uuid.UUID | None, Query()] = None,
    status_: Annotated[ObjectionStatus | None, Query(alias="status")] = None,
) -> Page[schemas.ObjectionOut]:
    rows, cursor = await service.list_objections(
        session, principal, deal_id=deal_id, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[_objection_out(principal, o) for o in rows], next_cursor=cursor)


@notices_router.get(
    "/objections/{objection_id:uuid}",
    response_model=schemas.ObjectionOut,
    responses=error_responses(401, 404),
    summary="An objection (operators, the objector, the deal's parties)",
    description="`organization_id` (the objector) is null except for operators and the objector.",
)
async def get_objection(
    objection_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> schemas.ObjectionOut:
    return _objection_out(principal, await service.get_objection(session, principal, objection_id))


async def _resolve(
    outcome: ObjectionStatus,
    objection_id: uuid.UUID,
    body: schemas.ResolveObjectionIn | None,
    session: AsyncSession,
    principal: Principal,
    clock: Clock,
    calendar: WorkdayCalendar,
) -> schemas.ObjectionOut:
    objection = await service.resolve_objection(
        session,
        principal,
        objection_id,
        outcome,
        body.note if body else None,
        now=clock.now(),
        calendar=calendar,
    )
    return _objection_out(principal, objection)


@notices_router.post(
    "/objections/{objection_id:uuid}/uphold",
    response_model=schemas.ObjectionOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Uphold an objection (operator): the deal is cancelled and its listing returned per SPEC §5",
)
async def uphold_objection(
    objection_id: uuid.UUID,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    calendar: CalendarDep,
    body: Annotated[schemas.ResolveObjectionIn | None, Body()] = None,
) -> schemas.ObjectionOut:
    return await _resolve(ObjectionStatus.upheld, objection_id, body, session, principal, clock, calendar)


@notices_router.post(
    "/objections/{objection_id:uuid}/dismiss",
    response_model=schemas.ObjectionOut,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Dismiss an objection (operator): the deal proceeds",
    description="Dismissing the last pending objection after the notice period moves the deal to "
    "`awaiting_signatures` at once, `sign_by` 5 working days from now.",
)
async def dismiss_objection(
    objection_id: uuid.UUID,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    calendar: CalendarDep,
    body: Annotated[schemas.ResolveObjectionIn | None, Body()] = None,
) -> schemas.ObjectionOut:
    return await _resolve(ObjectionStatus.dismissed, objection_id, body, session, principal, clock, calendar)
