"""Health, readiness and Prometheus metrics (SPEC §16)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Literal

from fastapi import Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.calendar.service import coverage as calendar_coverage
from app.calendar.service import refresh as refresh_calendar
from app.deadlines.sweeper import business_now
from app.kit.db import is_unavailable, warn_unavailable
from app.kit.errors import DATABASE_RETRY_AFTER_SECONDS, Unauthorized, error_responses
from app.kit.metrics import bearer_matches, render
from app.kit.routing import ExchangeRouter

log = logging.getLogger(__name__)
router = ExchangeRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    calendar_covered_until: date | None = Field(
        description="The last day of the run of years the working-day calendar covers (bundled, loaded by an "
        "operator, or the holiday file); null when the current year is not covered"
    )
    warnings: list[str] | None = Field(
        default=None, description="`calendar_not_covered` when fewer than 60 days remain covered"
    )


@router.get(
    "/readyz",
    summary="The database is reachable; how far the working-day calendar reaches",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready: `status` and `database` are `unavailable`; retry after `Retry-After`",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
        }
    },
)
async def readyz(request: Request, response: Response) -> Readiness:
    calendar = request.app.state.calendar
    database: Literal["ok", "unavailable"] = "ok"
    try:
        async with request.app.state.db.read() as session:
            await session.execute(text("SELECT 1"))
            await refresh_calendar(session, calendar)
        now = await business_now(request.app)
    except Exception as exc:  # whatever keeps the database from answering, the answer is "not ready"
        if is_unavailable(exc):
            warn_unavailable(log, "readiness check", exc)
        else:
            log.exception("readiness check failed")
        response.status_code = 503
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        database, now = "unavailable", request.app.state.clock.now()
    covered_until, warnings = calendar_coverage(calendar, now)
    return Readiness(
        status=database,
        database=database,
        calendar_covered_until=covered_until,
        warnings=warnings or None,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics of every worker process",
    description="Request counts and latency per route template, bids accepted and refused, sweeper lag, "
    "open live-event streams (SPEC §21), summed over the server's worker processes. When the server has "
    "`EXCHANGE_METRICS_TOKEN`, send it as `Authorization: Bearer …`; else 401 `unauthorized`.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **error_responses(401)},
)
async def metrics(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Response:
    token: str | None = request.app.state.settings.metrics_token
    if token is not None and not bearer_matches(authorization, token):
        raise Unauthorized(
            "Send the metrics token: Authorization: Bearer <EXCHANGE_METRICS_TOKEN>.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
