"""HTTP routes of negotiated pricing (SPEC §8): offers, counters, acceptance, rejection, withdrawal."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.deps import CalendarDep, ClockDep, FeesDep, IdempotencyDep, PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.trading import OfferStatus
from app.negotiation import schemas, service

router = ExchangeRouter(tags=["offers"])
Out = schemas.OfferOut
_IDEMPOTENT = "Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


@router.post(
    "/listings/{listing_id:uuid}/offers",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        404,
        422,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: ["bidder_barred", "invalid_state", "offer_already_open"],
        },
    ),
    summary="Make an offer on a negotiated listing (buyer)",
    description="Opens the buyer's thread; one open offer per thread at a time (409 `offer_already_open`). "
    + _IDEMPOTENT,
)
async def make_offer(
    listing_id: uuid.UUID,
    body: schemas.OfferCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        offer = await service.make_offer(session, principal, listing_id, body, clock)
        return service.present(offer, clock.now())

    return await idem.run(act)


@router.get(
    "/listings/{listing_id:uuid}/offers",
    response_model=Page[Out],
    responses=error_responses(401, 404, 422),
    summary="Offers on a listing: the seller sees every thread, a buyer its own",
)
async def list_listing_offers(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
    status_: Annotated[OfferStatus | None, Query(alias="status")] = None,
) -> Page[Out]:
    now = clock.now()
    rows, cursor = await service.list_listing_offers(
        session, principal, listing_id, status=status_, now=now, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present(o, now) for o in rows], next_cursor=cursor)


@router.get(
    "/offers/{offer_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="An offer (its two parties and operators)",
)
async def get_offer(
    offer_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    offer = await service.get_offer(session, principal, offer_id)
    return service.present(offer, clock.now())


@router.post(
    "/offers/{offer_id:uuid}/counter",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        404,
        422,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: ["invalid_state", "offer_already_open", "offer_expired"],
        },
    ),
    summary="Counter an offer received: it becomes `countered`, the new offer is returned",
    description="By the party that received the offer. " + _IDEMPOTENT,
)
async def counter_offer(
    offer_id: uuid.UUID,
    body: schemas.OfferCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        offer = await service.counter_offer(session, principal, offer_id, body, clock)
        return service.present(offer, clock.now())

    return await idem.run(act)


@router.post(
    "/offers/{offer_id:uuid}/accept",
    response_model=Out,
    responses=error_responses(
        401,
        404,
        422,
        codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state", "offer_expired"]},
    ),
    summary="Accept an offer received: a deal is made at its price (`deal_id`)",
    description="By the party that received the offer. Exactly one acceptance wins a race; the others get "
    "409. " + _IDEMPOTENT,
)
async def accept_offer(
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    calendar: CalendarDep,
    fees: FeesDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        offer = await service.accept_offer(session, principal, offer_id, clock, calendar, fees)
        return service.present(offer, clock.now())

    return await idem.run(act, status_code=status.HTTP_200_OK)


@router.post(
    "/offers/{offer_id:uuid}/reject",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state", "offer_expired"]}),
    summary="Reject an offer received",
    description=_IDEMPOTENT,
)
async def reject_offer(
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        offer = await service.reject_offer(session, principal, offer_id, clock)
        return service.present(offer, clock.now())

    return await idem.run(act, status_code=status.HTTP_200_OK)


@router.post(
    "/offers/{offer_id:uuid}/withdraw",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state", "offer_expired"]}),
    summary="Withdraw an offer one made",
    description=_IDEMPOTENT,
)
async def withdraw_offer(
    offer_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        offer = await service.withdraw_offer(session, principal, offer_id, clock)
        return service.present(offer, clock.now())

    return await idem.run(act, status_code=status.HTTP_200_OK)
