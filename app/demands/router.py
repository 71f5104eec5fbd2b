"""``/demands``, ``/demand-responses``, ``/listings/{id}/matching-demands``: technology demands (SPEC §17.6)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.demands import repository as repo
from app.demands import schemas, service
from app.deps import ClockDep, IdempotencyDep, OperatorDep, OptionalPrincipalDep, PrincipalDep, SessionDep
from app.kit.errors import CodedValueError, Unprocessable, error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.listings.schemas import ReasonIn
from app.models.demands import DemandStatus
from app.patents.rules import ipc_prefix
from app.patents.schemas import IPC_PREFIX_PATTERN

router = ExchangeRouter(tags=["demands"])
Out = schemas.DemandOut
ResponseOut = schemas.DemandResponseOut
_IDEMPOTENT = " Send an `Idempotency-Key` to make a retry safe: the first response is replayed."
_ANONYMITY = (
    " An anonymous demand shows `organization: null` to everyone but its owner, operators and the sellers "
    "whose response the owner accepted."
)
_VALIDATION = {422: ["invalid_budget", "invalid_deadline", "invalid_ipc_code"]}


@router.post(
    "/demands",
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(401, codes={403: ["forbidden", "organization_not_verified"], **_VALIDATION}),
    summary="Post a technology demand as a draft (a verified organization)",
    description="`ipc_codes`: 0–20 codes, full (`H01M 10/0525`) or a subclass (`H01M`); `budget_min` ≤ "
    "`budget_max`; `deadline` a Shanghai date after today and at most 365 days ahead; the demand expires at "
    "00:00 Shanghai time of the day after it (`expires_at`)." + _ANONYMITY + _IDEMPOTENT,
)
async def create_demand(
    body: schemas.DemandCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        demand = await service.create_demand(session, principal, body, clock)
        return (await service.present(session, principal, [demand], clock.now()))[0]

    return await idem.run(act)


@router.get(
    "/demands",
    response_model=Page[Out],
    responses=error_responses(403, codes={401: ["unauthorized"], 422: ["invalid_ipc_code"]}),
    summary="Technology demands (public: published; `mine=true`: your organization's; operators: all)",
    description="Filters: `q` (full text over title and description, Chinese included), `ipc` (prefix over the "
    "demand's codes), `status`. Sorted by `-published_at` (default, newest first) or `deadline` (soonest "
    "first). `mine=true` needs a member of an organization (401 signed out, 403 an operator)." + _ANONYMITY,
)
async def list_demands(
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
    mine: Annotated[bool, Query(description="Your organization's demands in every state")] = False,
    q: Annotated[str | None, Query(max_length=200, description="Full text, Chinese or Latin")] = None,
    ipc: Annotated[
        str | None,
        Query(
            max_length=40,
            description="IPC prefix over the demand's codes, e.g. `H01M` or `H01M 10/05`",
            json_schema_extra={"pattern": IPC_PREFIX_PATTERN},
        ),
    ] = None,
    status_: Annotated[DemandStatus | None, Query(alias="status")] = None,
    sort: schemas.DemandSort | None = None,
) -> Page[Out]:
    prefix = None
    if ipc is not None and ipc.strip():
        try:
            prefix = ipc_prefix(ipc)
        except CodedValueError as exc:
            raise Unprocessable(
                "The request is not valid.",
                code=exc.code,
                errors=[{"loc": ["query", "ipc"], "msg": str(exc)}],
            ) from None
    filters = repo.ListFilters(
        mine=mine,
        q=q.strip() if q and q.strip() else None,
        ipc=prefix,
        status=status_,
        sort=sort,
    )
    now = clock.now()
    rows, cursor = await service.list_demands(
        session, principal, filters, now, limit=page.limit, cursor=page.cursor
    )
    return Page(items=await service.present(session, principal, rows, now), next_cursor=cursor)


@router.get(
    "/demands/{demand_id:uuid}",
    response_model=Out,
    responses=error_responses(401, 404),
    summary="A demand (published: anyone; otherwise its owner and operators)",
    description="Anyone reads a published demand; the others only their owner and operators." + _ANONYMITY,
)
async def get_demand(
    demand_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipalDep, clock: ClockDep
) -> Out:
    now = clock.now()
    demand = await service.get_demand(session, principal, demand_id, now)
    return (await service.present(session, principal, [demand], now))[0]


@router.patch(
    "/demands/{demand_id:uuid}",
    response_model=Out,
    responses=error_responses(
        401,
        404,
        codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state"], **_VALIDATION},
    ),
    summary="Change a draft demand (its owner); validated again as a whole",
    description="Only in `draft` (else 409 `invalid_state`). `null` clears `budget_min` or `budget_max`; the "
    "deadline is checked against today again.",
)
async def update_demand(
    demand_id: uuid.UUID,
    body: schemas.DemandUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Out:
    demand = await service.update_demand(session, principal, demand_id, body, clock)
    return (await service.present(session, principal, [demand], clock.now()))[0]


@router.post(
    "/demands/{demand_id:uuid}/submit",
    response_model=Out,
    responses=error_responses(
        401, 404, codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state"]}
    ),
    summary="Submit a draft demand for review (its owner)",
    description="`draft` → `pending_review`." + _IDEMPOTENT,
)
async def submit_demand(
    demand_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> Out:
        demand = await service.submit_demand(session, principal, demand_id, clock)
        return (await service.present(session, principal, [demand], clock.now()))[0]

    return await idem.run(act, status_code=200)


@router.post(
    "/demands/{demand_id:uuid}/approve",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Approve and publish a demand (operator)",
    description="`pending_review` → `published`, setting `published_at`." + _IDEMPOTENT,
)
async def approve_demand(
    demand_id: uuid.UUID, session: SessionDep, principal: OperatorDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> Out:
        demand = await service.approve_demand(session, principal, demand_id, clock)
        return (await service.present(session, principal, [demand], clock.now()))[0]

    return await idem.run(act, status_code=200)


@router.post(
    "/demands/{demand_id:uuid}/reject",
    response_model=Out,
    responses=error_responses(401, 403, 404, 422, codes={409: ["invalid_state"]}),
    summary="Send a demand back to draft with a reason (operator)",
    description="`pending_review` → `draft` with `rejection_reason`." + _IDEMPOTENT,
)
async def reject_demand(
    demand_id: uuid.UUID,
    body: ReasonIn,
    session: SessionDep,
    principal: OperatorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> Out:
        demand = await service.reject_demand(session, principal, demand_id, body.reason, clock)
        return (await service.present(session, principal, [demand], clock.now()))[0]

    return await idem.run(act, status_code=200)


@router.post(
    "/demands/{demand_id:uuid}/close",
    response_model=Out,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Close a published demand (its owner)",
    description="`published` → `closed`." + _IDEMPOTENT,
)
async def close_demand(
    demand_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> Out:
        demand = await service.close_demand(session, principal, demand_id, clock)
        return (await service.present(session, principal, [demand], clock.now()))[0]

    return await idem.run(act, status_code=200)


_MATCHING = (
    " `ipc_match`: `group` when a demand code and a code of one of the listing's patents share subclass and "
    "main group, `subclass` when they share the subclass only, else `none`; `text_score`: the share (2 "
    "decimals) of the demand title's index terms (Chinese bigrams, Latin words) found in the listing's text "
    "(title, summary, its patents' titles and abstracts); `score` = 2, 1 or 0 for `ipc_match`, plus "
    "`text_score`. An item appears when `ipc_match` is not `none` or `text_score` ≥ 0.5; ordered by `score` "
    "(highest first), then newest `published_at`, then id."
)


@router.get(
    "/demands/{demand_id:uuid}/matches",
    response_model=Page[schemas.ListingMatchOut],
    responses=error_responses(401, 404, 422),
    summary="Published listings that match a demand, best first (whoever may see the demand)",
    description="Ranks the published listings for a demand the caller may see." + _MATCHING,
)
async def list_demand_matches(
    demand_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[schemas.ListingMatchOut]:
    items, cursor = await service.matches_for_demand(
        session, principal, demand_id, clock, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/listings/{listing_id:uuid}/matching-demands",
    response_model=Page[schemas.DemandMatchOut],
    responses=error_responses(401, 404, 422),
    summary="Published demands a listing matches, best first (whoever may see the listing)",
    description="Ranks the published demands for a listing the caller may see, by the same formula as a "
    "demand's matches." + _MATCHING + _ANONYMITY,
)
async def list_listing_matching_demands(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[schemas.DemandMatchOut]:
    items, cursor = await service.matching_demands(
        session, principal, listing_id, clock, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/demands/{demand_id:uuid}/responses",
    status_code=status.HTTP_201_CREATED,
    response_model=ResponseOut,
    responses=error_responses(
        401,
        404,
        422,
        codes={403: ["forbidden", "organization_not_verified"], 409: ["already_responded", "invalid_state"]},
    ),
    summary="Answer a published demand with one of your published listings (its seller)",
    description="One response per demand and listing (409 `already_responded`); the demand must be "
    "`published` and the listing yours and `published` (409 `invalid_state`); your own demand, or another "
    "organization's listing → 403 `forbidden`. The demand's owner is notified (`demand_response_received`)."
    + _IDEMPOTENT,
)
async def create_demand_response(
    demand_id: uuid.UUID,
    body: schemas.DemandResponseCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> ResponseOut:
        return service.present_response(
            await service.create_response(session, principal, demand_id, body, clock)
        )

    return await idem.run(act)


@router.get(
    "/demands/{demand_id:uuid}/responses",
    response_model=Page[ResponseOut],
    responses=error_responses(401, 404, 422),
    summary="Responses to a demand (its owner and operators: all; a seller: its own), newest first",
)
async def list_demand_responses(
    demand_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[ResponseOut]:
    rows, cursor = await service.list_responses(
        session, principal, demand_id, clock.now(), limit=page.limit, cursor=page.cursor
    )
    return Page(items=[service.present_response(r) for r in rows], next_cursor=cursor)


@router.post(
    "/demand-responses/{response_id:uuid}/accept",
    response_model=ResponseOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Accept a pending response (the demand's owner)",
    description="`pending` → `accepted`: the owner of an anonymous demand is revealed to that seller, who is "
    "notified (`demand_response_accepted`). Several may be accepted; no offer is made (make one as usual)."
    + _IDEMPOTENT,
)
async def accept_demand_response(
    response_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> ResponseOut:
        return service.present_response(await service.accept_response(session, principal, response_id, clock))

    return await idem.run(act, status_code=200)


@router.post(
    "/demand-responses/{response_id:uuid}/decline",
    response_model=ResponseOut,
    responses=error_responses(401, 403, 404, codes={409: ["invalid_state"]}),
    summary="Decline a pending response (the demand's owner)",
    description="`pending` → `declined`." + _IDEMPOTENT,
)
async def decline_demand_response(
    response_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> ResponseOut:
        return service.present_response(
            await service.decline_response(session, principal, response_id, clock)
        )

    return await idem.run(act, status_code=200)
