"""Property tests of the fee schedule: monotone, regressive, minimum respected (issue: post-trade)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.deals.fees import DEFAULT_SCHEDULE, load_schedule, parse_schedule

SCHEDULE = load_schedule()
prices = st.integers(min_value=1, max_value=10**12)  # up to 10 billion yuan, in fen


def test_sample_schedule_examples() -> None:
    side = SCHEDULE.buyer
    assert side.fee(0) == 0  # free licences pay nothing
    assert side.fee(100) == 100_000  # 1 yuan: the minimum of 1,000 yuan
    assert side.fee(100_000_000) == 2_000_000  # 1,000,000 yuan at 2% = 20,000 yuan
    # 2,000,000 yuan: 20,000 + 1,000,000 × 1.5% = 35,000 yuan
    assert side.fee(200_000_000) == 3_500_000
    # Rounded half-up to the fen: 0.5 fen rounds up.
    assert side.fee(100_000_025) == 2_000_000 + 0  # 25 fen × 1.5% = 0.375 fen → 0
    assert SCHEDULE.fees(200_000_000) == (3_500_000, 3_500_000)


@given(prices, prices)
def test_monotone(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert SCHEDULE.buyer.fee(lo) <= SCHEDULE.buyer.fee(hi)
    assert SCHEDULE.seller.fee(lo) <= SCHEDULE.seller.fee(hi)


@given(prices, prices)
def test_regressive_average_rate_above_the_minimum(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    fee_lo, fee_hi = SCHEDULE.buyer.fee(lo), SCHEDULE.buyer.fee(hi)
    # Average rate never rises with price (allowing one fen of rounding).
    assert fee_hi * lo <= (fee_lo + 1) * hi


@given(prices)
def test_minimum_respected_and_never_more_than_five_percent_above_it(price: int) -> None:
    fee = SCHEDULE.seller.fee(price)
    assert fee >= SCHEDULE.seller.minimum
    assert fee == SCHEDULE.seller.minimum or fee <= price * 5 // 100 + 1


def test_schedule_file_is_validated() -> None:
    raw = json.loads(DEFAULT_SCHEDULE.read_text(encoding="utf-8"))
    rising = copy.deepcopy(raw)
    rising["sides"]["buyer"]["brackets"][1]["rate"] = "0.03"
    with pytest.raises(ValueError, match=r"regressive|between"):
        parse_schedule(rising)
    bounded = copy.deepcopy(raw)
    bounded["sides"]["seller"]["brackets"][-1]["up_to"] = "99999999999.00"
    with pytest.raises(ValueError, match="unbounded"):
        parse_schedule(bounded)
