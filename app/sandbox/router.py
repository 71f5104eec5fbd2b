"""The sandbox business clock (SPEC §2). Every route is 404 unless EXCHANGE_SANDBOX=true."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import select

from app.deadlines.sweeper import run_until_idle, sweep_context
from app.deps import get_database
from app.kit.clock import SystemClock
from app.kit.errors import NotFound, error_responses
from app.kit.schemas import RequestModel, ResponseModel
from app.models.platform import SandboxClock

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


class ClockAdvance(RequestModel):
    advance_seconds: float = Field(
        gt=0, le=10 * 365 * 24 * 3600, description="Seconds to move the clock forward"
    )


class ClockOut(ResponseModel):
    now: datetime


def _require_sandbox(request: Request) -> None:
    if not request.app.state.settings.sandbox:
        raise NotFound("Not Found")


@router.get("/clock", response_model=ClockOut, responses=error_responses(404))
async def get_sandbox_clock(request: Request) -> ClockOut:
    _require_sandbox(request)
    db = get_database(request)
    async with db.read() as session:
        offset = await session.scalar(select(SandboxClock.offset_seconds).where(SandboxClock.id == 1)) or 0.0
    return ClockOut(now=SystemClock(timedelta(seconds=offset)).now())


@router.post(
    "/clock",
    response_model=ClockOut,
    responses=error_responses(404, 422),
    summary="Advance the business clock and process every deadline now due",
)
async def advance_sandbox_clock(request: Request, body: ClockAdvance) -> ClockOut:
    _require_sandbox(request)
    db = get_database(request)
    async with db.transaction() as session:
        row = await session.get(SandboxClock, 1, with_for_update=True)
        if row is None:
            row = SandboxClock(id=1, offset_seconds=0.0)
            session.add(row)
        row.offset_seconds += body.advance_seconds
        offset = row.offset_seconds
    now = SystemClock(timedelta(seconds=offset)).now()
    await run_until_idle(sweep_context(request.app), now)
    return ClockOut(now=now)
