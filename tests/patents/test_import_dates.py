"""The date forms a stock-taking import accepts (SPEC §21): ``YYYY-MM-DD``, ``YYYY/M/D``, ``YYYY.M.D``,
``YYYYMMDD`` (an Excel date cell reaches the parser as ``YYYY-MM-DD``). The API itself keeps ISO dates."""

from __future__ import annotations

from datetime import date

import pytest

from app.kit.errors import CodedValueError
from app.patents.rules import parse_import_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-01-02", date(2019, 1, 2)),
        ("2019/1/2", date(2019, 1, 2)),
        ("2019/01/02", date(2019, 1, 2)),
        ("2019.1.2", date(2019, 1, 2)),
        ("2019.12.31", date(2019, 12, 31)),
        ("2019-1-2", date(2019, 1, 2)),
        ("20190102", date(2019, 1, 2)),
        ("2020/2/29", date(2020, 2, 29)),
        ("  2019/1/2 ", date(2019, 1, 2)),
        ("\u30002019/1/2\u3000", date(2019, 1, 2)),  # full-width spaces around
        ("", None),
        ("   ", None),
    ],
)
def test_accepted_forms(text: str, expected: date | None) -> None:
    assert parse_import_date(text, "filing_date") == expected


@pytest.mark.parametrize(
    "text",
    [
        "2019/13/1",  # no month 13
        "2019/2/30",  # no such day
        "2019-02-30",
        "20190230",
        "2019.0.1",
        "2019/1/0",
        "19/1/2",  # two-digit year: which century?
        "1/2/2019",  # day-first or month-first: ambiguous
        "2019/1-2",  # mixed separators
        "2019/001/2",
        "201912",
        "201901021",
        "0000-01-01",  # no year 0
        "2019-W01-1",  # ISO week date: not a form people type
        "2019-01-02T00:00",
        "2019年1月2日",
        "２０１９/1/2",  # full-width digits
        "٢٠١٩/1/2",  # other scripts' digits
        "２０１９-01-02",
        "2019-01-0２",
        "2019/1/2/3",
        "yesterday",
    ],
)
def test_refused_forms(text: str) -> None:
    with pytest.raises(CodedValueError) as caught:
        parse_import_date(text, "grant_date")
    assert caught.value.code == "invalid_date"
    message = str(caught.value)
    assert message.startswith("grant_date ") and "2019/1/2" in message
