"""Health, readiness and Prometheus metrics (SPEC §16)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.kit.db import is_unavailable, warn_unavailable
from app.kit.errors import DATABASE_RETRY_AFTER_SECONDS, error_responses

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable", responses=error_responses(503))
async def readyz(request: Request, response: Response) -> dict[str, str]:
    try:
        async with request.app.state.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # whatever keeps the database from answering, the answer is "not ready"
        if is_unavailable(exc):
            warn_unavailable(log, "readiness check", exc)
        else:
            log.exception("readiness check failed")
        response.status_code = 503
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return {"status": "unavailable"}
    return {"status": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
