from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.kit.money import AMOUNT_PATTERN, MAX_FEN, MoneyIn, MoneyOut, PositiveMoneyIn, format_fen, parse_yuan


class In(BaseModel):
    amount: MoneyIn


class PositiveIn(BaseModel):
    amount: PositiveMoneyIn


class Out(BaseModel):
    amount: MoneyOut


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0.00", 0),
        ("0.01", 1),
        ("1.05", 105),
        ("1250000.00", 125_000_000),
        ("999999999999.99", 99_999_999_999_999),  # twelve digits: the largest amount (below one trillion)
    ],
)
def test_parse_valid(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen
    assert In(amount=text).amount == fen


@pytest.mark.parametrize(
    "bad",
    [
        "1.00\n",  # ``$`` matches before a trailing newline; the whole string must match
        "1.00\r\n",
        "\n1.00",
        "\u0661.00",  # ARABIC-INDIC DIGIT ONE: ``\d`` and ``Decimal`` take it, the API does not
        "\uff11.00",  # FULLWIDTH DIGIT ONE
        "1.\u0660\u0660",
        " 1.00",
        "1.00 ",
        "1 000.00",
        "1000000000000.00",  # thirteen digits: one trillion yuan
        "99999999999999999.00",
        "-1.00",
        "+1.00",
        "1.0",
        "1.000",
        "1.001",
        "1",
        "1.",
        ".50",
        "0",
        "abc",
        "",
        "1e5",
        "NaN",
        "Infinity",
        "1,000.00",
        "1_000.00",
        1.5,
        100,
        True,
        None,
    ],
)
def test_parse_invalid(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_yuan(bad)
    with pytest.raises(ValidationError):
        In(amount=bad)
    with pytest.raises(ValidationError):
        PositiveIn(amount=bad)


SPEC_PATTERN = re.compile(r"[0-9]{1,12}\.[0-9]{2}", re.ASCII)  # SPEC §20, over the whole string
candidates = st.one_of(
    st.from_regex(r"\A[0-9\u0660-\u0669\uff10-\uff19]{0,14}\.?[0-9]{0,3}\s?\Z"),
    st.text(alphabet="0123456789.-+ \n\t\u0661\uff11e", max_size=18),
    st.text(max_size=18),
)


@given(candidates)
def test_accepted_exactly_when_the_spec_pattern_matches_the_whole_string(text: str) -> None:
    try:
        fen = parse_yuan(text)
    except ValueError:
        assert SPEC_PATTERN.fullmatch(text) is None, repr(text)
        return
    assert SPEC_PATTERN.fullmatch(text) is not None, repr(text)
    assert 0 <= fen < MAX_FEN
    assert format_fen(fen) == text.lstrip("0").rjust(len("0.00"), "0")  # leading zeros mean nothing


def test_leading_zeros_match_the_pattern_and_mean_the_same_amount() -> None:
    assert parse_yuan("0001.50") == 150


def test_amounts_stay_below_one_trillion_yuan() -> None:
    assert MAX_FEN == 10**14  # so no realistic sum of amounts overflows a signed 64-bit column


def test_openapi_schema_of_money_fields_carries_the_pattern() -> None:
    for model in (In, PositiveIn):
        schema = model.model_json_schema()["properties"]["amount"]
        assert schema["type"] == "string"
        assert schema["pattern"] == "^[0-9]{1,12}\\.[0-9]{2}$"
        assert schema["pattern"] == AMOUNT_PATTERN.pattern


@given(st.integers(min_value=0, max_value=MAX_FEN - 1))
def test_round_trip(fen: int) -> None:
    assert parse_yuan(format_fen(fen)) == fen
    assert Out(amount=fen).model_dump(mode="json") == {"amount": format_fen(fen)}


def test_format_has_exactly_two_decimals() -> None:
    assert format_fen(125_000_000) == "1250000.00"
    assert format_fen(5) == "0.05"
    assert format_fen(-150) == "-1.50"
