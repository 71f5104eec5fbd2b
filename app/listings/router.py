"""HTTP routes of SPEC §5: listings, the review workflow, operator actions and public search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status
from pydantic import BaseModel

from app.deps import (
    CalendarDep,
    ClockDep,
    IdempotencyDep,
    OperatorDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionDep,
    get_clock,
    get_database,
)
from app.kit.errors import error_responses
from app.kit.money import MoneyIn
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.listings import relisting, schemas, service
from app.listings.repository import ListFilters
from app.models.listings import ListingStatus, PricingMode, TransactionKind

router = ExchangeRouter(tags=["listings"])
Out = schemas.ListingOut


@router.post(
    "/listings",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: [
                "co_owners_differ",
                "open_license_active",
                "patent_already_listed",
                "patent_not_transferable",
                "patent_pledged",
            ],
            422: ["invalid_auction", "invalid_deposit", "unsupported_character"],
        },
    ),
    summary="Create a draft listing (seller)",
)
async def create_listing(
    body: schemas.ListingCreate, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    listing = await service.create_listing(session, principal, body, clock)
    return (await service.present(session, [listing], clock))[0]


@router.get(
    "/listings",
    response_model=Page[Out],
    responses=error_responses(401, 422),
    summary="Search listings (public; sellers also see their drafts, operators everything)",
)
async def list_listings(
    request: Request,
    principal: OptionalPrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=200, description="Full text, Chinese or Latin")] = None,
    pricing_mode: PricingMode | None = None,
    transaction_kind: TransactionKind | None = None,
    ipc: Annotated[str | None, Query(max_length=32, description="IPC prefix, e.g. H01M")] = None,
    status_: Annotated[ListingStatus | None, Query(alias="status")] = None,
    seller_org_id: uuid.UUID | None = None,
    min_price: Annotated[MoneyIn | None, Query()] = None,
    max_price: Annotated[MoneyIn | None, Query()] = None,
    sort: Annotated[
        schemas.ListingSort | None,
        Query(
            description="Default `-published_at`; with `q` and no sort, by relevance (title matches first)"
        ),
    ] = None,
) -> Response:
    filters = ListFilters(
        q=q.strip() if q and q.strip() else None,
        pricing_mode=pricing_mode,
        transaction_kind=transaction_kind,
        ipc=ipc.strip() if ipc and ipc.strip() else None,
        status=status_,
        seller_org_id=seller_org_id,
        min_price=min_price,
        max_price=max_price,
        sort=sort,
    )
    clock = await get_clock(request)
    async with get_database(request).read_connection() as conn:
        body = await service.listings_json(
            conn,
            principal,
            filters,
            limit=page.limit,
            cursor=page.cursor,
            clock=clock,
            cache=request.app.state.listing_pages,
        )
    return Response(body, media_type="application/json")


@router.get("/listings/{listing_id:uuid}", response_model=Out, responses=error_responses(401, 404))
async def get_listing(listing_id: uuid.UUID, request: Request, principal: OptionalPrincipalDep) -> Response:
    clock = await get_clock(request)
    async with get_database(request).read_connection() as conn:
        listing = await service.read_listing(conn, principal, listing_id, clock)
    return _json(listing)


def _json(model: BaseModel) -> Response:
    """The public reads are serialised by pydantic-core directly instead of being validated again against
    ``response_model``, which only documents them (as ``GET /auctions/{id}``)."""
    return Response(model.model_dump_json(), media_type="application/json")


@router.patch(
    "/listings/{listing_id:uuid}",
    response_model=Out,
    responses=error_responses(
        401,
        404,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: [
                "co_owners_differ",
                "invalid_state",
                "open_license_active",
                "patent_already_listed",
                "patent_not_transferable",
                "patent_pledged",
            ],
            422: [
                "invalid_auction",
                "invalid_deposit",
                "relist_price_too_low",
                "relist_terms_fixed",
                "unsupported_character",
            ],
        },
    ),
    summary="Change a draft (seller)",
    description="A relisted draft keeps its patents and transaction kind (422 `relist_terms_fixed`) and a "
    "price of at least 80% of the listing it relists, rounded up to the fen (422 `relist_price_too_low`).",
)
async def update_listing(
    listing_id: uuid.UUID,
    body: schemas.ListingUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Out:
    listing = await service.update_listing(session, principal, listing_id, body, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/submit",
    response_model=Out,
    responses=error_responses(
        401,
        404,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: [
                "co_owner_consent_required",
                "co_owners_differ",
                "invalid_state",
                "open_license_active",
                "patent_already_listed",
                "patent_not_transferable",
                "patent_pledged",
                "use_right_conflict",
            ],
            422: ["invalid_auction", "invalid_deposit", "relist_price_too_low", "relist_terms_fixed"],
        },
    ),
    summary="Submit a draft for review (seller)",
)
async def submit_listing(
    listing_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    listing = await service.submit_listing(session, principal, listing_id, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/approve",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Approve and publish (operator)",
)
async def approve_listing(
    listing_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep, calendar: CalendarDep
) -> Out:
    listing = await service.approve_listing(session, principal, listing_id, clock, calendar)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/reject",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Send back to draft with a reason (operator)",
)
async def reject_listing(
    listing_id: uuid.UUID,
    body: schemas.ReasonIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
) -> Out:
    listing = await service.reject_listing(session, principal, listing_id, body.reason, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/withdraw",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Withdraw while nothing binds the listing (seller)",
    description="Refused with 409 `invalid_state` while held deposits, an accepted offer or bids bind the "
    "listing. Its open offers are closed and its auction, if scheduled, is cancelled.",
)
async def withdraw_listing(
    listing_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    listing = await service.withdraw_listing(session, principal, listing_id, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/suspend",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Suspend (operator)",
)
async def suspend_listing(
    listing_id: uuid.UUID,
    body: schemas.ReasonIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
) -> Out:
    listing = await service.suspend_listing(session, principal, listing_id, body.reason, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/resume",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Resume a suspended listing; its period is moved later by the time suspended (operator)",
)
async def resume_listing(
    listing_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep
) -> Out:
    listing = await service.resume_listing(session, principal, listing_id, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/terminate",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Terminate (operator)",
    description="Held deposits are refunded, open offers closed and the auction, scheduled or open, cancelled.",
)
async def terminate_listing(
    listing_id: uuid.UUID,
    body: schemas.ReasonIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
) -> Out:
    listing = await service.terminate_listing(session, principal, listing_id, body.reason, clock)
    return (await service.present(session, [listing], clock))[0]


@router.post(
    "/listings/{listing_id:uuid}/relist",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        404,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: [
                "already_relisted",
                "co_owners_differ",
                "invalid_state",
                "open_license_active",
                "patent_already_listed",
                "patent_not_transferable",
                "patent_pledged",
                "relist_window_closed",
            ],
            422: ["invalid_auction", "invalid_deposit", "relist_price_too_low"],
        },
    ),
    summary="Relist a failed or expired listing as a new draft (seller)",
    description="Once per listing, until its `relist_by` (30 days after it became `failed` or `expired`). "
    "The new draft copies the old listing's terms (licence and auction terms, the reserve included) and "
    "patents, with `price` and `deposit` replaced when given; the price stays at least 80% of the old one, "
    "rounded up to the fen. Its `previous_listing_id` names the old listing, whose `next_listing_id` names "
    "the new one. Then PATCH, submit and review as for any draft. `Idempotency-Key` is honoured.",
)
async def relist_listing(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    body: schemas.RelistIn | None = None,
) -> Response:
    async def act() -> Out:
        listing = await relisting.relist(session, principal, listing_id, body or schemas.RelistIn(), clock)
        return (await service.present(session, [listing], clock))[0]

    return await idem.run(act)
