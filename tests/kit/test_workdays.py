from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.kit.workdays import SHANGHAI, WorkdayCalendar, YearDays, year_problems


def sh(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def test_official_holidays_and_adjusted_weekends() -> None:
    cal = WorkdayCalendar()
    # National Day 2026: Oct 1-7 are holidays.
    assert not cal.is_workday(date(2026, 10, 1))
    assert not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 9))
    # An ordinary weekend.
    assert not cal.is_workday(date(2026, 11, 28))


def test_adjusted_working_weekend_counts() -> None:
    cal = WorkdayCalendar()
    # 2026-10-10 (Saturday) is an adjusted working day after National Day in the official table.
    assert date(2026, 10, 10).weekday() == 5
    assert cal.is_workday(date(2026, 10, 10))


def test_add_working_days_keeps_shanghai_clock_time() -> None:
    cal = WorkdayCalendar()
    start = sh(2026, 9, 30, 15, 30)  # Wednesday before the National Day break
    end = cal.add_working_days(start, 1)
    # Oct 1-7 are holidays; then the 8th, the 9th, and Saturday the 10th (an adjusted working day).
    assert end.astimezone(SHANGHAI) == sh(2026, 10, 8, 15, 30)
    assert cal.add_working_days(start, 3).astimezone(SHANGHAI) == sh(2026, 10, 10, 15, 30)
    assert cal.add_working_days(start, 4).astimezone(SHANGHAI) == sh(2026, 10, 12, 15, 30)
    # UTC in, UTC out, same instant arithmetic.
    utc_start = start.astimezone(UTC)
    assert cal.add_working_days(utc_start, 1) == end
    assert cal.add_working_days(utc_start, 1).tzinfo == UTC


def test_year_not_covered_falls_back_to_weekdays_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkdayCalendar()
    with caplog.at_level(logging.WARNING):
        # 2027-01-01 is a Friday; with no holiday file it is a working day by the fallback.
        assert cal.is_workday(date(2027, 1, 1))
        assert not cal.is_workday(date(2027, 1, 2))
        end = cal.add_working_days(sh(2026, 12, 30), 5)
    assert end == sh(2027, 1, 6)  # Dec 31, Jan 1, 4, 5, 6
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1


def test_holiday_file_for_uncovered_year(tmp_path: Path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"holidays": ["2027-01-01"], "workdays": ["2027-01-09"]}), encoding="utf-8")
    cal = WorkdayCalendar.from_file(path)
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    assert cal.add_working_days(sh(2026, 12, 31), 1) == sh(2027, 1, 4)


def test_zero_days_is_the_same_instant_and_negative_is_refused() -> None:
    cal = WorkdayCalendar()
    start = sh(2026, 11, 27)
    assert cal.add_working_days(start, 0) == start
    with pytest.raises(ValueError):
        cal.add_working_days(start, -1)


def test_sources_in_precedence_order(tmp_path: Path) -> None:
    """bundled > operator > file > weekdays_only; the operator's year replaces the file's for that year."""
    path = tmp_path / "holidays.json"
    path.write_text(
        json.dumps({"holidays": ["2027-01-01", "2028-01-03"], "workdays": ["2027-01-09"]}), encoding="utf-8"
    )
    cal = WorkdayCalendar.from_file(path)
    assert [cal.source(y).value for y in (2026, 2027, 2028, 2029)] == [
        "bundled",
        "file",
        "file",
        "weekdays_only",
    ]
    assert not cal.is_workday(date(2027, 1, 1))
    cal.load_operator_years({2027: YearDays(frozenset({date(2027, 1, 4)}), frozenset())}, generation=1)
    assert cal.source(2027).value == "operator" and cal.generation == 1
    assert cal.is_workday(date(2027, 1, 1)) and not cal.is_workday(date(2027, 1, 4))
    assert not cal.is_workday(date(2027, 1, 9))  # the file's worked Saturday no longer applies
    assert cal.year_days(2027) == YearDays(frozenset({date(2027, 1, 4)}), frozenset())
    # A file entry for a bundled year changes nothing: the official table wins.
    path.write_text(json.dumps({"holidays": ["2026-11-25"]}), encoding="utf-8")
    assert WorkdayCalendar.from_file(path).is_workday(date(2026, 11, 25))


def test_covered_until_is_the_end_of_the_last_covered_year_in_a_row() -> None:
    cal = WorkdayCalendar()
    assert cal.covered_until(date(2026, 5, 1)) == date(2026, 12, 31)
    assert cal.covered_until(date(2027, 5, 1)) is None
    cal.load_operator_years({2027: YearDays(), 2029: YearDays()}, generation=2)
    assert cal.covered_until(date(2026, 5, 1)) == date(2027, 12, 31)


def test_year_problems_name_each_bad_date() -> None:
    good = YearDays(frozenset({date(2027, 1, 1)}), frozenset({date(2027, 2, 6)}))
    assert year_problems(2027, good) == []
    bad = YearDays(frozenset({date(2026, 12, 31), date(2027, 1, 2)}), frozenset({date(2027, 1, 4)}))
    problems = year_problems(2027, bad)
    assert len(problems) == 3
    assert any("2026-12-31" in p for p in problems) and any("2027-01-02" in p for p in problems)
    assert any("2027-01-04" in p for p in problems)
