"""Pure rules of co-ownership and 赋权 (SPEC §18.5): shares, resident ID numbers and their masking, the income
split, use-right terms. No I/O, no clock.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from collections.abc import Hashable, Sequence
from datetime import date, timedelta
from typing import TypeVar

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from app.kit.errors import CodedValueError
from app.models.owners import FULL_SHARE

INVALID_ID_NUMBER = "invalid_id_number"
INVALID_SHARES = "invalid_shares"

# A percentage of §18 conventions: at most two decimals, ASCII digits only.
_PERCENT = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,2})?$")
PERCENT_PATTERN = _PERCENT.pattern
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9Xx]$")
ID_NUMBER_PATTERN = _ID_NUMBER.pattern


# --- shares ------------------------------------------------------------------------------------------------


def parse_percent(text: object) -> int:
    """``"12.5"`` → 1250 basis points. Not a percentage of at most two decimals → ``ValueError`` (a 422
    ``validation_error``); the range is the shares' rule (``check_shares``)."""
    if not isinstance(text, str) or not _PERCENT.fullmatch(text):
        raise ValueError('a percentage is a string with at most two decimals, e.g. "12.50"')
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def format_percent(bp: int) -> str:
    """1250 → ``"12.50"``."""
    return f"{bp // 100}.{bp % 100:02d}"


def check_shares(shares: Sequence[int]) -> None:
    """Every share > 0 and together exactly 100.00 → else ``invalid_shares``."""
    if not shares or any(s <= 0 for s in shares):
        raise CodedValueError(INVALID_SHARES, "every owner's share must be above 0")
    if sum(shares) != FULL_SHARE:
        raise CodedValueError(INVALID_SHARES, "the owners' shares must add up to exactly 100.00")


# --- resident ID numbers (GB 11643) -------------------------------------------------------------------------


def validate_id_number(text: str) -> str:
    """An 18-character resident ID number: region code, a real birth date, sequence, check character (python-stdnum
    ``cn.ric``). Returns it with an upper-case ``X``; anything else → ``invalid_id_number``. The message never
    repeats the number."""
    if not isinstance(text, str) or not _ID_NUMBER.fullmatch(text):
        raise CodedValueError(INVALID_ID_NUMBER, "a resident ID number has 17 digits and a check character")
    number = text.upper()
    try:
        ric.validate(number)
    except ValidationError:
        raise CodedValueError(
            INVALID_ID_NUMBER, "not a valid resident ID number (region, birth date or check character)"
        ) from None
    return number


def mask_id_number(number: str) -> str:
    """The only form a number is shown in: first 3 and last 4 characters (``330***********0018``)."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def id_number_hash(number: str, key: str) -> str:
    """A keyed hash (HMAC-SHA256) that recognises the same person without storing the number."""
    return hmac.new(key.encode(), number.upper().encode(), hashlib.sha256).hexdigest()


# --- the income split ----------------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)


def split(net: int, shares: Sequence[tuple[K, int]], seller: K) -> dict[K, int]:
    """The parts of ``net`` fen by the owners' shares (SPEC §18.5): each owner but the seller gets share × net
    rounded down to the fen, the seller the rest — so the parts add up to ``net`` exactly and none is negative
    (the others' parts are floors of shares adding up to at most 100.00). ``seller`` always has a part, even
    when it is not among ``shares``."""
    if net < 0:
        raise ValueError("nothing negative is split")
    parts: dict[K, int] = {}
    for key, bp in shares:
        if key != seller:
            parts[key] = parts.get(key, 0) + net * bp // FULL_SHARE
    others = sum(parts.values())
    if others > net:  # shares above 100.00 in total: never stored (check_shares)
        raise ValueError("the shares add up to more than 100.00")
    return {seller: net - others, **parts}


# --- use rights ----------------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later, or that month's last day when it is shorter (2024-02-29 + 1 → 2025-02-28)."""
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def use_right_period(decided_on: date, term_years: int, patent_expires_on: date) -> tuple[date, date]:
    """``starts_on`` = the decision's day; ``ends_on`` = the day before the same date ``term_years`` later, at
    most the patent's last day (the day before ``expires_on``)."""
    ends_on = add_years(decided_on, term_years) - timedelta(days=1)
    return decided_on, min(ends_on, patent_expires_on - timedelta(days=1))
