"""The sandbox business clock (SPEC §2, §20). Every route is 404 unless EXCHANGE_SANDBOX=true; moving the clock
needs an operator."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import Depends, Request
from pydantic import Field
from sqlalchemy import select

from app.deadlines.sweeper import run_until_idle, sweep_context
from app.deps import OperatorDep, get_database
from app.kit.clock import SystemClock
from app.kit.errors import NotFound, error_responses
from app.kit.routing import ExchangeRouter
from app.kit.schemas import RequestModel, ResponseModel
from app.models.platform import SandboxClock
from app.sandbox.rules import advanced_offset
from app.webhooks.deliveries import deliver_due


async def _require_sandbox(request: Request) -> None:
    """Runs before the route's own dependencies: without the flag every caller gets 404, signed in or not."""
    if not request.app.state.settings.sandbox:
        raise NotFound("Not Found")


router = ExchangeRouter(prefix="/sandbox", tags=["sandbox"], dependencies=[Depends(_require_sandbox)])


class ClockAdvance(RequestModel):
    advance_seconds: float = Field(
        gt=0, le=10 * 365 * 24 * 3600, description="Seconds to move the clock forward"
    )


class ClockOut(ResponseModel):
    now: datetime


@router.get("/clock", response_model=ClockOut, responses=error_responses(404))
async def get_sandbox_clock(request: Request) -> ClockOut:
    db = get_database(request)
    async with db.read() as session:
        offset = await session.scalar(select(SandboxClock.offset_seconds).where(SandboxClock.id == 1)) or 0.0
    return ClockOut(now=SystemClock(timedelta(seconds=offset)).now())


@router.post(
    "/clock",
    response_model=ClockOut,
    responses=error_responses(401, 403, 404, codes={422: ["clock_limit"]}),
    summary="Advance the business clock and process every deadline now due (operators)",
    description="At most 50 years ahead of real time in all → 422 `clock_limit`.",
)
async def advance_sandbox_clock(request: Request, body: ClockAdvance, _: OperatorDep) -> ClockOut:
    db = get_database(request)
    async with db.transaction() as session:
        row = await session.get(SandboxClock, 1, with_for_update=True)
        if row is None:
            row = SandboxClock(id=1, offset_seconds=0.0)
            session.add(row)
        offset = advanced_offset(
            timedelta(seconds=row.offset_seconds), timedelta(seconds=body.advance_seconds)
        )
        row.offset_seconds = offset.total_seconds()
    now = SystemClock(offset).now()
    await run_until_idle(sweep_context(request.app), now)
    await deliver_due(request.app, now)  # webhook deliveries due by then (SPEC §17.5)
    return ClockOut(now=now)
