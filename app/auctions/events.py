"""Live events of auctions (SPEC §10; DESIGN.md "Live events").

Every event is a row of ``auction_events`` numbered per auction from 1 (``auctions.event_seq``), written in
the transaction of the change it reports. A stream replays the rows after the client's ``Last-Event-ID``
and then waits for more, opening a short read session per check; it never holds a session while waiting.

Waking up: on PostgreSQL an AFTER INSERT trigger on ``auction_events`` calls
``pg_notify('auction_events', '<id>:<seq>')`` in the writing transaction (delivered only on commit; migration
f5a2b3c4d5e6) and each process keeps ONE listening connection (``Hub``) that wakes the streams
of that auction in any process; streams re-read the table by their last id anyway and also look again every
``PG_RECHECK_SECONDS``, so nothing depends on a notification arriving. On SQLite (one host) streams poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import ServerSentEvent

from app.kit.db import Database, is_unavailable, warn_unavailable
from app.kit.errors import ExchangeError
from app.kit.metrics import SSE_CONNECTIONS
from app.models.trading import Auction, AuctionEvent, AuctionStatus

log = logging.getLogger(__name__)

CHANNEL = "auction_events"
SQLITE_POLL_SECONDS = 0.3
PG_RECHECK_SECONDS = 1.0
DATABASE_RETRY_SECONDS = 1.0  # while the database is unavailable, a stream reads again this often
LISTENER_CONNECT_TIMEOUT = 5.0
LISTENER_RETRY_SECONDS = 10.0
REPLAY_BATCH = 500
FINAL_EVENTS = frozenset({"closed", "failed"})
ENDED = frozenset({AuctionStatus.closed, AuctionStatus.failed, AuctionStatus.cancelled})


_INSERT = insert(cast(Table, AuctionEvent.__table__))

MAX_EVENT_ID = 2**63 - 1
_EVENT_ID = re.compile(r"[0-9]{1,19}")


class InvalidLastEventId(ExchangeError):
    status, code = 400, "invalid_last_event_id"


def parse_last_event_id(value: str | None, *, name: str) -> int | None:
    """An event id the client sends back: ASCII digits, 0 … 2^63−1 (``auction_events.seq`` is a signed 64-bit
    integer; a larger one overflowed the driver in the middle of the stream). Else 400 (SPEC §20)."""
    if value is None:
        return None
    if not _EVENT_ID.fullmatch(value) or int(value) > MAX_EVENT_ID:
        raise InvalidLastEventId(f"{name} must be an integer from 0 to {MAX_EVENT_ID}.")
    return int(value)


def replay_after(header: str | None, query: str | None) -> int:
    """The id to replay after: the ``Last-Event-ID`` header, else ``?last_event_id=`` (§19.3: the header wins,
    a malformed value of either is refused), else 0 (every event)."""
    from_header = parse_last_event_id(header, name="Last-Event-ID")
    from_query = parse_last_event_id(query, name="last_event_id")
    if from_header is not None:
        return from_header
    return from_query or 0


async def append(
    session: AsyncSession,
    auction_id: uuid.UUID,
    batch: Sequence[tuple[int, str, dict[str, Any]]],
    *,
    at: datetime,
) -> None:
    """Write events ``(seq, event, data)`` whose numbers the caller took from ``auctions.event_seq`` in the
    same transaction (on PostgreSQL the table's trigger notifies the listeners on commit)."""
    if not batch:
        return
    await (await session.connection()).execute(
        _INSERT,
        [
            {"auction_id": auction_id, "seq": seq, "event": name, "at": at, "data": data}
            for seq, name, data in batch
        ],
    )


class Hub:
    """One LISTEN connection per process (and event loop); wakes the subscribed streams of an auction."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._retry_at = 0.0  # after a failed start, streams re-check on their own until then

    def subscribe(self, auction_id: uuid.UUID) -> asyncio.Event:
        wake = asyncio.Event()
        self._subscribers.setdefault(str(auction_id), set()).add(wake)
        return wake

    def unsubscribe(self, auction_id: uuid.UUID, wake: asyncio.Event) -> None:
        waiting = self._subscribers.get(str(auction_id))
        if waiting is not None:
            waiting.discard(wake)
            if not waiting:
                self._subscribers.pop(str(auction_id), None)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for wake in self._subscribers.get(payload.split(":", 1)[0], ()):
            wake.set()

    async def ensure_listening(self) -> None:
        """Start (or restart) the listener; a failure only means the streams fall back to re-checking, and
        the next attempt waits ``LISTENER_RETRY_SECONDS`` (not one per stream per second)."""
        if self._conn is not None and not self._conn.is_closed():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at or self._lock.locked():
            return
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            import asyncpg

            try:
                conn = await asyncpg.connect(self.dsn, timeout=LISTENER_CONNECT_TIMEOUT)
                await conn.add_listener(CHANNEL, self._on_notify)
            except Exception as exc:
                self._retry_at = loop.time() + LISTENER_RETRY_SECONDS
                if isinstance(exc, OSError) or is_unavailable(exc):  # the database is down: no traceback
                    warn_unavailable(log, "auction event listener; streams poll instead", exc)
                else:
                    log.warning("auction event listener could not start; streams poll instead", exc_info=True)
                return
            self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


_hubs: dict[tuple[str, int], Hub] = {}


async def close_hubs() -> None:
    """Close this event loop's listener connections (at shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _hubs if k[1] == loop_id]:
        await _hubs.pop(key).close()


def hub_for(db: Database) -> Hub:
    """The process's hub for this database (one per event loop: a connection belongs to its loop)."""
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    key = (dsn, id(asyncio.get_running_loop()))
    hub = _hubs.get(key)
    if hub is None:
        hub = _hubs[key] = Hub(dsn)
    return hub


async def stream(
    db: Database,
    auction_id: uuid.UUID,
    after: int,
    *,
    close_if_due: Callable[[datetime | None], Awaitable[None]],
) -> AsyncIterator[ServerSentEvent]:
    """Events after ``after``, then live ones, until the ``closed``/``failed`` event (or a cancelled auction).

    ``close_if_due`` is given the ``ends_at`` of an open auction and closes it if that has passed (a lazy
    close, so a stream ends even where no sweeper runs)."""
    hub = None if db.is_sqlite else hub_for(db)
    wake = None
    if hub is not None:
        await hub.ensure_listening()
        wake = hub.subscribe(auction_id)
    SSE_CONNECTIONS.inc()
    try:
        while True:
            if wake is not None:
                wake.clear()
            try:
                async with db.read() as session:
                    # The status first: a final event is committed with the final status, so it is read below.
                    state = (
                        await session.execute(
                            select(Auction.status, Auction.ends_at).where(Auction.id == auction_id)
                        )
                    ).first()
                    rows = (
                        await session.execute(
                            select(AuctionEvent.seq, AuctionEvent.event, AuctionEvent.data)
                            .where(AuctionEvent.auction_id == auction_id, AuctionEvent.seq > after)
                            .order_by(AuctionEvent.seq)
                            .limit(REPLAY_BATCH)
                        )
                    ).all()
            except Exception as exc:
                # The database went away: the stream stays open and reads again (a browser's EventSource
                # does not reconnect after the 503 a new request would get).
                if not is_unavailable(exc):
                    raise
                warn_unavailable(log, "live events", exc)
                await asyncio.sleep(DATABASE_RETRY_SECONDS)
                continue
            for row in rows:
                yield ServerSentEvent(
                    data=json.dumps(row.data, ensure_ascii=False, separators=(",", ":")),
                    event=row.event,
                    id=str(row.seq),
                )
                after = row.seq
                if row.event in FINAL_EVENTS:
                    return
            if len(rows) == REPLAY_BATCH:
                continue
            if state is None or state.status in ENDED:
                return
            if state.status == AuctionStatus.open:
                try:
                    await close_if_due(state.ends_at)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    warn_unavailable(log, "live events", exc)  # the next round tries again
            if wake is None:
                await asyncio.sleep(SQLITE_POLL_SECONDS)
            else:
                await hub.ensure_listening()  # type: ignore[union-attr]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), PG_RECHECK_SECONDS)
    finally:
        SSE_CONNECTIONS.dec()
        if hub is not None and wake is not None:
            hub.unsubscribe(auction_id, wake)
