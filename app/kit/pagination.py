"""Cursor pagination (SPEC §2): ``?limit=&cursor=`` → ``{"items", "next_cursor"}``.

The cursor is the sort key of the last row returned, opaque to clients (base64url JSON), so pages stay
stable while rows are added and the database seeks by index instead of counting an offset.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_

from app.kit.errors import Unprocessable
from app.kit.openapi import document_dependency

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None


MAX_CURSOR_LENGTH = 512


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page",
            json_schema_extra={"maxLength": MAX_CURSOR_LENGTH},
        ),
    ] = None,
) -> PageParams:
    if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid_cursor()
    return PageParams(limit=limit, cursor=cursor)


document_dependency(page_params, {422: ("invalid_cursor",)})


def invalid_cursor() -> Unprocessable:
    """SPEC §20: any cursor that is not this list's → 422 ``invalid_cursor`` naming the parameter."""
    return Unprocessable(
        "cursor is not valid",
        code="invalid_cursor",
        errors=[{"loc": ["query", "cursor"], "msg": "not a cursor from this list"}],
    )


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a cursor value")


def decode_cursor(cursor: str | None, *, size: int) -> list[Any] | None:
    """The cursor's ``size`` JSON values (not yet typed: see ``SortKey.value_of``), or ``invalid_cursor``.
    JSON's non-finite extensions (``NaN``, ``Infinity``) are refused here, so no caller meets them."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise invalid_cursor()
    return values


# --- typed values, one parser per kind of key ------------------------------------------------------------
# A cursor travels through the client, so each value is checked as strictly as a query parameter: the kind
# the key's column holds, and a value both databases can bind (a naive datetime fails the UTC column type,
# an integer beyond 64 bits overflows both drivers, NUL and lone surrogates are refused by PostgreSQL's and
# SQLite's text encoders).

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_STRING_KEY = 256
# Aware instants only, within what Python holds in UTC. The upper end is not 2199 (the last day a client may
# send as a date) because a list may order by a far-future stand-in for "none" (listings ``ends_soonest``
# puts undated drafts at 9999-01-01) and its own cursors must round-trip.
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def parse_datetime_value(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("an ISO instant with an offset")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("a naive datetime")
    instant = parsed.astimezone(UTC)  # OverflowError past year 1 or 9999 in UTC
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        raise ValueError("out of range")
    return instant


def parse_int_value(value: Any) -> int:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:  # bool is an int subclass: refused
        raise ValueError("a signed 64-bit integer")
    return value


def parse_str_value(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING_KEY or "\x00" in value:
        raise ValueError("a short string without NUL")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def parse_uuid_value(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("a UUID")
    return uuid.UUID(value)


# ``SortKey(column, int)`` and the like name the kind by its type; each type has its strict parser.
_PARSERS: dict[Any, Callable[[Any], Any]] = {
    datetime: parse_datetime_value,
    int: parse_int_value,
    str: parse_str_value,
    uuid.UUID: parse_uuid_value,
}


@dataclass(frozen=True)
class SortKey:
    """One column of a keyset order. ``parse`` turns the cursor's JSON value back into a column value: a type
    (``datetime``, ``int``, ``str``, ``uuid.UUID``) selects the strict parser of that kind, any other
    callable is used as given; whatever it raises makes the cursor invalid."""

    column: Any
    parse: Callable[[Any], Any] | type
    descending: bool = False

    def value_of(self, value: Any) -> Any:
        try:
            return _PARSERS.get(self.parse, self.parse)(value)
        except (TypeError, ValueError, ArithmeticError):
            raise invalid_cursor() from None


def datetime_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, datetime, descending)


def uuid_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, uuid.UUID, descending)


def int_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, int, descending)


def str_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, str, descending)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def keyset_query(query: Select[Any], keys: Sequence[SortKey], cursor: str | None) -> Select[Any]:
    """Order by the keys and, given a cursor, keep only rows after it. NULLs are not allowed in keys."""
    query = query.order_by(*[k.column.desc() if k.descending else k.column.asc() for k in keys])
    values = decode_cursor(cursor, size=len(keys))
    if values is None:
        return query
    parsed = [k.value_of(v) for k, v in zip(keys, values, strict=True)]
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == parsed[j] for j in range(i)]
        beyond = key.column < parsed[i] if key.descending else key.column > parsed[i]
        clauses.append(and_(*equal, beyond))
    return query.where(or_(*clauses))


def page_of(
    rows: Sequence[Any], limit: int, key_values: Callable[[Any], Sequence[Any]]
) -> tuple[list[Any], str | None]:
    """Cut a ``limit + 1`` fetch into a page and the cursor of its last row."""
    items = list(rows[:limit])
    if len(rows) <= limit:
        return items, None
    return items, encode_cursor([_to_json(v) for v in key_values(items[-1])])
