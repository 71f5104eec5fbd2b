"""Working days of the mainland China calendar (SPEC §2).

Years covered by the ``chinese-calendar`` package use its table of public holidays and adjusted working
weekends. A year it does not cover yet falls back to Monday–Friday plus the operator's holiday file
(JSON: ``{"holidays": ["2027-01-01", ...], "workdays": ["2027-02-07", ...]}``), with a warning logged once
per year, so deadlines in uncovered years still work.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
_KNOWN_MAX = 20_000  # days remembered per calendar (decades); cleared when full
log = logging.getLogger(__name__)


@dataclass
class WorkdayCalendar:
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _warned_years: set[int] = field(default_factory=set)
    # Whether a day is a working day never changes for a calendar: ``chinese_calendar`` costs ~20 µs a day
    # (a deadline looks at a week of days), and a batch of closing auctions computes hundreds of them.
    _known: dict[date, bool] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | None) -> WorkdayCalendar:
        if path is None or not path.exists():
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            holidays=frozenset(date.fromisoformat(d) for d in raw.get("holidays", [])),
            extra_workdays=frozenset(date.fromisoformat(d) for d in raw.get("workdays", [])),
        )

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            known = self._known[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "official holiday table does not cover %s: using Monday-Friday plus the holiday file",
                    day.year,
                )
            return day.weekday() < 5

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
