"""Working days of the mainland China calendar (SPEC §2, §21).

Where a year's working days come from, first match wins:

1. ``bundled`` — the ``chinese-calendar`` package's table of public holidays and adjusted working weekends;
2. ``operator`` — a year an operator loaded with ``PUT /api/v1/calendar/{year}`` (kept in the database;
   ``load_operator_years`` hands them to this object);
3. ``file`` — the operator's holiday file (JSON: ``{"holidays": ["2027-01-01", ...], "workdays":
   ["2027-02-07", ...]}``), for the years it names a date of;
4. ``weekdays_only`` — Monday to Friday, with a warning logged once per year, so deadlines in an uncovered
   year still work.

``holidays`` are weekdays off and ``workdays`` weekend days worked, in every source.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
_KNOWN_MAX = 20_000  # days remembered per calendar (decades); cleared when full
log = logging.getLogger(__name__)


class CalendarSource(StrEnum):
    bundled = "bundled"
    operator = "operator"
    file = "file"
    weekdays_only = "weekdays_only"


@dataclass(frozen=True)
class YearDays:
    """The exceptions to Monday-Friday of one year."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


def bundled(year: int) -> bool:
    """Whether the official table shipped with ``chinese-calendar`` covers the year."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def days_of(year: int) -> Iterable[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def year_problems(year: int, days: YearDays) -> list[str]:
    """Why ``days`` cannot be the calendar of ``year`` (empty when it can): every date in the year, holidays
    on weekdays, worked days on weekends."""
    problems = [
        f"{d.isoformat()} is not in {year}" for d in sorted(days.holidays | days.workdays) if d.year != year
    ]
    problems += [
        f"{d.isoformat()} is a weekend day: not a holiday" for d in sorted(days.holidays) if d.weekday() >= 5
    ]
    problems += [
        f"{d.isoformat()} is a weekday: already worked" for d in sorted(days.workdays) if d.weekday() < 5
    ]
    problems += [
        f"{d.isoformat()} is both a holiday and a working day" for d in sorted(days.holidays & days.workdays)
    ]
    return problems


@dataclass
class WorkdayCalendar:
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _operator: dict[int, YearDays] = field(default_factory=dict)
    # What the operator years were loaded from (``load_operator_years``): lets a caller skip a reload.
    generation: object = None
    _warned_years: set[int] = field(default_factory=set)
    # Whether a day is a working day never changes for a loaded calendar: ``chinese_calendar`` costs ~20 µs a
    # day (a deadline looks at a week of days), and a batch of closing auctions computes hundreds of them.
    _known: dict[date, bool] = field(default_factory=dict)
    _bundled: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | None) -> WorkdayCalendar:
        if path is None or not path.exists():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            holidays=frozenset(date.fromisoformat(d) for d in raw.get("holidays", [])),
            extra_workdays=frozenset(date.fromisoformat(d) for d in raw.get("workdays", [])),
        )

    def load_operator_years(self, years: Mapping[int, YearDays], generation: object) -> None:
        """Replace the operator-loaded years (every deadline computed from now on uses them)."""
        self._operator = dict(years)
        self.generation = generation
        self._known.clear()

    def _is_bundled(self, year: int) -> bool:
        known = self._bundled.get(year)
        if known is None:
            known = self._bundled[year] = bundled(year)
        return known

    def source(self, year: int) -> CalendarSource:
        if self._is_bundled(year):
            return CalendarSource.bundled
        if year in self._operator:
            return CalendarSource.operator
        if any(d.year == year for d in self.holidays | self.extra_workdays):
            return CalendarSource.file
        return CalendarSource.weekdays_only

    def year_days(self, year: int) -> YearDays:
        """The year's holidays on weekdays and worked weekend days, from its source."""
        source = self.source(year)
        if source == CalendarSource.operator:
            return self._operator[year]
        if source == CalendarSource.file:
            return YearDays(
                frozenset(d for d in self.holidays if d.year == year),
                frozenset(d for d in self.extra_workdays if d.year == year),
            )
        if source == CalendarSource.weekdays_only:
            return YearDays()
        all_days = list(days_of(year))
        return YearDays(
            frozenset(d for d in all_days if d.weekday() < 5 and not self.is_workday(d)),
            frozenset(d for d in all_days if d.weekday() >= 5 and self.is_workday(d)),
        )

    def covered_until(self, today: date) -> date | None:
        """The last day of the run of years from ``today``'s on that some source other than the weekdays
        fallback covers (None when ``today``'s year is not covered)."""
        year = today.year
        while self.source(year) != CalendarSource.weekdays_only:
            year += 1
        return date(year - 1, 12, 31) if year > today.year else None

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            known = self._known[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        source = self.source(day.year)
        if source == CalendarSource.bundled:
            return bool(chinese_calendar.is_workday(day))
        if source == CalendarSource.weekdays_only and day.year not in self._warned_years:
            self._warned_years.add(day.year)
            log.warning(
                "no calendar covers %s: using Monday-Friday (load it with PUT /api/v1/calendar/%s)",
                day.year,
                day.year,
            )
        days = self.year_days(day.year)
        if day in days.holidays:
            return False
        return day in days.workdays or day.weekday() < 5

    def add_working_days(self, instant: datetime, days: int) -> datetime:
        """The same Shanghai clock time on the ``days``-th working day after the instant's Shanghai date."""
        if days < 0:
            raise ValueError("days must be >= 0")
        local = instant.astimezone(SHANGHAI)
        day = local.date()
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return datetime.combine(day, local.timetz()).astimezone(instant.tzinfo)
