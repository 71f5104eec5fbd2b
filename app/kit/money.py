"""Money: integer fen inside, two-decimal yuan strings at the API edge (SPEC §2)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

# SPEC §20: the whole string, ASCII digits only (``[0-9]``, never ``\d``, which takes other scripts' digits),
# exactly two decimals, below one trillion yuan. Matched with ``fullmatch``: ``$`` alone would also match before
# a trailing newline. The same text is the OpenAPI ``pattern`` of every money field.
AMOUNT_PATTERN = re.compile(r"^[0-9]{1,12}\.[0-9]{2}$")
MAX_FEN = 10**14  # one trillion yuan: sums of amounts stay far inside a signed 64-bit column


def parse_yuan(value: object) -> int:
    """``"1250000.00"`` → 125000000 fen. Strings only: floats would round silently."""
    if not isinstance(value, str):
        raise ValueError('amount must be a string in yuan, e.g. "1250000.00"')
    if AMOUNT_PATTERN.fullmatch(value) is None:
        raise ValueError(
            "amount must be a non-negative number of yuan below one trillion with exactly two decimals, "
            'e.g. "1250000.00"'
        )
    whole, cents = value.split(".")
    return int(whole) * 100 + int(cents)


def format_fen(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def round_half_up(value: Decimal) -> int:
    """Round a fen amount computed with fractions half-up to a whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse(value: Any) -> int:
    return parse_yuan(value)


_MONEY_SCHEMA = {
    "type": "string",
    "pattern": AMOUNT_PATTERN.pattern,
    "examples": ["1250000.00"],
}

# Request fields: a yuan string, validated and converted to fen.
MoneyIn = Annotated[int, BeforeValidator(_parse), WithJsonSchema(_MONEY_SCHEMA)]


def _positive(fen: int) -> int:
    if fen <= 0:
        raise ValueError("amount must be greater than zero")
    return fen


# Request fields that must be more than zero (payments, prices, deposits, bids): the same pattern, and not
# zero — so a client generated from the OpenAPI knows ``"0.00"`` is refused.
PositiveMoneyIn = Annotated[
    int,
    BeforeValidator(_parse),
    AfterValidator(_positive),
    WithJsonSchema({**_MONEY_SCHEMA, "not": {"pattern": r"^0+\.00$"}}),
]
# Response fields: fen rendered as a two-decimal yuan string.
MoneyOut = Annotated[
    int,
    PlainSerializer(format_fen, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["1250000.00"]}),
]
