"""Deadlines: a sweeper, not a scheduler (DESIGN.md).

Each processor handles every item of its kind that is due at ``now``, each in its own transaction with a
state guard that makes a second run a no-op, and returns how many it handled. Every server process runs
``sweep_loop``; the sandbox clock runs ``run_until_idle`` before answering. Domains add processors with
``register``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from app.kit.clock import Clock
from app.kit.db import Database
from app.kit.workdays import WorkdayCalendar

log = logging.getLogger(__name__)

Processor = Callable[[Database, WorkdayCalendar, datetime], Awaitable[int]]
_PROCESSORS: list[tuple[str, Processor]] = []


def register(name: str, processor: Processor) -> None:
    if all(existing != name for existing, _ in _PROCESSORS):
        _PROCESSORS.append((name, processor))


async def run_until_idle(
    db: Database, calendar: WorkdayCalendar, now: datetime, max_rounds: int = 1000
) -> int:
    """Process everything due at ``now``, repeating while a step makes more things due."""
    total = 0
    for _ in range(max_rounds):
        handled = 0
        for _name, processor in _PROCESSORS:
            handled += await processor(db, calendar, now)
        total += handled
        if handled == 0:
            return total
    log.error("deadline sweep did not settle after %s rounds", max_rounds)
    return total


async def sweep_loop(
    db: Database, calendar: WorkdayCalendar, clock_now: Callable[[], Awaitable[datetime]], interval: float
) -> None:
    """Runs in every server process; a process that starts late catches up on everything overdue."""
    while True:
        try:
            await run_until_idle(db, calendar, await clock_now())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("deadline sweep failed; retrying")
        await asyncio.sleep(interval)


async def business_now(db: Database, clock: Clock, sandbox: bool) -> datetime:
    """The business clock as the request path sees it (sandbox offset included)."""
    if not sandbox:
        return clock.now()
    from app.deps import sandbox_offset
    from app.kit.clock import SystemClock

    async with db.read() as session:
        return SystemClock(await sandbox_offset(session)).now()
