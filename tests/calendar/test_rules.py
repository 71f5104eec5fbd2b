"""Month arithmetic (``app.calendar.rules``), the one home of ``add_months`` for every domain that counts in
months (licence terms and filing, trials, valuation reports, reward payments), and Shanghai months and days as
instants (statistics, royalty turnover, exports)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.calendar.rules import add_months, day_range, month_key


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 5, 20), 36, date(2029, 5, 20)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 15), -12, date(2025, 1, 15)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_month_keys_are_shanghai_months() -> None:
    assert month_key(datetime(2026, 11, 30, 17, 0, tzinfo=UTC)) == "2026-12"
    assert month_key(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)) == "2026-11"
    assert month_key(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == "2027-01"
    low, high = day_range(date(2026, 12, 1), date(2026, 12, 31))
    assert low == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert high == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
