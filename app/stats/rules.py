"""Pure rules of the statistics: Shanghai months and days, the industrialization rate."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.kit.workdays import SHANGHAI


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


def industrialization_rate(transacted: int, held: int, assigned_away: int) -> float | None:
    """Share of the organization's patents that were transacted (assigned or licensed through a settled deal
    as seller). The base is the patents it holds now plus those it assigned away through the exchange — an
    assigned patent leaves "held" but stays counted as transacted, so dividing by "held" alone could exceed
    1. ``None`` when the organization has no patents."""
    base = held + assigned_away
    if base == 0:
        return None
    return round(transacted / base, 4)
