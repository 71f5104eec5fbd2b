"""The outbox: ``notify`` writes one notification per recipient organization in the caller's transaction, and
hands the rows to every registered subscriber (webhook deliveries) in that same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

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
_SUBSCRIBERS: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Register ``subscriber`` to receive every batch of notifications ``notify`` writes (at import time)."""
    if subscriber not in _SUBSCRIBERS:
        _SUBSCRIBERS.append(subscriber)


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
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    orgs = list(dict.fromkeys(org for org in recipients if org is not None))
    if not orgs:
        return []
    rows = [Written(uuid.uuid4(), org, kind, dict(data), at) for org in orgs]
    # Core: notices are written on the bid path, where an ORM unit of work per row costs more than the INSERT.
    await (await connection_of(session)).execute(_INSERT, [row._asdict() for row in rows])
    for subscriber in _SUBSCRIBERS:
        await subscriber(session, rows)
    return rows
