"""Pure rules of the statistics: the industrialization rate (Shanghai months and days: ``app.calendar.rules``)."""

from __future__ import annotations


def industrialization_rate(transacted: int, held: int, assigned_away: int) -> float | None:
    """Share of the organization's patents that were transacted (assigned or licensed through a settled deal
    as seller). The base is the patents it holds now plus those it assigned away through the exchange — an
    assigned patent leaves "held" but stays counted as transacted, so dividing by "held" alone could exceed
    1. ``None`` when the organization has no patents."""
    base = held + assigned_away
    if base == 0:
        return None
    return round(transacted / base, 4)
