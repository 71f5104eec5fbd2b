"""Property tests of the fee schedule: monotone, regressive, minimum respected, never more than the price
(issue: post-trade; SPEC §20 "State and money")."""

from __future__ import annotations

import copy
import decimal
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.deals import fees
from app.deals.fees import DEFAULT_SCHEDULE, load_schedule, parse_schedule

SCHEDULE = load_schedule()
prices = st.integers(min_value=1, max_value=10**12)  # up to 10 billion yuan, in fen


def test_sample_schedule_examples() -> None:
    side = SCHEDULE.buyer
    assert side.fee(0) == 0  # free licences pay nothing
    assert side.fee(100) == 100  # 1 yuan: below the minimum of 1,000 yuan, the fee is capped at the price
    assert side.fee(1) == 1  # one fen
    assert side.fee(100_000) == 100_000  # exactly the minimum
    assert side.fee(100_001) == 100_000  # just above it: the minimum (2% of 1,000.01 yuan is only 20 yuan)
    assert side.fee(100_000_000) == 2_000_000  # 1,000,000 yuan at 2% = 20,000 yuan
    # 2,000,000 yuan: 20,000 + 1,000,000 × 1.5% = 35,000 yuan
    assert side.fee(200_000_000) == 3_500_000
    assert side.fee(100_000_025) == 2_000_000 + 0  # 25 fen × 1.5% = 0.375 fen → 0
    assert SCHEDULE.fees(200_000_000) == (3_500_000, 3_500_000)


# Prices whose fee falls on exactly half a fen, with the fee rounded half-up worked out by hand. Banker's
# rounding (half to even) and truncation give another fee for at least one of them (see the next test).
HALF_FEN = [
    (
        5_000_025,
        100_001,
    ),  # 50,000.25 yuan × 2% = 100,000.5 fen: half-up 100,001 (even: 100,000; cut: 100,000)
    (
        5_000_075,
        100_002,
    ),  # 50,000.75 yuan × 2% = 100,001.5 fen: half-up 100,002 (even: 100,002; cut: 100,001)
    # 1,000,003.00 yuan: 20,000 yuan on the first million + 300 fen × 1.5% = 4.5 fen: half-up 2,000,005
    (100_000_300, 2_000_005),
]


@pytest.mark.parametrize(("price", "fee"), HALF_FEN)
def test_half_a_fen_rounds_up(price: int, fee: int) -> None:
    assert SCHEDULE.buyer.fee(price) == fee
    assert SCHEDULE.seller.fee(price) == fee


@pytest.mark.parametrize(
    "rounding", [decimal.ROUND_HALF_EVEN, decimal.ROUND_DOWN], ids=["bankers", "truncation"]
)
def test_the_half_fen_cases_fail_with_other_roundings(monkeypatch: pytest.MonkeyPatch, rounding: str) -> None:
    """The cases above can fail: with the fee rounded another way, some fee differs from its expected value."""
    monkeypatch.setattr(
        fees, "round_half_up", lambda v: int(v.quantize(decimal.Decimal(1), rounding=rounding))
    )
    assert any(SCHEDULE.buyer.fee(price) != fee for price, fee in HALF_FEN)


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
    assert fee >= min(SCHEDULE.seller.minimum, price)
    assert fee == min(SCHEDULE.seller.minimum, price) or fee <= price * 5 // 100 + 1


@given(st.integers(min_value=0, max_value=10**14))
def test_each_fee_is_capped_at_the_price(price: int) -> None:
    """SPEC §20: each side's fee is at most the deal price, so the seller's net is never negative."""
    buyer_fee, seller_fee = SCHEDULE.fees(price)
    assert 0 <= buyer_fee <= price and 0 <= seller_fee <= price
    assert price - seller_fee >= 0
    below_minimum = price < min(SCHEDULE.buyer.minimum, SCHEDULE.seller.minimum)
    assert not below_minimum or (buyer_fee, seller_fee) == (price, price)


def test_cap_holds_for_any_schedule_minimum() -> None:
    raw = json.loads(DEFAULT_SCHEDULE.read_text(encoding="utf-8"))
    raw["sides"]["seller"]["minimum"] = "99999.99"
    schedule = parse_schedule(raw)
    assert schedule.fees(100) == (100, 100)
    assert schedule.seller.fee(5_000_000) == 5_000_000  # 50,000 yuan: the whole price, not 99,999.99
    assert schedule.seller.fee(10_000_000) == 9_999_999  # the minimum once the price exceeds it


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
