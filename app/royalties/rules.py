"""Pure rules of royalty reports (SPEC §18.4): periods, clamping, rounding, fees, the report's moves. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.deals.fees import FeeSchedule
from app.kit.money import round_half_up
from app.kit.workdays import SHANGHAI
from app.models.royalties import RoyaltyPeriod, RoyaltyReportStatus

DUE_DAYS = 30  # a report is due this many days after its period ends

S = RoyaltyReportStatus


class By(StrEnum):
    """Who makes a move."""

    licensee = "licensee"
    operator = "operator"


# The report's one state table: (from, to) → who may make the move (SPEC §18.4).
MOVES: dict[tuple[RoyaltyReportStatus, RoyaltyReportStatus], By] = {
    (S.due, S.filed): By.licensee,
    (S.filed, S.filed): By.licensee,  # re-filing replaces the figures
    (S.filed, S.paid): By.licensee,
    (S.paid, S.settled): By.operator,
}


def may_move(current: RoyaltyReportStatus, target: RoyaltyReportStatus) -> bool:
    return (current, target) in MOVES


def sources(target: RoyaltyReportStatus) -> list[RoyaltyReportStatus]:
    """The statuses a report may reach ``target`` from (the conditional UPDATE's ``WHERE status IN``)."""
    return sorted(frm for frm, to in MOVES if to == target)


# --- periods ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One reporting period: its key (``YYYY-MM``/``YYYY-Qn``) and the licence's days in it."""

    key: str
    start: date
    end: date

    @property
    def ends_at(self) -> datetime:
        """The instant the period ends: 00:00 Shanghai on the day after its last (clamped) day."""
        return shanghai_midnight(self.end + timedelta(days=1))

    @property
    def due_at(self) -> datetime:
        return self.ends_at + timedelta(days=DUE_DAYS)


def shanghai_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _calendar_period(day: date, kind: RoyaltyPeriod) -> tuple[str, date, date]:
    """The calendar month or quarter holding ``day``: key, first day, last day."""
    if kind == RoyaltyPeriod.month:
        first_month, months, key = day.month, 1, f"{day.year:04d}-{day.month:02d}"
    else:
        quarter = (day.month - 1) // 3 + 1
        first_month, months, key = 3 * quarter - 2, 3, f"{day.year:04d}-Q{quarter}"
    first = date(day.year, first_month, 1)
    next_month = first_month + months
    after = date(day.year + 1, 1, 1) if next_month > 12 else date(day.year, next_month, 1)
    return key, first, after - timedelta(days=1)


def periods(starts_on: date, ends_on: date, kind: RoyaltyPeriod) -> list[Period]:
    """The calendar months or quarters overlapping the licence's days ``starts_on … ends_on`` (inclusive), each
    clamped to them, in order: together they cover exactly the licence's days, without gaps or overlaps."""
    found: list[Period] = []
    day = starts_on
    while day <= ends_on:
        key, _first, last = _calendar_period(day, kind)
        end = min(last, ends_on)
        found.append(Period(key, day, end))
        day = end + timedelta(days=1)
    return found


def next_period(starts_on: date, ends_on: date, kind: RoyaltyPeriod, after: date | None) -> Period | None:
    """The first period of the licence that starts after the day ``after`` (None: the first of all), or None
    when there is none. Does not list the licence's whole term."""
    day = starts_on if after is None else max(starts_on, after + timedelta(days=1))
    if day > ends_on:
        return None
    key, _first, last = _calendar_period(day, kind)
    return Period(key, day, min(last, ends_on))


# --- money ------------------------------------------------------------------------------------------------


def royalty(base: int, rate: Decimal) -> int:
    """base × rate in fen, rounded half-up to the fen (100.10 × 0.05 = 5.005 → 5.01)."""
    return round_half_up(Decimal(base) * rate)


@dataclass(frozen=True)
class Figures:
    base_amount: int
    royalty: int
    licensee_fee: int
    licensor_fee: int

    @property
    def amount_due(self) -> int:
        return self.royalty + self.licensee_fee

    @property
    def licensor_net(self) -> int:
        return self.royalty - self.licensor_fee


def figures(base: int, rate: Decimal, fees: FeeSchedule) -> Figures:
    """A filed report's figures: the royalty, and each side's fee at the schedule's bracket rates on it,
    rounded half-up, without the per-side minimum (that applies once per deal)."""
    amount = royalty(base, rate)
    return Figures(
        base_amount=base,
        royalty=amount,
        licensee_fee=fees.buyer.bracket_fee(amount),
        licensor_fee=fees.seller.bracket_fee(amount),
    )
