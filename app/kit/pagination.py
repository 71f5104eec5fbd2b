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
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_

from app.kit.errors import Unprocessable

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, size: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise Unprocessable(
            "cursor is not valid",
            code="invalid_cursor",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor from this list"}],
        )
    return values


@dataclass(frozen=True)
class SortKey:
    """One column of a keyset order; ``parse`` turns the cursor's JSON value back into a column value."""

    column: Any
    parse: Callable[[Any], Any]
    descending: bool = False


def _iso(value: Any) -> datetime:
    return datetime.fromisoformat(value)


def datetime_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, _iso, descending)


def uuid_key(column: Any, *, descending: bool = False) -> SortKey:
    return SortKey(column, uuid.UUID, descending)


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
    try:
        parsed = [k.parse(v) for k, v in zip(keys, values, strict=True)]
    except (TypeError, ValueError):
        raise Unprocessable(
            "cursor is not valid",
            code="invalid_cursor",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor from this list"}],
        ) from None
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
