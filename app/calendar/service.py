"""Operator-loaded calendar years (SPEC §21): stored in the database, read by every process.

Each process keeps its ``WorkdayCalendar``; ``refresh`` reloads the operator years when the table changed
(one small query: the number of years and the newest change), so a year loaded by one process is used by
every process for each deadline computed afterwards. Deadlines already set do not move.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.calendar.schemas import CalendarYearIn, CalendarYearOut
from app.kit.clock import Clock
from app.kit.db import connection_of
from app.kit.errors import Conflict, Unprocessable
from app.kit.security import Principal
from app.kit.workdays import SHANGHAI, WorkdayCalendar, YearDays, bundled, year_problems
from app.models.platform import CalendarYear

FIRST_YEAR, LAST_YEAR = 1900, 2199  # SPEC §20's date range
WARNING_DAYS = 60  # SPEC §21: /readyz warns when fewer days than this remain covered
NOT_COVERED = "calendar_not_covered"
log = logging.getLogger(__name__)
_warned_on: set[date] = set()  # the days this process has logged the warning on
_GENERATION = select(func.count(), func.max(CalendarYear.updated_at))


async def refresh(session: AsyncSession, calendar: WorkdayCalendar) -> WorkdayCalendar:
    """Load the operator years into ``calendar`` when the table changed since the last load."""
    conn = await connection_of(session)
    generation = tuple((await conn.execute(_GENERATION)).one())
    if generation != calendar.generation:
        rows = (
            await conn.execute(select(CalendarYear.year, CalendarYear.holidays, CalendarYear.workdays))
        ).all()
        years = {
            row.year: YearDays(
                frozenset(date.fromisoformat(d) for d in row.holidays),
                frozenset(date.fromisoformat(d) for d in row.workdays),
            )
            for row in rows
        }
        calendar.load_operator_years(years, generation)
    return calendar


def check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Unprocessable(
            f"year must be within {FIRST_YEAR}..{LAST_YEAR}",
            code="invalid_year",
            errors=[{"loc": ["path", "year"], "msg": f"between {FIRST_YEAR} and {LAST_YEAR}"}],
        )


def present(calendar: WorkdayCalendar, year: int) -> CalendarYearOut:
    days = calendar.year_days(year)
    return CalendarYearOut(
        year=year,
        source=calendar.source(year),
        holidays=sorted(days.holidays),
        workdays=sorted(days.workdays),
    )


async def put_year(
    session: AsyncSession,
    principal: Principal,
    calendar: WorkdayCalendar,
    year: int,
    body: CalendarYearIn,
    clock: Clock,
) -> CalendarYearOut:
    """Store an operator's calendar for a year the bundled table does not cover (409 `calendar_bundled`
    otherwise), audited as `calendar_year` events."""
    check_year(year)
    if bundled(year):
        raise Conflict(
            f"{year} is covered by the bundled official calendar and cannot be replaced.",
            code="calendar_bundled",
        )
    days = YearDays(frozenset(body.holidays), frozenset(body.workdays))
    problems = year_problems(year, days)
    if problems:
        raise Unprocessable(
            "; ".join(problems),
            code="invalid_calendar",
            errors=[{"loc": ["body"], "msg": p} for p in problems],
        )
    now = clock.now()
    holidays, workdays = (
        [d.isoformat() for d in sorted(days.holidays)],
        [d.isoformat() for d in sorted(days.workdays)],
    )
    row = await session.get(CalendarYear, year, with_for_update=True)
    action = "calendar_loaded" if row is None else "calendar_replaced"
    if row is None:
        row = CalendarYear(
            year=year, holidays=holidays, workdays=workdays, updated_at=now, updated_by=principal.label
        )
        session.add(row)
    else:
        row.holidays, row.workdays, row.updated_at, row.updated_by = holidays, workdays, now, principal.label
    await record(
        session,
        entity_type="calendar_year",
        entity_id=str(year),
        action=action,
        actor=principal.label,
        at=now,
        data={"holidays": holidays, "workdays": workdays},
    )
    await refresh(session, calendar)
    return present(calendar, year)


def coverage_warnings(covered_until: date | None, today: date) -> list[str]:
    """``calendar_not_covered`` when fewer than ``WARNING_DAYS`` days remain in loaded calendars."""
    if covered_until is None or (covered_until - today) < timedelta(days=WARNING_DAYS):
        return [NOT_COVERED]
    return []


def coverage(calendar: WorkdayCalendar, now: datetime) -> tuple[date | None, list[str]]:
    """(the last covered day, the warnings) as of the business instant ``now``; the first time a day finds the
    calendar running out, this process logs it (once a day, so operators see it in the log too)."""
    today = now.astimezone(SHANGHAI).date()
    covered_until = calendar.covered_until(today)
    warnings = coverage_warnings(covered_until, today)
    if warnings and today not in _warned_on:
        _warned_on.add(today)
        log.warning(
            "the working-day calendar covers days up to %s only: load the next year with PUT /api/v1/calendar/%s",
            covered_until,
            (covered_until.year + 1) if covered_until else today.year,
        )
    return covered_until, warnings
