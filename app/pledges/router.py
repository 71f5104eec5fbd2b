"""HTTP routes of pledges (SPEC §14). Court preservation is on the patents router."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import ClockDep, PrincipalDep, SessionDep, VerifiedMemberDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.models.policy import Pledge, PledgeStatus
from app.pledges import schemas, service

router = ExchangeRouter()
TAGS: list[str | Enum] = ["pledges"]
Out = schemas.PledgeOut


async def _out(session: AsyncSession, pledge: Pledge) -> Out:
    return (await service.present(session, [pledge]))[0]


@router.post(
    "/patents/{patent_id:uuid}/pledges",
    # Under the patent resource, like court preservation: documented with the patents (SPEC §14).
    tags=["patents"],
    status_code=status.HTTP_201_CREATED,
    response_model=Out,
    responses=error_responses(
        401,
        403,
        404,
        422,
        codes={
            409: [
                "patent_expired",
                "patent_locked",
                "patent_not_granted",
                "patent_pledged",
                "patent_preserved",
            ]
        },
    ),
    summary="File a pledge of your patent (owner; → pending until the pledgee confirms)",
    description="The pledgee must be a verified financial institution. 409 `patent_pledged` when the patent has "
    "a pending or active pledge already, `patent_preserved` under court preservation, `patent_locked` while the "
    "patent is committed: in an active listing, a live open-licence declaration or an unsettled deal (SPEC §20), a "
    "live trial offer, an active trial or a trial's unsettled conversion deal. Settlement and conversion are made "
    "on the pledgee's consent to a draft listing, a pending declaration or an offer pending review (SPEC §14, "
    "§18.3), which a later pledgee could not give.",
)
async def create_pledge(
    patent_id: uuid.UUID,
    body: schemas.PledgeCreate,
    session: SessionDep,
    principal: VerifiedMemberDep,
    clock: ClockDep,
) -> Out:
    return await _out(session, await service.create_pledge(session, principal, patent_id, body, clock))


@router.get(
    "/pledges",
    tags=TAGS,
    response_model=Page[Out],
    responses=error_responses(401, 422),
    summary="Your pledges as pledgor or pledgee (operators: all), newest first",
)
async def list_pledges(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    patent_id: uuid.UUID | None = None,
    status_: Annotated[PledgeStatus | None, Query(alias="status")] = None,
) -> Page[Out]:
    rows, cursor = await service.list_pledges(
        session, principal, patent_id=patent_id, status=status_, limit=page.limit, cursor=page.cursor
    )
    return Page(items=await service.present(session, rows), next_cursor=cursor)


@router.get(
    "/pledges/{pledge_id:uuid}",
    tags=TAGS,
    response_model=Out,
    responses=error_responses(401, 404),
    summary="A pledge with its consents (its parties and operators)",
)
async def get_pledge(pledge_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Out:
    return await _out(session, await service.get_pledge(session, principal, pledge_id))


@router.post(
    "/pledges/{pledge_id:uuid}/confirm",
    tags=TAGS,
    response_model=Out,
    responses=error_responses(
        401,
        404,
        codes={
            403: ["forbidden", "organization_not_verified"],
            409: [
                "co_owner_consent_required",
                "invalid_state",
                "patent_locked",
                "patent_preserved",
                "use_right_conflict",
            ],
        },
    ),
    summary="Confirm a pledge (pledgee; joint filing → active)",
    description="409 `patent_locked` while the patent is committed (as for filing a pledge): a pledge filed "
    "before waits in `pending` until the listing, declaration, deal or trial ends.",
)
async def confirm_pledge(
    pledge_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    return await _out(session, await service.confirm_pledge(session, principal, pledge_id, clock))


@router.post(
    "/pledges/{pledge_id:uuid}/cancel",
    tags=TAGS,
    response_model=Out,
    responses=error_responses(
        401, 404, codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state"]}
    ),
    summary="Cancel a pledge never confirmed (either party; pending → cancelled)",
)
async def cancel_pledge(
    pledge_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    return await _out(session, await service.cancel_pledge(session, principal, pledge_id, clock))


@router.post(
    "/pledges/{pledge_id:uuid}/release",
    tags=TAGS,
    response_model=Out,
    responses=error_responses(
        401, 404, codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state"]}
    ),
    summary="Release a pledge (pledgee; active → released)",
)
async def release_pledge(
    pledge_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, clock: ClockDep
) -> Out:
    return await _out(session, await service.release_pledge(session, principal, pledge_id, clock))


@router.post(
    "/pledges/{pledge_id:uuid}/consents",
    tags=TAGS,
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ConsentOut,
    responses=error_responses(
        401, 404, 422, codes={403: ["forbidden", "organization_not_verified"], 409: ["invalid_state"]}
    ),
    summary="Consent to a draft listing or a pending open licence of the pledged patent (pledgee)",
    description="Unblocks that listing's submission or that declaration's approval. Repeating returns the "
    "first consent.",
)
async def give_pledge_consent(
    pledge_id: uuid.UUID,
    body: schemas.ConsentCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> schemas.ConsentOut:
    consent = await service.give_consent(session, principal, pledge_id, body, clock)
    return schemas.ConsentOut.model_validate(consent)
