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
``process``, so one bad item never holds back the others.

An item whose processing raises (a row no code path can handle: say terms that overflow the schedule) is
isolated (SPEC §20): logged with its kind and id, counted in ``exchange_sweeper_failures_total{kind}``, left
out for the rest of the run, and kept out of later runs of the same context (``Quarantine``: the sweeper loop
keeps one per process) until a retry time that doubles from 1 s to 15 min. The other due items go on, in
order; reading due items asks each kind for as many more as it has items left out, so any number of bad rows
never hides the good ones behind them. A run always ends: each item fails at most once per run. The sandbox
clock and lazy reads use a fresh context, so each of their runs tries a failing row once. A database that is
unavailable is not the row's fault: that error ends the run (``sweep_loop`` logs it and tries again).

``run_until_idle`` merges every kind's due items and handles them in due-time order until nothing due
remains; an item that creates new deadlines (a listing end that opens an auction whose close is also due)
makes it look again before going on. Every server process runs ``sweep_loop``; the sandbox clock and lazy
reads call ``run_until_idle`` directly, so correctness never depends on the loop's timing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calendar.service import coverage as calendar_coverage
from app.calendar.service import refresh as refresh_calendar
from app.deals.fees import FeeSchedule
from app.kit.db import Database, is_unavailable, warn_unavailable
from app.kit.metrics import SWEEPER_FAILURES as FAILURES
from app.kit.metrics import SWEEPER_LAG
from app.kit.workdays import WorkdayCalendar

log = logging.getLogger(__name__)
BATCH = 200
IDLE_WAIT_SECONDS = 0.05
MAX_IDLE_ROUNDS = 200
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 900.0


@dataclass(frozen=True, order=True)
class Due:
    at: datetime
    kind: str
    id: uuid.UUID


class Outcome(Enum):
    skipped = "skipped"  # no longer due (handled elsewhere, or its state changed)
    handled = "handled"
    spawned = "spawned"  # handled, and it may have created new deadlines
    failed = "failed"  # processing raised: rolled back, logged, counted, left aside (``Quarantine``)


@dataclass
class _Strike:
    failures: int
    retry_at: float


@dataclass
class Quarantine:
    """Items whose processing raised, left out of the sweeps of one context until their retry time: the n-th
    consecutive failure waits ``RETRY_FIRST_SECONDS × 2^(n−1)``, at most ``RETRY_MAX_SECONDS``. An item is
    forgotten once it is handled or no longer due. Times are this process's monotonic clock (log volume and
    wasted work are real-time matters), not the business clock."""

    clock: Callable[[], float] = time.monotonic
    _strikes: dict[Due, _Strike] = field(default_factory=dict)

    def failed(self, item: Due) -> float:
        """Record a failure of ``item``; the pause before its next attempt, in seconds."""
        strike = self._strikes.get(item)
        failures = 1 if strike is None else strike.failures + 1
        pause = min(RETRY_FIRST_SECONDS * 2.0 ** min(failures - 1, 32), RETRY_MAX_SECONDS)
        self._strikes[item] = _Strike(failures, self.clock() + pause)
        return pause

    def cleared(self, item: Due) -> None:
        self._strikes.pop(item, None)

    def failures(self, item: Due) -> int:
        strike = self._strikes.get(item)
        return 0 if strike is None else strike.failures

    def waiting(self, kind: str) -> set[Due]:
        """The items of ``kind`` whose retry time has not come."""
        now = self.clock()
        return {d for d, s in self._strikes.items() if d.kind == kind and s.retry_at > now}

    def forget_all_but(self, kind: str, due: Sequence[Due]) -> None:
        """Forget the items of ``kind`` that are not in ``due``, the complete list of its due items."""
        still = set(due)
        for item in [d for d in self._strikes if d.kind == kind and d not in still]:
            del self._strikes[item]


@dataclass
class SweepContext:
    db: Database
    calendar: WorkdayCalendar
    fees: FeeSchedule
    quarantine: Quarantine = field(default_factory=Quarantine)


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
    """Process one item in its own transaction. If it raises, the transaction has rolled back: the item is
    logged with its kind and id, counted, put in ``ctx.quarantine`` and reported ``Outcome.failed``, so the
    caller (a sweep, or a read closing an auction lazily) goes on. A database that is unavailable raises."""
    try:
        outcome = await _KINDS[item.kind].process(ctx, item, now)
    except Exception as exc:
        if is_unavailable(exc):
            raise
        pause = ctx.quarantine.failed(item)
        FAILURES.labels(kind=item.kind).inc()
        log.exception(
            "deadline %s %s (due %s) failed; left aside, retried in %.0f s at the earliest",
            item.kind,
            item.id,
            item.at.isoformat(),
            pause,
            extra={
                "deadline_kind": item.kind,
                "row_id": str(item.id),
                "failures": ctx.quarantine.failures(item),
            },
        )
        return Outcome.failed
    ctx.quarantine.cleared(item)
    return outcome


async def _process_group(
    ctx: SweepContext, group: Sequence[Due], now: datetime, report: SweepReport
) -> list[Outcome]:
    """The outcomes of a run of items of one kind: in one batch if the kind can, else (or if the batch
    failed) one per transaction. An item that fails alone goes to ``report.failed``."""
    kind = _KINDS[group[0].kind]
    if kind.process_many is not None and len(group) > 1:
        try:
            outcomes = await kind.process_many(ctx, group, now)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            log.exception(
                "a batch of %s %s deadlines failed; handling them one per transaction",
                len(group),
                kind.name,
            )
        else:
            return [outcomes.get(item, Outcome.skipped) for item in group]
    results: list[Outcome] = []
    for item in group:
        outcome = await process_one(ctx, item, now)
        if outcome is Outcome.failed:
            report.failed.add(item)
        results.append(outcome)
    return results


async def run_until_idle(
    ctx: SweepContext,
    now: datetime,
    *,
    max_rounds: int = 100_000,
    on_lag: Callable[[float], None] | None = None,
) -> SweepReport:
    """Handle everything due at ``now``, in due-time order, until nothing due remains.

    ``on_lag`` is told, before any item is handled, how many seconds the oldest due item has waited (0 when
    none is due; items left aside after failing do not count: ``exchange_sweeper_failures_total`` does)."""
    report = SweepReport()
    idle_rounds = 0
    for round_number in range(max_rounds):
        items: list[Due] = []
        horizon: datetime | None = None
        async with ctx.db.read() as session:
            await refresh_calendar(session, ctx.calendar)  # years an operator loaded meanwhile (SPEC §21)
            calendar_coverage(ctx.calendar, now)  # logs once a day when the calendar is running out
            for kind in _KINDS.values():
                # Ask for as many more as are left out, so left-out items never hide the rest of their kind.
                left_out = ctx.quarantine.waiting(kind.name) | {
                    d for d in report.failed if d.kind == kind.name
                }
                limit = BATCH + len(left_out)
                due = await kind.due(session, now, limit)
                if len(due) >= limit:
                    # A full answer may have more items later than its last one: go no further this round.
                    horizon = due[-1].at if horizon is None else min(horizon, due[-1].at)
                else:
                    ctx.quarantine.forget_all_but(kind.name, due)
                items.extend(d for d in due if d not in left_out)
        items = sorted(d for d in items if horizon is None or d.at <= horizon)
        if on_lag is not None and round_number == 0:
            on_lag(max((now - items[0].at).total_seconds(), 0.0) if items else 0.0)
        if not items:
            return report
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
            handled = sum(o in (Outcome.handled, Outcome.spawned) for o in outcomes)
            report.handled += handled
            progressed = progressed or any(o is not Outcome.skipped for o in outcomes)  # failed: no wait
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
    """Runs in every server process; a process that starts late catches up on everything overdue. Each pass
    reports how late it starts in ``exchange_sweeper_lag_seconds`` (SPEC §21)."""
    while True:
        try:
            await run_until_idle(ctx, await now(), on_lag=SWEEPER_LAG.set)
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
