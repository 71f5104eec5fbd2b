"""The dates the exchange accepts (SPEC §20): 1900-01-01 … 2199-12-31, the range every date query parameter
and every stored date lies in, so no arithmetic on a date a client sent (an expiry 20 years on, the instant a
Shanghai day begins, the day after) can leave what Python and both databases hold.

``QueryDate`` is the type of a date query parameter: ``YYYY-MM-DD`` only (ASCII digits), a real calendar day,
within the range; anything else is a 422 naming the parameter."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def in_range(day: date) -> bool:
    return EARLIEST <= day <= LATEST


def check_in_range(day: date) -> date:
    """``day`` itself, or ``ValueError`` (a 422 from a Pydantic validator) outside 1900-01-01 … 2199-12-31."""
    if not in_range(day):
        raise ValueError(f"must be a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
    return day


def _iso_text(value: Any) -> Any:
    """Only ``YYYY-MM-DD``: Pydantic's lax mode would otherwise read ``0`` as 1970-01-01 and accept a datetime."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


# The range as the JSON Schema of a date (a real calendar day is the ``date`` format's part).
DATE_PATTERN = r"^(?:19[0-9]{2}|2[01][0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"

QueryDate = Annotated[
    date,
    BeforeValidator(_iso_text),
    AfterValidator(check_in_range),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]
"""A date query parameter: ``Annotated[QueryDate | None, Query(...)] = None``."""
