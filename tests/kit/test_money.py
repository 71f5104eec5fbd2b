from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.kit.money import MoneyIn, MoneyOut, format_fen, parse_yuan


class In(BaseModel):
    amount: MoneyIn


class Out(BaseModel):
    amount: MoneyOut


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0", 0), ("0.00", 0), ("1", 100), ("1.5", 150), ("1.05", 105), ("1250000.00", 125_000_000)],
)
def test_parse_valid(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen
    assert In(amount=text).amount == fen


@pytest.mark.parametrize(
    "bad", ["-1.00", "1.001", "abc", "", "1e5", "01.00", " 1", "NaN", "1,000.00", 1.5, 100, None]
)
def test_parse_invalid(bad: object) -> None:
    with pytest.raises((ValueError, ValidationError)):
        In(amount=bad)


@given(st.integers(min_value=0, max_value=10**15))
def test_round_trip(fen: int) -> None:
    assert parse_yuan(format_fen(fen)) == fen
    assert Out(amount=fen).model_dump(mode="json") == {"amount": format_fen(fen)}


def test_format_has_exactly_two_decimals() -> None:
    assert format_fen(125_000_000) == "1250000.00"
    assert format_fen(5) == "0.05"
    assert format_fen(-150) == "-1.50"
