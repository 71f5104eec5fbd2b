"""The outbox: ``notify`` writes one notification per recipient organization in the caller's transaction, and
hands the rows to every registered subscriber (webhook deliveries) in that same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import compose
from app.kit.compose import Write
from app.kit.db import connection_of
from app.kit.statements import prepared
from app.models.notifications import Notification
from app.notifications.kinds import KINDS

_INSERT = prepared(insert(cast(Table, Notification.__table__)))


class Written(NamedTuple):
    """A notification as ``notify`` wrote it (a plain row: an ORM object per row cost more than the INSERT)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    kind: str
    data: dict[str, Any]
    created_at: datetime


Subscriber = Callable[[AsyncSession, list[Written]], Awaitable[None]]
# The same subscriber for notifications written by a composed statement (``notices_after``): its own writes
# after them, and what to do once the statement has committed (given the statement's result row).
Composer = Callable[[list[Written]], tuple[list[Write], Callable[[Any], None]]]
_SUBSCRIBERS: list[Subscriber] = []
_COMPOSERS: list[Composer] = []


def subscribe(subscriber: Subscriber, composer: Composer) -> None:
    """Register a subscriber of every batch of notifications (at import time): ``subscriber`` for those
    ``notify`` writes, ``composer`` for those ``notices_after`` composes."""
    if subscriber not in _SUBSCRIBERS:
        _SUBSCRIBERS.append(subscriber)
        _COMPOSERS.append(composer)


async def notify(
    session: AsyncSession,
    kind: str,
    recipients: Iterable[uuid.UUID | None],
    data: Mapping[str, Any],
    *,
    at: datetime,
) -> list[Written]:
    """Tell each organization of ``recipients`` once (duplicates and ``None`` dropped) about a change of
    ``kind``; ``at`` is the change's business time. ``data`` must be JSON-ready and must never carry what
    SPEC §17.4 keeps secret (sealed amounts, reserves, proxy maxima, who is behind a bidder code)."""
    rows = _rows(kind, recipients, data, at)
    if not rows:
        return []
    # Core: notices are written on the bid path, where an ORM unit of work per row costs more than the INSERT.
    await (await connection_of(session)).execute(_INSERT, [row._asdict() for row in rows])
    for subscriber in _SUBSCRIBERS:
        await subscriber(session, rows)
    return rows


def _rows(
    kind: str, recipients: Iterable[uuid.UUID | None], data: Mapping[str, Any], at: datetime
) -> list[Written]:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    orgs = list(dict.fromkeys(org for org in recipients if org is not None))
    return [Written(uuid.uuid4(), org, kind, dict(data), at) for org in orgs]


def notices_after(
    notices: Sequence[tuple[str, Iterable[uuid.UUID | None], Mapping[str, Any]]], *, at: datetime
) -> tuple[list[Write], Callable[[Any], None]]:
    """``notify`` of each ``(kind, recipients, data)`` as writes of a composed statement (``app.kit.compose``):
    the notifications and their subscribers' writes, and what to call with the statement's row once it has
    committed."""
    rows = [row for kind, recipients, data in notices for row in _rows(kind, recipients, data, at)]
    if not rows:
        return [], lambda _row: None
    writes = [compose.rows("nt", cast(Table, Notification.__table__), [row._asdict() for row in rows])]
    done: list[Callable[[Any], None]] = []
    for composer in _COMPOSERS:
        more, after = composer(rows)
        writes += more
        done.append(after)

    def committed(row: Any) -> None:
        for after in done:
            after(row)

    return writes, committed
