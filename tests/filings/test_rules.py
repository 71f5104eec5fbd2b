"""The pure rules of the filing workflow (SPEC §18.6): the two move tables, walked pair by pair, the
deadlines and when they pass, the checks on a filing's instant and an announcement's day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.filings import rules
from app.kit.workdays import SHANGHAI
from app.models.settlement import LicenceRecordStatus, TransferTaskStatus

T = TransferTaskStatus
L = LicenceRecordStatus


@pytest.mark.parametrize("current", list(T))
@pytest.mark.parametrize("new", list(T))
def test_a_transfer_task_moves_pending_filed_registered_only(current: T, new: T) -> None:
    allowed = {(T.pending, T.filed), (T.filed, T.registered)}
    assert rules.may_move_transfer(current.value, new) is ((current, new) in allowed)


@pytest.mark.parametrize("current", list(L))
@pytest.mark.parametrize("new", list(L))
def test_a_licence_record_moves_pending_filed_only(current: L, new: L) -> None:
    assert rules.may_move_licence(current.value, new) is ((current, new) == (L.pending, L.filed))


def test_deadlines_are_shanghai_days() -> None:
    # 2026-03-01 17:30 UTC is 2026-03-02 01:30 in Shanghai: the settlement day is the 2nd.
    assert rules.transfer_filing_due(datetime(2026, 3, 1, 17, 30, tzinfo=UTC)) == date(2026, 4, 1)
    assert rules.licence_filing_due(date(2023, 11, 30)) == date(2024, 2, 29)
    assert rules.licence_filing_due(date(2024, 1, 31)) == date(2024, 4, 30)
    passes = rules.passes_at(date(2026, 4, 1))
    assert passes == datetime(2026, 4, 2, tzinfo=SHANGHAI) == datetime(2026, 4, 1, 16, tzinfo=UTC)
    assert rules.last_passed_day(passes) == date(2026, 4, 1)
    assert rules.last_passed_day(passes - timedelta(microseconds=1)) == date(2026, 3, 31)


def test_a_filing_is_dated_between_its_start_and_now() -> None:
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    now = start + timedelta(days=3)

    def problem(filed_at: datetime) -> str | None:
        return rules.filing_problem(filed_at, earliest=start, since="the settlement", now=now)

    assert problem(start) is None and problem(now) is None
    assert problem(start - timedelta(microseconds=1)) == "must not be before the settlement"
    assert problem(now + timedelta(microseconds=1)) == "must not be in the future"
    filed_on, today = date(2026, 3, 2), date(2026, 3, 4)
    assert rules.announcement_problem(filed_on, filed_on=filed_on, today=today) is None
    assert rules.announcement_problem(today, filed_on=filed_on, today=today) is None
    assert rules.announcement_problem(date(2026, 3, 1), filed_on=filed_on, today=today) is not None
    assert rules.announcement_problem(date(2026, 3, 5), filed_on=filed_on, today=today) is not None
