"""HTTP routes of SPEC §7: registrations for listed and auction listings, with their deposits."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from app.deps import (
    ClockDep,
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
from app.registrations import priority, schemas, service

router = ExchangeRouter(tags=["registrations"])
Out = schemas.RegistrationOut


@router.post(
    "/listings/{listing_id:uuid}/registrations",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={409: ["already_registered", "bidder_barred", "insufficient_funds", "invalid_state"]},
    ),
    summary="Register for a listed or auction listing; its deposit is held at once (verified buyer)",
)
async def register_for_listing(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        registration = await service.register(session, principal, listing_id, clock)
        return service.present(principal, registration)

    return await idem.run(act)


@router.get(
    "/listings/{listing_id:uuid}/registrations",
    response_model=Page[Out],
    responses=error_responses(401, 404, 422),
    summary="A listing's registrations (operators and the seller: all; a buyer: its own)",
)
async def list_listing_registrations(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[Out]:
    rows, cursor = await service.list_registrations(
        session, principal, listing_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present(principal, r) for r in rows], next_cursor=cursor)


@router.get(
    "/registrations/{registration_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="One registration (the registrant, the listing's seller, operators)",
)
async def get_registration(registration_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Out:
    registration = await service.get_registration(session, principal, registration_id)
    return service.present(principal, registration)


@router.post(
    "/registrations/{registration_id:uuid}/qualify",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Qualify a registration pending review (operators)",
)
async def qualify_registration(
    registration_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> Out:
    registration = await service.qualify(session, principal, registration_id, clock)
    return service.present(principal, registration)


@router.post(
    "/registrations/{registration_id:uuid}/disqualify",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Disqualify a registration and refund its deposit (operators)",
)
async def disqualify_registration(
    registration_id: uuid.UUID,
    body: schemas.DisqualifyIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        registration = await service.disqualify(session, principal, registration_id, body.reason, clock)
        return service.present(principal, registration)

    return await idem.run(act, status_code=status.HTTP_200_OK)


@router.post(
    "/registrations/{registration_id:uuid}/withdraw",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Withdraw a registration during the listing period; the deposit is refunded (registrant)",
)
async def withdraw_registration(
    registration_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        registration = await service.withdraw(session, principal, registration_id, clock)
        return service.present(principal, registration)

    return await idem.run(act, status_code=status.HTTP_200_OK)


# --- priority holders (SPEC §17.2) ---------------------------------------------------------------------------

HolderOut = schemas.PriorityHolderOut


@router.post(
    "/listings/{listing_id:uuid}/priority-holders",
    status_code=status.HTTP_201_CREATED,
    response_model=HolderOut,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={409: ["already_designated", "format_not_supported", "invalid_state"]},
    ),
    summary="Confirm a registrant as a priority holder (优先购买权) with its rank (operators)",
    description="Only on a listed or English-auction listing (409 `format_not_supported`), during its listing "
    "period, before any auction opens (409 `invalid_state`), for a `qualified` registration of that listing "
    "(another listing's: 404; not qualified: 409 `invalid_state`), once per registration (409 "
    "`already_designated`). `rank` 1–9, 1 first; several holders may share a rank. A holder that outranks the "
    "leader may bid the same amount and take the lead; a listed listing resolved to a deal without an auction "
    "goes to the holder of the lowest rank number, then the earliest registration, before any other. A holder "
    "disqualified or withdrawn loses the right. The designation shows the bidder code, never the organization. "
    "`Idempotency-Key` is honoured.",
)
async def designate_priority_holder(
    listing_id: uuid.UUID,
    body: schemas.PriorityHolderIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> HolderOut:
        return await priority.designate(session, principal, listing_id, body, clock)

    return await idem.run(act)


@router.get(
    "/listings/{listing_id:uuid}/priority-holders",
    response_model=Page[HolderOut],
    responses=error_responses(401, 404, 422),
    summary="A listing's priority holders in force, newest first (whoever may see the listing)",
)
async def list_priority_holders(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[HolderOut]:
    items, cursor = await priority.list_holders(
        session, principal, listing_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.delete(
    "/priority-holders/{holder_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Remove a priority holder before the auction opens (operators)",
    description="During the listing period only; later 409 `invalid_state`.",
)
async def remove_priority_holder(
    holder_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> None:
    await priority.remove(session, principal, holder_id, clock)
