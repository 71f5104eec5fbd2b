"""HTTP routes of the CSV exports (SPEC §18.7): operators only, streamed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import StreamingResponse

from app.deps import ClockDep, DatabaseDep, OperatorDep
from app.exports import rules, service
from app.kit.dates import QueryDate
from app.kit.errors import Unprocessable, error_responses
from app.kit.routing import ExchangeRouter
from app.kit.workdays import SHANGHAI
from app.models.patents import LegalStatus
from app.models.trading import DealStatus

router = ExchangeRouter(tags=["exports"])

CSV = "text/csv; charset=utf-8"


def _csv(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": description,
            "headers": {
                "Content-Disposition": {
                    "schema": {"type": "string"},
                    "description": 'attachment; filename="<kind>-YYYYMMDD.csv" (today, Shanghai)',
                }
            },
        },
        **error_responses(401, 403, 422),
    }


async def _attachment(chunks: AsyncIterator[str], name: str) -> StreamingResponse:
    """The CSV as an attachment, its first chunk (header and first page) read before the response starts."""
    first = await anext(chunks)

    async def body() -> AsyncIterator[bytes]:
        yield first.encode("utf-8")
        async for chunk in chunks:
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(), media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/exports/deals.csv",
    response_class=StreamingResponse,
    responses=_csv("Every deal matching the filters, oldest first"),
    summary="Export deals as CSV (operators)",
    description="Columns: "
    + ", ".join(rules.DEALS_COLUMNS)
    + ". UTF-8 with a byte order mark, CRLF, RFC 4180 "
    "quoting; a cell beginning with `=`, `+`, `-`, `@`, a tab or CR gets a leading `'`. `status=settled` "
    "includes completed deals; a deal without a listing has its `source` as `pricing_mode`.",
)
async def export_deals(
    db: DatabaseDep,
    _: OperatorDep,
    clock: ClockDep,
    start: Annotated[
        QueryDate | None, Query(alias="from", description="First Shanghai day of creation, inclusive")
    ] = None,
    end: Annotated[
        QueryDate | None, Query(alias="to", description="Last Shanghai day of creation, inclusive")
    ] = None,
    status: Annotated[DealStatus | None, Query()] = None,
    seller_org_id: Annotated[uuid.UUID | None, Query()] = None,
) -> StreamingResponse:
    if start is not None and end is not None and start > end:
        raise Unprocessable(
            "`from` is after `to`.", errors=[{"loc": ["query", "from"], "msg": "must not be after `to`"}]
        )
    filters = service.DealFilters(
        start=start, end=end, status=status.value if status else None, seller_org_id=seller_org_id
    )
    today = clock.now().astimezone(SHANGHAI).date()
    return await _attachment(service.stream_deals(db, filters), rules.filename("deals", today))


@router.get(
    "/exports/patents.csv",
    response_class=StreamingResponse,
    responses=_csv("Every patent matching the filters, oldest first"),
    summary="Export patents as CSV (operators)",
    description="Columns: " + ", ".join(rules.PATENTS_COLUMNS) + ". UTF-8 with a byte order mark, CRLF, RFC "
    "4180 quoting; a cell beginning with `=`, `+`, `-`, `@`, a tab or CR gets a leading `'`. `co_owners` is "
    "empty until co-owners are recorded.",
)
async def export_patents(
    db: DatabaseDep,
    _: OperatorDep,
    clock: ClockDep,
    owner_org_id: Annotated[uuid.UUID | None, Query()] = None,
    legal_status: Annotated[LegalStatus | None, Query()] = None,
) -> StreamingResponse:
    filters = service.PatentFilters(owner_org_id=owner_org_id, legal_status=legal_status)
    today = clock.now().astimezone(SHANGHAI).date()
    return await _attachment(service.stream_patents(db, filters, today), rules.filename("patents", today))
