"""Deadlines: a sweeper, not a scheduler (DESIGN.md).

Each kind of deadline (a listing period ending, an auction opening or closing, an offer expiring, a signing
or payment deadline) registers two functions: ``due`` lists the items due at ``now``, oldest first; and
``process`` handles one item, in its own transaction, as of the item's own due time, behind a state guard
that makes a second run a no-op (on PostgreSQL it claims the row with ``FOR UPDATE SKIP LOCKED``, so
several processes never wait on or repeat each other's work).

A kind may also register ``process_many``, which handles several items in ONE transaction (the close
storm: a thousand auctions ending in the same second). The sweeper then hands it runs of consecutive items of
that kind (in due-time order, at most ``batch`` at a time). A batch is all or nothing: if it raises, its
transaction has rolled back and the sweeper handles the same items again one per transaction with
``process``, so one bad item never holds back the others and is the only one retried by the next sweep.

``run_until_idle`` merges every kind's due items and handles them in due-time order until nothing due
remains; an item that creates new deadlines (a listing end that opens an auction whose close is also due)
makes it look again before going on. Every server process runs ``sweep_loop``; the sandbox clock and lazy
reads call ``run_until_idle`` directly, so correctness never depends on the loop's timing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.service import refresh as refresh_calendar
from app.deals.fees import FeeSchedule
from app.kit.db import Database, is_unavailable, warn_unavailable
from app.kit.workdays import WorkdayCalendar

log = logging.getLogger(__name__)
BATCH = 200
IDLE_WAIT_SECONDS = 0.05
MAX_IDLE_ROUNDS = 200


@dataclass(frozen=True, order=True)
class Due:
    at: datetime
    kind: str
    id: uuid.UUID


class Outcome(Enum):
    skipped = "skipped"  # no longer due (handled elsewhere, or its state changed)
    handled = "handled"
    spawned = "spawned"  # handled, and it may have created new deadlines


@dataclass
class SweepContext:
    db: Database
    calendar: WorkdayCalendar
    fees: FeeSchedule


DueFn = Callable[[AsyncSession, datetime, int], Awaitable[list[Due]]]
ProcessFn = Callable[[SweepContext, Due, datetime], Awaitable[Outcome]]
# Handles several items in one transaction; returns the outcome of each (a missing item counts as skipped).
ProcessManyFn = Callable[[SweepContext, Sequence[Due], datetime], Awaitable[dict[Due, Outcome]]]


@dataclass
class _Kind:
    name: str
    due: DueFn
    process: ProcessFn
    process_many: ProcessManyFn | None = None
    batch: int = 1


_KINDS: dict[str, _Kind] = {}


def register(
    name: str,
    due: DueFn,
    process: ProcessFn,
    *,
    process_many: ProcessManyFn | None = None,
    batch: int = 1,
) -> None:
    _KINDS[name] = _Kind(name, due, process, process_many, batch if process_many is not None else 1)


@dataclass
class SweepReport:
    handled: int = 0
    failed: set[Due] = field(default_factory=set)


_Row = TypeVar("_Row")


async def claim(session: AsyncSession, entity: type[_Row], item_id: uuid.UUID, *due: Any) -> _Row | None:
    """The row of a due item, locked for this transaction, if it is still due (``due``: the conditions that
    make it so). ``SKIP LOCKED`` on PostgreSQL: a row another process is processing is left to it (None),
    never waited for; on SQLite the write transaction (``BEGIN IMMEDIATE``) already runs alone."""
    statement: Any = (
        select(entity)
        .where(entity.id == item_id, *due)  # type: ignore[attr-defined]
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    found: _Row | None = await session.scalar(statement)
    return found


async def process_one(ctx: SweepContext, item: Due, now: datetime) -> Outcome:
    return await _KINDS[item.kind].process(ctx, item, now)


async def _process_group(
    ctx: SweepContext, group: Sequence[Due], now: datetime, report: SweepReport
) -> list[Outcome]:
    """The outcomes of a run of items of one kind: in one batch if the kind can, else (or if the batch
    failed) one per transaction. An item that fails alone goes to ``report.failed``."""
    kind = _KINDS[group[0].kind]
    if kind.process_many is not None and len(group) > 1:
        try:
            outcomes = await kind.process_many(ctx, group, now)
        except Exception:
            log.exception(
                "a batch of %s %s deadlines failed; handling them one per transaction",
                len(group),
                kind.name,
            )
        else:
            return [outcomes.get(item, Outcome.skipped) for item in group]
    results: list[Outcome] = []
    for item in group:
        try:
            results.append(await process_one(ctx, item, now))
        except Exception:
            log.exception("deadline %s %s failed; it will be retried by the next sweep", item.kind, item.id)
            report.failed.add(item)
            results.append(Outcome.skipped)
    return results


async def run_until_idle(ctx: SweepContext, now: datetime, *, max_rounds: int = 100_000) -> SweepReport:
    """Handle everything due at ``now``, in due-time order, until nothing due remains."""
    report = SweepReport()
    idle_rounds = 0
    for _ in range(max_rounds):
        batches: list[list[Due]] = []
        async with ctx.db.read() as session:
            await refresh_calendar(session, ctx.calendar)  # years an operator loaded meanwhile (SPEC §21)
            for kind in _KINDS.values():
                batches.append([d for d in await kind.due(session, now, BATCH) if d not in report.failed])
        items = sorted(d for batch in batches for d in batch)
        if not items:
            return report
        # A kind that returned a full batch may have more items later than its last one: stop there.
        horizon = min((b[-1].at for b in batches if len(b) >= BATCH), default=None)
        items = [d for d in items if horizon is None or d.at <= horizon]
        progressed = False
        start = 0
        while start < len(items):
            # A run of consecutive items of one kind, as long as that kind takes at once.
            end = start + 1
            while (
                end < len(items)
                and end - start < _KINDS[items[start].kind].batch
                and items[end].kind == items[start].kind
            ):
                end += 1
            outcomes = await _process_group(ctx, items[start:end], now, report)
            start = end
            handled = sum(o is not Outcome.skipped for o in outcomes)
            report.handled += handled
            progressed = progressed or handled > 0
            if Outcome.spawned in outcomes:
                break
        if progressed:
            idle_rounds = 0
            continue
        # Everything left is being handled by another process right now (its row is locked): wait for it,
        # so that a sandbox clock advance still answers only once every due deadline is done.
        idle_rounds += 1
        if idle_rounds > MAX_IDLE_ROUNDS:
            return report
        await asyncio.sleep(IDLE_WAIT_SECONDS)
    log.error("deadline sweep did not settle after %s rounds", max_rounds)
    return report


async def sweep_loop(ctx: SweepContext, now: Callable[[], Awaitable[datetime]], interval: float) -> None:
    """Runs in every server process; a process that starts late catches up on everything overdue."""
    while True:
        try:
            await run_until_idle(ctx, await now())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_unavailable(exc):  # one line now and then; the next pass retries
                warn_unavailable(log, "deadline sweep", exc)
            else:
                log.exception("deadline sweep failed; retrying")
        await asyncio.sleep(interval)


def sweep_context(app: Any) -> SweepContext:
    """The sweeper's view of an application: its database, calendar and fee schedule."""
    return SweepContext(db=app.state.db, calendar=app.state.calendar, fees=app.state.fees)


async def business_now(app: Any) -> datetime:
    """The business clock outside a request (sandbox offset included)."""
    if not app.state.settings.sandbox:
        now: datetime = app.state.clock.now()
        return now
    from app.deps import sandbox_offset
    from app.kit.clock import SystemClock

    async with app.state.db.read() as session:
        return SystemClock(await sandbox_offset(session)).now()
