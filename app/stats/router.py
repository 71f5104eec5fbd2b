"""HTTP routes of statistics (SPEC §15)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from app.deps import PrincipalDep, SessionDep
from app.kit.dates import QueryDate
from app.kit.errors import Unprocessable, error_responses
from app.kit.routing import ExchangeRouter
from app.stats import schemas, service
from app.techcontracts import service as techcontracts

router = ExchangeRouter(tags=["statistics"])


@router.get(
    "/stats/turnover",
    response_model=schemas.TurnoverOut,
    response_model_by_alias=True,
    responses=error_responses(422),
    summary="Turnover of settled deals, grouped (public)",
)
async def get_turnover(
    session: SessionDep,
    start: Annotated[
        QueryDate | None, Query(alias="from", description="First Shanghai day of settlement, inclusive")
    ] = None,
    end: Annotated[
        QueryDate | None, Query(alias="to", description="Last Shanghai day of settlement, inclusive")
    ] = None,
    group_by: Annotated[schemas.GroupBy, Query()] = "month",
    measure: Annotated[
        schemas.Measure,
        Query(
            description="`registered`: registered technology contracts by day of registration (SPEC §18.7)"
        ),
    ] = "all",
) -> schemas.TurnoverOut:
    if start is not None and end is not None and start > end:
        raise Unprocessable(
            "`from` is after `to`.", errors=[{"loc": ["query", "from"], "msg": "must not be after `to`"}]
        )
    if measure == "registered":
        registered = await techcontracts.turnover(session, start=start, end=end, group_by=group_by)
        return schemas.TurnoverOut(
            group_by=group_by,
            measure=measure,
            start=start,
            end=end,
            items=[
                schemas.TurnoverItem(key=k, deals=n, amount=amount, technology_amount=technology)
                for k, n, amount, technology in registered
            ],
        )
    rows = await service.turnover(session, start=start, end=end, group_by=group_by)
    return schemas.TurnoverOut(
        group_by=group_by,
        start=start,
        end=end,
        items=[
            schemas.TurnoverItem(key=k, deals=n, amount=amount, royalties=royalties)
            for k, n, amount, royalties in rows
        ],
    )


@router.get(
    "/stats/organizations/{org_id:uuid}",
    response_model=schemas.OrganizationStatsOut,
    responses=error_responses(401, 404),
    summary="An organization's patents held, listed, transacted and its industrialization rate",
)
async def get_organization_stats(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> schemas.OrganizationStatsOut:
    return schemas.OrganizationStatsOut.model_validate(
        await service.organization_stats(session, principal, org_id)
    )
