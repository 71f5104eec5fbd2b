"""Service fees: a tiered, regressive, cumulative schedule with a minimum per side (DOMAIN.md "Fees").

The schedule is data (``app/data/fee_schedule.json`` is a documented sample, not an official table);
this module only reads it and applies it. Each bracket's rate applies to the part of the price that falls
inside it; the result is rounded half-up to the fen; a priced deal pays at least the side's minimum, but never
more than the price itself (SPEC §20: a deal below the minimum pays the price as fee at most, so the seller's net
is never negative); a free deal (price 0) pays nothing. This is the one place a fee is computed: negotiated,
listed and auction deals and open licences all take their fees from ``FeeSchedule.fees``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from app.kit.money import parse_yuan, round_half_up

DEFAULT_SCHEDULE = Path(__file__).resolve().parents[1] / "data" / "fee_schedule.json"


@dataclass(frozen=True)
class Bracket:
    up_to: int | None  # fen; None = no upper bound
    rate: Decimal


@dataclass(frozen=True)
class SideSchedule:
    minimum: int
    brackets: tuple[Bracket, ...]

    def fee(self, price: int) -> int:
        """This side's fee in fen for a price in fen: the brackets' sum, at least the minimum, at most the price."""
        if price <= 0:
            return 0
        return min(price, max(self.minimum, self.bracket_fee(price)))

    def bracket_fee(self, price: int) -> int:
        """The brackets' sum alone, rounded half-up, without the minimum (SPEC §18.4: a royalty's fees)."""
        if price <= 0:
            return 0
        total = Decimal(0)
        lower = 0
        for bracket in self.brackets:
            upper = price if bracket.up_to is None else min(price, bracket.up_to)
            if upper > lower:
                total += (upper - lower) * bracket.rate
            if bracket.up_to is None or price <= bracket.up_to:
                break
            lower = bracket.up_to
        return round_half_up(total)


@dataclass(frozen=True)
class FeeSchedule:
    buyer: SideSchedule
    seller: SideSchedule

    def fees(self, price: int) -> tuple[int, int]:
        """(buyer fee, seller fee) in fen for a price in fen; each is at most the price."""
        return self.buyer.fee(price), self.seller.fee(price)


def _side(raw: dict[str, object]) -> SideSchedule:
    brackets = []
    previous_bound = 0
    previous_rate: Decimal | None = None
    raw_brackets = raw["brackets"]
    assert isinstance(raw_brackets, list)
    for i, item in enumerate(raw_brackets):
        up_to = None if item["up_to"] is None else parse_yuan(item["up_to"])
        rate = Decimal(item["rate"])
        if not Decimal(0) <= rate <= Decimal("0.05"):
            raise ValueError(f"bracket {i}: rate must be between 0 and 0.05 (auction law's 5% cap)")
        if previous_rate is not None and rate > previous_rate:
            raise ValueError(f"bracket {i}: rates must not increase (the schedule is regressive)")
        if up_to is not None and up_to <= previous_bound:
            raise ValueError(f"bracket {i}: bounds must increase")
        if up_to is None and i != len(raw_brackets) - 1:
            raise ValueError("only the last bracket may be unbounded")
        brackets.append(Bracket(up_to=up_to, rate=rate))
        previous_bound, previous_rate = (up_to or previous_bound), rate
    if brackets[-1].up_to is not None:
        raise ValueError("the last bracket must be unbounded (up_to: null)")
    minimum = raw["minimum"]
    assert isinstance(minimum, str)
    return SideSchedule(minimum=parse_yuan(minimum), brackets=tuple(brackets))


def parse_schedule(raw: dict[str, object]) -> FeeSchedule:
    sides = raw["sides"]
    assert isinstance(sides, dict)
    return FeeSchedule(buyer=_side(sides["buyer"]), seller=_side(sides["seller"]))


@lru_cache
def load_schedule(path: Path = DEFAULT_SCHEDULE) -> FeeSchedule:
    return parse_schedule(json.loads(path.read_text(encoding="utf-8")))
