"""Pure rules of the sandbox business clock."""

from __future__ import annotations

from datetime import timedelta

from app.kit.errors import Unprocessable

# SPEC §20: the clock may be moved at most 50 years from real time in all (the stored offset may start
# negative). Far beyond that, dates leave what the calendar and the databases can hold (year 9999).
MAX_OFFSET = timedelta(days=50 * 365.25)


def advanced_offset(offset: timedelta, advance: timedelta) -> timedelta:
    """The clock's offset after moving it forward by ``advance``; 422 ``clock_limit`` past the limit."""
    total = offset + advance
    if abs(total) > MAX_OFFSET:
        raise Unprocessable(
            "The sandbox clock may run at most 50 years ahead of real time.",
            code="clock_limit",
            errors=[{"loc": ["body", "advance_seconds"], "msg": "the total offset would exceed 50 years"}],
        )
    return total
