"""Cursors (SPEC §2, §20): the app's own cursors round-trip; anything else — not base64url JSON, the wrong
number of values, a value of the wrong kind, a naive datetime, an integer beyond 64 bits, a non-finite float, a
string the databases cannot take — is a 422 ``invalid_cursor`` naming the parameter, never a 500."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, String, column, select

from app.kit.errors import Unprocessable
from app.kit.pagination import (
    MAX_CURSOR_LENGTH,
    SortKey,
    datetime_key,
    decode_cursor,
    encode_cursor,
    int_key,
    keyset_query,
    page_of,
    str_key,
    uuid_key,
)
from app.kit.types import UTCDateTime

AT = column("at", UTCDateTime())
ID = column("id", String())
SEQ = column("seq", Integer())
NAME = column("name", String())

# Every kind of key, the way the services declare them (``SortKey(col, int)`` and the helpers alike).
KEYS = [
    datetime_key(AT, descending=True),
    uuid_key(ID, descending=True),
    SortKey(SEQ, int),
    SortKey(NAME, str),
]
GOOD = ["2026-11-25T02:00:00+00:00", str(uuid.UUID(int=7)), 42, "auction"]


def crafted(values: Any) -> str:
    """A well-formed cursor (base64url JSON) carrying anything."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def assert_invalid(cursor: str, keys: list[SortKey] = KEYS) -> None:
    with pytest.raises(Unprocessable) as caught:
        keyset_query(select(AT), keys, cursor)
    assert caught.value.code == "invalid_cursor"
    assert caught.value.errors == [{"loc": ["query", "cursor"], "msg": "not a cursor from this list"}]


def test_own_cursors_round_trip() -> None:
    row = (datetime(2026, 11, 25, 2, tzinfo=UTC), uuid.UUID(int=7), 42, "auction")
    items, cursor = page_of([row, row], 1, lambda r: r)
    assert items == [row] and cursor is not None
    assert decode_cursor(cursor, size=4) == GOOD
    keyset_query(select(AT), KEYS, cursor)  # accepted
    keyset_query(select(AT), [int_key(SEQ), str_key(NAME)], encode_cursor([-(2**63), ""]))
    keyset_query(select(AT), [int_key(SEQ)], encode_cursor([2**63 - 1]))
    # Any offset, any precision; the instant in UTC is what counts.
    for at in ("2026-11-25T10:00:00.123456+08:00", "1900-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"):
        keyset_query(select(AT), [datetime_key(AT)], encode_cursor([at]))


@pytest.mark.parametrize(
    "values",
    [
        # datetimes: naive, out of range, not ISO, not a string
        ["2026-11-25T02:00:00", *GOOD[1:]],
        ["2026-11-25", *GOOD[1:]],
        ["1899-12-31T23:59:59+00:00", *GOOD[1:]],
        ["0001-01-01T00:00:00+08:00", *GOOD[1:]],  # before year 1 in UTC
        ["9999-12-31T23:59:59-05:00", *GOOD[1:]],  # after year 9999 in UTC
        ["not a date", *GOOD[1:]],
        ["2026-02-30T00:00:00+00:00", *GOOD[1:]],
        [1764036000, *GOOD[1:]],
        [None, *GOOD[1:]],
        [True, *GOOD[1:]],
        [{"at": GOOD[0]}, *GOOD[1:]],
        [[GOOD[0]], *GOOD[1:]],
        ["2026-11-25T02:00:00+00:00" + " " * 100, *GOOD[1:]],
        # uuids
        [GOOD[0], "not-a-uuid", *GOOD[2:]],
        [GOOD[0], 7, *GOOD[2:]],
        [GOOD[0], None, *GOOD[2:]],
        [GOOD[0], ["x"], *GOOD[2:]],
        # integers: beyond signed 64 bits, floats, bools, strings
        [*GOOD[:2], 10**30, GOOD[3]],
        [*GOOD[:2], 2**63, GOOD[3]],
        [*GOOD[:2], -(2**63) - 1, GOOD[3]],
        [*GOOD[:2], 1e308, GOOD[3]],
        [*GOOD[:2], 1.5, GOOD[3]],
        [*GOOD[:2], 42.0, GOOD[3]],
        [*GOOD[:2], True, GOOD[3]],
        [*GOOD[:2], "42", GOOD[3]],
        [*GOOD[:2], None, GOOD[3]],
        [*GOOD[:2], {"n": 1}, GOOD[3]],
        # strings: NUL and lone surrogates (neither database takes them), too long, not a string
        [*GOOD[:3], "a\x00b"],
        [*GOOD[:3], "\ud800"],
        [*GOOD[:3], "x" * 300],
        [*GOOD[:3], 42],
        [*GOOD[:3], None],
        [*GOOD[:3], []],
        # arity and shape
        GOOD[:3],
        [*GOOD, "extra"],
        [],
        {"at": GOOD[0]},
        42,
        "cursor",
        None,
    ],
)
def test_crafted_values_are_invalid_cursor(values: Any) -> None:
    assert_invalid(crafted(values))


@pytest.mark.parametrize(
    "cursor",
    [
        raw("[NaN, 1, 2, 3]"),
        raw("[Infinity, 1, 2, 3]"),
        raw("[-Infinity, 1, 2, 3]"),
        raw("[1e999, 1, 2, 3]"),
        raw("[" * 300 + "]" * 300),
        raw("[1, 2, 3, 4"),
        raw("\xff\xfe"),
        "%%%",
        "!!!!",
        "é",
        "",
        "=" * 8,
        "a\x00b",
        "A" * (MAX_CURSOR_LENGTH + 1),
    ],
)
def test_malformed_cursors_are_invalid_cursor(cursor: str) -> None:
    assert_invalid(cursor)


def test_a_custom_parser_that_raises_is_invalid_cursor() -> None:
    def parse(value: Any) -> int:
        return int(float(value))  # OverflowError on inf, ValueError on text

    assert_invalid(crafted(["1e400"]), [SortKey(SEQ, parse)])
    assert_invalid(crafted(["x"]), [SortKey(SEQ, parse)])


def test_aware_datetime_keys_compare_in_utc() -> None:
    """A cursor instant with another offset is the same instant: ``+08:00`` is read as its UTC value."""
    cursor = encode_cursor(["2026-11-25T10:00:00+08:00"])
    query = keyset_query(select(AT), [datetime_key(AT)], cursor)
    bound = query.whereclause.compile().params  # type: ignore[union-attr]
    (value,) = bound.values()
    assert value == datetime(2026, 11, 25, 2, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)
