"""The pure rules of royalty reports (SPEC §18.4): periods, half-up rounding, fees without the minimum, the
report's state table."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.deals.fees import load_schedule
from app.kit.workdays import SHANGHAI
from app.models.royalties import RoyaltyPeriod, RoyaltyReportStatus
from app.royalties import rules

FEES = load_schedule()
S = RoyaltyReportStatus

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31))
kinds = st.sampled_from(list(RoyaltyPeriod))


def _month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _quarter_of(day: date) -> str:
    return f"{day.year:04d}-Q{(day.month + 2) // 3}"


@given(days, st.integers(min_value=0, max_value=3000), kinds)
def test_periods_cover_exactly_the_licence_days(start: date, length: int, kind: RoyaltyPeriod) -> None:
    end = start + timedelta(days=length)
    found = rules.periods(start, end, kind)
    key_of = _month_of if kind == RoyaltyPeriod.month else _quarter_of
    # Every day of the licence in exactly one period, the one its calendar month or quarter names, and no other.
    covered: list[date] = []
    for period in found:
        assert period.start <= period.end
        day = period.start
        while day <= period.end:
            assert key_of(day) == period.key
            covered.append(day)
            day += timedelta(days=1)
    assert covered == [start + timedelta(days=i) for i in range(length + 1)]
    # One period per calendar month or quarter, in order.
    assert len({p.key for p in found}) == len(found)
    assert [p.key for p in found] == sorted(p.key for p in found)
    # A period ends at 00:00 Shanghai after its last day, and is due 30 days later.
    for period in found:
        local = period.ends_at.astimezone(SHANGHAI)
        assert (local.date(), local.hour, local.minute) == (period.end + timedelta(days=1), 0, 0)
        assert period.due_at - period.ends_at == timedelta(days=30)
    # Stepping period by period gives the same list.
    stepped, after = [], None
    while (nxt := rules.next_period(start, end, kind, after)) is not None:
        stepped.append(nxt)
        after = nxt.end
    assert stepped == found


def test_periods_across_quarter_and_year() -> None:
    found = rules.periods(date(2026, 11, 25), date(2027, 2, 10), RoyaltyPeriod.month)
    assert [(p.key, p.start.isoformat(), p.end.isoformat()) for p in found] == [
        ("2026-11", "2026-11-25", "2026-11-30"),
        ("2026-12", "2026-12-01", "2026-12-31"),
        ("2027-01", "2027-01-01", "2027-01-31"),
        ("2027-02", "2027-02-01", "2027-02-10"),
    ]
    found = rules.periods(date(2026, 11, 25), date(2027, 4, 1), RoyaltyPeriod.quarter)
    assert [(p.key, p.start.isoformat(), p.end.isoformat()) for p in found] == [
        ("2026-Q4", "2026-11-25", "2026-12-31"),
        ("2027-Q1", "2027-01-01", "2027-03-31"),
        ("2027-Q2", "2027-04-01", "2027-04-01"),
    ]
    assert found[0].ends_at.isoformat() == "2027-01-01T00:00:00+08:00"


def test_royalty_rounds_half_up_to_the_fen() -> None:
    assert rules.royalty(10010, Decimal("0.05")) == 501  # 100.10 × 0.05 = 5.005 → 5.01
    assert rules.royalty(10030, Decimal("0.05")) == 502  # 5.015 → 5.02 (half-up, not half-even)
    assert rules.royalty(10009, Decimal("0.05")) == 500  # 5.0045 → 5.00
    assert rules.royalty(0, Decimal("0.05")) == 0
    assert rules.royalty(1, Decimal("0.5")) == 1  # 0.005 yuan → 0.01


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=1, max_value=1_000_000))
def test_royalty_is_base_times_rate_half_up(base: int, ppm: int) -> None:
    rate = Decimal(ppm) / 1_000_000
    exact = Decimal(base) * rate
    got = rules.royalty(base, rate)
    assert got - Decimal("0.5") <= exact < got + Decimal("0.5")


def test_fees_are_the_bracket_rates_without_the_minimum() -> None:
    f = rules.figures(10010, Decimal("0.05"), FEES)
    # 2% of 5.01 = 0.1002 → 0.10 each side; the per-side minimum (1,000.00) does not apply.
    assert (f.royalty, f.licensee_fee, f.licensor_fee, f.amount_due, f.licensor_net) == (
        501,
        10,
        10,
        511,
        491,
    )
    assert FEES.buyer.fee(501) == 501  # a deal at that price would pay the minimum, capped at the price
    f = rules.figures(10_000_000_000, Decimal("0.2"), FEES)  # a 20,000,000.00 royalty crosses brackets
    assert f.royalty == 2_000_000_000
    assert (
        f.licensee_fee
        == FEES.buyer.bracket_fee(2_000_000_000)
        == 20_000_00 + 60_000_00 + 50_000_00 + 50_000_00
    )
    assert rules.figures(0, Decimal("0.05"), FEES).amount_due == 0


def test_state_table() -> None:
    allowed = {(a, b) for a in S for b in S if rules.may_move(a, b)}
    assert allowed == {(S.due, S.filed), (S.filed, S.filed), (S.filed, S.paid), (S.paid, S.settled)}
    assert rules.sources(S.filed) == [S.due, S.filed]
    assert rules.sources(S.settled) == [S.paid]
    assert rules.MOVES[(S.paid, S.settled)] == rules.By.operator
