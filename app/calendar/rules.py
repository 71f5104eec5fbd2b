"""Pure calendar arithmetic shared by the domains: months, and Shanghai days and months as instants. No I/O."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from app.kit.workdays import SHANGHAI


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier, for a negative count), clamped to the end of a shorter month
    (31 Jan + 1 month → 28/29 Feb; 30 Nov + 3 months → 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_key(instant: datetime) -> str:
    """``YYYY-MM`` of an instant in Asia/Shanghai (SPEC §15): 2026-11-30T17:00Z is 2026-12."""
    local = instant.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def day_start(day: date) -> datetime:
    """The instant a Shanghai calendar day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """``[from, to]`` as inclusive Shanghai days → ``[start instant, end instant)``."""
    return (
        day_start(start) if start is not None else None,
        day_start(end + timedelta(days=1)) if end is not None else None,
    )
