"""HTTP routes of deals (SPEC §11)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import Depends, Query

from app.deals import schemas, service
from app.deps import PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["deals"])


@router.get("/deals/{deal_id:uuid}", response_model=schemas.DealOut, responses=error_responses(401, 404))
async def get_deal(deal_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> schemas.DealOut:
    return schemas.DealOut.model_validate(await service.get_deal(session, principal, deal_id))


@router.get(
    "/deals",
    response_model=Page[schemas.DealOut],
    responses=error_responses(401, 422),
    summary="The caller's deals (operators: all), newest first",
)
async def list_deals(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    role: Annotated[Literal["buyer", "seller"] | None, Query()] = None,
) -> Page[schemas.DealOut]:
    rows, cursor = await service.list_deals(
        session, principal, role=role, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[schemas.DealOut.model_validate(d) for d in rows], next_cursor=cursor)
