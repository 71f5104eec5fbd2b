"""Pure rules of co-ownership (SPEC §18.5): resident ID numbers, masking, percentages, the income split, use-right
terms."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kit.errors import CodedValueError
from app.owners import rules
from tests.owners.helpers import id_number


def test_a_valid_id_number_passes_and_x_is_upper_case() -> None:
    number = id_number(7)
    assert rules.validate_id_number(number) == number
    # 11010519491231002X is the standard's own example, with the X check character.
    assert rules.validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    "bad",
    [
        "330106199001010051",  # wrong check character (…0050 is right)
        "330106199002300053",  # 30 February
        "330106219901010055",  # a year no one was born in
        "000000199001010050",  # no such region
        "33010619900101005",  # 17 characters
        "3301061990010100500",  # 19 characters
        "33010619900101005Y",  # not a check character
        "３３０１０６１９９００１０１００５０",  # full-width digits
    ],
)
def test_invalid_id_numbers_are_refused_without_repeating_them(bad: str) -> None:
    with pytest.raises(CodedValueError) as raised:
        rules.validate_id_number(bad)
    assert raised.value.code == "invalid_id_number"
    assert bad not in str(raised.value)


def test_masking_keeps_the_first_three_and_last_four() -> None:
    assert rules.mask_id_number("330106199001010018") == "330***********0018"


def test_the_keyed_hash_depends_on_the_key_and_not_on_the_case() -> None:
    assert rules.id_number_hash("11010519491231002x", "k") == rules.id_number_hash("11010519491231002X", "k")
    assert rules.id_number_hash("11010519491231002X", "k") != rules.id_number_hash("11010519491231002X", "j")


@pytest.mark.parametrize(("text", "bp"), [("100", 10_000), ("12.5", 1250), ("0.01", 1), ("33.33", 3333)])
def test_percentages(text: str, bp: int) -> None:
    assert rules.parse_percent(text) == bp


@pytest.mark.parametrize("text", ["12.555", "-1", "abc", "", " 12", "1e2", "１２", 12])
def test_malformed_percentages(text: object) -> None:
    with pytest.raises(ValueError):
        rules.parse_percent(text)


def test_format_percent_has_two_decimals() -> None:
    assert [rules.format_percent(b) for b in (10_000, 1250, 1, 0)] == ["100.00", "12.50", "0.01", "0.00"]


@pytest.mark.parametrize("shares", [[10_000, 0], [5000, 4999], [5000, 5001], [], [-1, 10_001]])
def test_shares_must_be_positive_and_sum_to_exactly_100(shares: list[int]) -> None:
    with pytest.raises(CodedValueError) as raised:
        rules.check_shares(shares)
    assert raised.value.code == "invalid_shares"


def test_the_split_floors_the_others_and_gives_the_seller_the_rest() -> None:
    # 1 fen three ways at 33.33 / 33.33 / 33.34: the others' floors are 0, the seller keeps the fen.
    assert rules.split(1, [("a", 3333), ("b", 3333), ("s", 3334)], "s") == {"s": 1, "a": 0, "b": 0}
    # 49.99% of 101 fen is 50.49: the others get 50 each, the seller (0.02%) the remaining 1.
    assert rules.split(101, [("a", 4999), ("b", 4999), ("s", 2)], "s") == {"s": 1, "a": 50, "b": 50}
    # 33.33% of 2 fen is 0.67: half-up would give the two others 1 fen each; floor gives them 0, the seller 2.
    assert rules.split(2, [("a", 3333), ("b", 3333), ("s", 3334)], "s") == {"s": 2, "a": 0, "b": 0}


@given(
    net=st.integers(min_value=0, max_value=10**14),
    raw=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8),
    seller_at=st.integers(min_value=0, max_value=7),
)
def test_split_parts_add_up_to_the_net_and_none_is_negative(net: int, raw: list[int], seller_at: int) -> None:
    # Shares that add up to exactly 100.00: scale the drawn weights, the last one takes the rounding.
    total = sum(raw)
    shares = [max(1, w * 10_000 // total) for w in raw]
    shares[-1] += 10_000 - sum(shares)
    if shares[-1] <= 0:
        return
    keys = [f"o{i}" for i in range(len(shares))]
    seller = keys[seller_at % len(keys)]
    parts = rules.split(net, list(zip(keys, shares, strict=True)), seller)
    assert sum(parts.values()) == net
    assert all(v >= 0 for v in parts.values())
    for key, bp in zip(keys, shares, strict=True):
        if key != seller:
            assert parts[key] == net * bp // 10_000


def test_the_seller_not_among_the_owners_keeps_the_rest() -> None:
    assert rules.split(1000, [("a", 10_000)], "s") == {"s": 0, "a": 1000}


@pytest.mark.parametrize(
    ("decided", "years", "expires", "ends"),
    [
        (date(2024, 3, 1), 10, date(2040, 1, 1), date(2034, 2, 28)),
        (date(2024, 2, 29), 10, date(2040, 1, 1), date(2034, 2, 27)),  # 2034-02-28, the day before
        (date(2024, 3, 1), 10, date(2030, 6, 1), date(2030, 5, 31)),  # capped at the patent's last day
    ],
)
def test_use_right_period(decided: date, years: int, expires: date, ends: date) -> None:
    assert rules.use_right_period(decided, years, expires) == (decided, ends)
