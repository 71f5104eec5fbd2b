"""Live events of auctions (SPEC §10; DESIGN.md "Live events").

Every event is a row of ``auction_events`` numbered per auction from 1 (``auctions.event_seq``), written in
the transaction of the change it reports. Writers of an auction's events hold its row lock until they commit,
so events become visible in ``seq`` order: the rows after a given seq only ever grow at the end.

ONE reader per process and auction (``Feed``), not one per stream. It reads the rows it has not seen when
woken, encodes each event once to its SSE bytes, keeps the newest ``BUFFER_EVENTS`` of them in memory and
wakes its subscribers, which copy those bytes to their connections. Waking up: on PostgreSQL an AFTER INSERT
trigger on ``auction_events`` calls ``pg_notify('auction_events', '<id>:<seq>')`` in the writing transaction
(delivered only on commit; migration f5a2b3c4d5e6) and each process keeps ONE listening connection (``Hub``)
that wakes the feed of that auction; the feed also looks again every ``PG_RECHECK_SECONDS``, so nothing depends
on a notification arriving. On SQLite (one host) the feed polls every ``SQLITE_POLL_SECONDS``. Besides, a
transaction that wrote events (``append``, ``written``) wakes this process's feeds of those auctions the moment
it commits (``_wake_after_commit``): a bid is on the wire of the streams of its own process without waiting
for a notification or the next poll. A look is one
statement (the auction's status and end, and its newest event's seq), plus one for the new rows if there are.
The feed also runs the lazy close of an open auction past its end (once per process and auction, not per
stream), sends a ping (a comment line) to its streams every ``PING_SECONDS``, and stops when its last
subscriber leaves or the auction has ended.

A subscriber first replays from the database what the buffer does not hold: the rows after its
``Last-Event-ID``, ``REPLAY_BATCH`` at a time; then it follows the buffer. It remembers the seq it sent last
and only ever takes what comes after it, so the hand-over from the replay to the live feed has no gap and no
duplicate whichever of the two read an event first. A slow subscriber that the buffer has moved past catches
up from the database the same way: nobody waits for it and nothing is queued for it.

The response (``EventStream``) is a plain ASGI response: besides the request's own task, one task per
connection waits for the client's disconnect. The final event (``closed``/``failed``) or an auction that
ended otherwise (``cancelled``) ends every stream. A database outage keeps the streams open: the feed and the
replays read again every ``DATABASE_RETRY_SECONDS``. When the server is told to stop, the streams end
(uvicorn waits for open responses before it shuts down; browsers reconnect with their ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import json
import logging
import re
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.kit import compose
from app.kit.compose import Write
from app.kit.db import Database, connection_of, is_unavailable, warn_unavailable
from app.kit.errors import ExchangeError
from app.kit.metrics import SSE_CONNECTIONS
from app.kit.statements import prepared
from app.models.platform import SandboxClock
from app.models.trading import Auction, AuctionEvent, AuctionStatus

log = logging.getLogger(__name__)

CHANNEL = "auction_events"
SQLITE_POLL_SECONDS = 0.1  # events of another process's transactions (those of this one wake it at once)
PG_RECHECK_SECONDS = 1.0
DATABASE_RETRY_SECONDS = 1.0  # while the database is unavailable, a feed or a replay reads again this often
LISTENER_CONNECT_TIMEOUT = 5.0
LISTENER_RETRY_SECONDS = 10.0
REPLAY_BATCH = 500
BUFFER_EVENTS = 256  # the newest events a feed keeps for its subscribers (it trims at twice as many)
PING_SECONDS = 15.0
FINAL_EVENTS = frozenset({"closed", "failed"})
ENDED = frozenset({AuctionStatus.closed, AuctionStatus.failed, AuctionStatus.cancelled})

CloseIfDue = Callable[[datetime | None], Awaitable[None]]
# The business clock given the sandbox clock's offset as the database has it (SPEC §19.3: each event's data
# carries ``now``, the business clock when it is sent). The offset is read in the statements that read the
# events, so stamping them costs no statement of its own.
BusinessClock = Callable[[timedelta], datetime]


def sandbox_clock(offset: timedelta) -> datetime:
    """Real time plus the sandbox offset: the business clock of a server with the sandbox on (and, the
    offset being 0 otherwise, real time)."""
    return datetime.now(UTC) + offset


_INSERT = prepared(insert(cast(Table, AuctionEvent.__table__)))
_OFFSET = select(SandboxClock.offset_seconds).where(SandboxClock.id == 1).scalar_subquery().label("offset")
_LOOK = prepared(
    select(
        Auction.status,
        Auction.ends_at,
        select(func.max(AuctionEvent.seq))
        .where(AuctionEvent.auction_id == Auction.id)
        .correlate(Auction)
        .scalar_subquery()
        .label("newest"),
        _OFFSET,
    ).where(Auction.id == bindparam("p_id"))
)
_ROWS = prepared(
    select(AuctionEvent.seq, AuctionEvent.event, AuctionEvent.data, _OFFSET)
    .where(AuctionEvent.auction_id == bindparam("p_id"), AuctionEvent.seq > bindparam("p_after"))
    .order_by(AuctionEvent.seq)
    .limit(bindparam("p_limit"))
)

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
    await (await connection_of(session)).execute(_INSERT, event_rows(auction_id, batch, at=at))
    written(session, [auction_id])


def event_rows(
    auction_id: uuid.UUID, batch: Sequence[tuple[int, str, dict[str, Any]]], *, at: datetime
) -> list[dict[str, Any]]:
    """The ``auction_events`` rows of events ``(seq, event, data)``: what ``append`` writes, for a caller that
    writes them in a statement of its own (then it calls ``wake`` once that has committed)."""
    return [
        {"auction_id": auction_id, "seq": seq, "event": name, "at": at, "data": data}
        for seq, name, data in batch
    ]


def insert_after(
    auction_id: uuid.UUID, batch: Sequence[tuple[int, str, dict[str, Any]]], *, at: datetime
) -> Write:
    """``append`` as a write of a composed statement (``app.kit.compose``); ``wake`` once it committed."""
    return compose.rows("ev", cast(Table, AuctionEvent.__table__), event_rows(auction_id, batch, at=at))


_WRITTEN = "auction_events_written"  # session.info: auctions whose events the transaction wrote


def written(session: AsyncSession, auction_ids: Iterable[uuid.UUID]) -> None:
    """Record that ``session``'s transaction wrote events of these auctions: this process's feeds of them are
    woken when it commits (any writer of ``auction_events`` calls this; ``append`` does)."""
    session.info.setdefault(_WRITTEN, set()).update(auction_ids)


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    auctions = session.info.pop(_WRITTEN, None)
    if auctions:
        wake(auctions)


def wake(auction_ids: Iterable[uuid.UUID]) -> None:
    """Wake this process's feeds of these auctions: events of theirs have just committed."""
    auctions = set(auction_ids)
    try:
        loop_id = id(asyncio.get_running_loop())
    except RuntimeError:  # committed outside an event loop: no feed of this thread to wake
        return
    for key, feed in list(_feeds.items()):
        if key[0] == loop_id and key[2] in auctions:
            feed.wake.set()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


# --- events on the wire -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event, encoded once: ``wire`` is what every stream sends for it."""

    seq: int
    event: str
    wire: bytes

    @property
    def id(self) -> str:
        return str(self.seq)

    @property
    def final(self) -> bool:
        return self.event in FINAL_EVENTS


def encode(seq: int, name: str, data: Mapping[str, Any], now: datetime) -> Event:
    """The SSE form of an event: ``id``, ``event`` and one ``data`` line (compact JSON has no line breaks);
    ``data`` gains ``now``, the business clock as the event is read to be sent (SPEC §19.3), in UTC."""
    stamped = {**data, "now": now.astimezone(UTC).isoformat()}
    payload = json.dumps(stamped, ensure_ascii=False, separators=(",", ":"))
    return Event(seq, name, f"id: {seq}\r\nevent: {name}\r\ndata: {payload}\r\n\r\n".encode())


def _ping() -> bytes:
    return f": ping - {datetime.now(UTC)}\r\n\r\n".encode()


def _offset(seconds: float | None) -> timedelta:
    return timedelta(seconds=seconds or 0.0)


async def _read_rows(db: Database, auction_id: uuid.UUID, after: int, clock: BusinessClock) -> list[Event]:
    async with db.read_connection() as conn:
        rows = await conn.execute(_ROWS, {"p_id": auction_id, "p_after": after, "p_limit": REPLAY_BATCH})
        return [encode(row.seq, row.event, row.data, clock(_offset(row.offset))) for row in rows]


# --- one reader per process and auction -----------------------------------------------------------------------


class _Subscriber:
    __slots__ = ("gone", "pings", "sent", "waiter")

    def __init__(self, after: int, pings: int) -> None:
        self.sent = after  # the seq of the last event sent (or replayed after)
        self.pings = pings
        self.gone = False  # the client disconnected
        self.waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Feed:
    """The reader of one auction's events in this process, and its subscribers (see the module docstring).

    ``events`` holds every event with ``base < seq <= last`` once ``ready`` (after the first look, which
    starts it at the newest event then); ``ended``: nothing will follow ``last`` (or the server is stopping:
    ``stopping``)."""

    def __init__(
        self,
        key: tuple[int, int, uuid.UUID],
        db: Database,
        close_if_due: CloseIfDue,
        clock: BusinessClock = sandbox_clock,
    ) -> None:
        self.key, self.db, self.auction_id, self.close_if_due = key, db, key[2], close_if_due
        self.clock = clock
        self.events: list[Event] = []
        self.seqs: list[int] = []  # the events' seqs, to bisect without a key function
        self.base = self.last = 0
        self.ready = self.ended = self.stopping = False
        self.pings = 0
        self.ping_bytes = b""
        self.subscribers: set[_Subscriber] = set()
        self.wake = asyncio.Event()
        self.reads = 0  # statements run by the reader
        self.task: asyncio.Task[None] | None = None

    # -- subscribers --

    def join(self, after: int) -> _Subscriber:
        sub = _Subscriber(after, self.pings)
        self.subscribers.add(sub)
        if self.task is None:
            # A context of its own: the reader serves every stream, not the request that started it.
            self.task = asyncio.create_task(
                self._run(), name=f"auction-feed:{self.auction_id}", context=contextvars.Context()
            )
        return sub

    def leave(self, sub: _Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers:
            if _feeds.get(self.key) is self:
                del _feeds[self.key]
            self.wake.set()  # the reader sees nobody left and stops

    def _notify(self) -> None:
        for sub in self.subscribers:
            sub.wake()

    def after(self, sent: int) -> list[Event]:
        """The buffered events after ``sent`` (which must be ``>= base``)."""
        return self.events[bisect.bisect_right(self.seqs, sent) :]

    async def follow(self, sub: _Subscriber) -> AsyncIterator[list[Event] | bytes]:
        """What to send to ``sub``: lists of events (replayed, then live), or a ping. Ends after a final event,
        when the auction ended, when the client left or when the server stops."""
        loop = asyncio.get_running_loop()
        while not (sub.gone or self.stopping):
            if self.ready and sub.sent >= self.base:
                batch = self.after(sub.sent)
                if batch:
                    sub.sent = batch[-1].seq
                    yield batch
                    if batch[-1].final:
                        return
                    continue
                if self.ended:
                    return
                if sub.pings < self.pings:
                    sub.pings = self.pings
                    yield self.ping_bytes
                    continue
            else:
                # Behind the buffer (or before the feed's first look): from the database.
                try:
                    batch = await _read_rows(self.db, self.auction_id, sub.sent, self.clock)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    warn_unavailable(log, "live events", exc)
                    await asyncio.sleep(DATABASE_RETRY_SECONDS)
                    continue
                if batch:
                    sub.sent = batch[-1].seq
                    yield batch
                    if batch[-1].final:
                        return
                    continue
                if self.ready:
                    continue  # read before the feed's first look ended: read again, now behind its start
                if self.ended:
                    return
            sub.waiter = loop.create_future()
            try:
                await sub.waiter
            finally:
                sub.waiter = None

    # -- the reader --

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        hub = None if self.db.is_sqlite else hub_for(self.db)
        if hub is not None:
            hub.subscribe(self.auction_id, self.wake)
        next_ping = loop.time() + PING_SECONDS
        try:
            while self.subscribers and not self.ended:
                if _server_exiting():
                    self.stopping = True
                    return
                if loop.time() >= next_ping:
                    self.pings, self.ping_bytes = self.pings + 1, _ping()
                    next_ping = loop.time() + PING_SECONDS
                    self._notify()
                self.wake.clear()
                if hub is not None:
                    await hub.ensure_listening()
                try:
                    status, ends_at, more = await self._look()
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    warn_unavailable(log, "live events", exc)
                    await self._pause(DATABASE_RETRY_SECONDS)
                    continue
                if more or self.ended:
                    continue
                if status == AuctionStatus.open:
                    try:
                        await self.close_if_due(ends_at)
                    except Exception as exc:
                        if not is_unavailable(exc):
                            raise
                        warn_unavailable(log, "live events", exc)  # the next look tries again
                interval = SQLITE_POLL_SECONDS if hub is None else PG_RECHECK_SECONDS
                await self._pause(min(interval, max(0.0, next_ping - loop.time())))
        except asyncio.CancelledError:
            self.stopping = True
            raise
        except Exception:
            log.exception("live events of auction %s: the reader failed; its streams end", self.auction_id)
            self.stopping = True
        finally:
            if hub is not None:
                hub.unsubscribe(self.auction_id, self.wake)
            self.ended = True
            if _feeds.get(self.key) is self:
                del _feeds[self.key]
            self._notify()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wake.wait()

    async def _look(self) -> tuple[AuctionStatus | None, datetime | None, bool]:
        """One look at the auction: publish its new events. Returns its status, its end, and whether a full
        batch was read (more follow at once)."""
        rows: list[Event] = []
        async with self.db.read_connection() as conn:
            # The status with the newest seq, in one statement: a final event commits with the final status.
            state = (await conn.execute(_LOOK, {"p_id": self.auction_id})).first()
            self.reads += 1
            newest = (state.newest or 0) if state is not None else 0
            if not self.ready:
                self.base = self.last = newest  # the buffer starts here; subscribers replay what is older
            elif newest > self.last:
                result = await conn.execute(
                    _ROWS, {"p_id": self.auction_id, "p_after": self.last, "p_limit": REPLAY_BATCH}
                )
                self.reads += 1
                rows = [
                    encode(row.seq, row.event, row.data, self.clock(_offset(row.offset))) for row in result
                ]
        changed = not self.ready or bool(rows)
        self.ready = True
        for ev in rows:
            self.events.append(ev)
            self.seqs.append(ev.seq)
            self.last = ev.seq
            if ev.final:
                self.ended = True
                break
        if len(self.events) > 2 * BUFFER_EVENTS:
            drop = len(self.events) - BUFFER_EVENTS
            self.base = self.seqs[drop - 1]
            del self.events[:drop], self.seqs[:drop]
        more = len(rows) == REPLAY_BATCH and not self.ended
        if not more and (state is None or state.status in ENDED):
            self.ended = True
        if changed or self.ended:
            self._notify()  # nothing new: nobody is woken
        return (state.status if state is not None else None), (state.ends_at if state else None), more


def _server_exiting() -> bool:
    """Whether uvicorn was told to stop this process: it waits for open responses before it shuts down, so
    the streams must end by themselves. Its signal handler is a bound method of its ``Server``."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


_feeds: dict[tuple[int, int, uuid.UUID], Feed] = {}


def feed_for(
    db: Database, auction_id: uuid.UUID, close_if_due: CloseIfDue, clock: BusinessClock = sandbox_clock
) -> Feed:
    """This process's feed of the auction (one per event loop and database; ``close_if_due`` and ``clock``
    are used when a feed starts)."""
    key = (id(asyncio.get_running_loop()), id(db), auction_id)
    feed = _feeds.get(key)
    if feed is None or feed.ended:
        feed = _feeds[key] = Feed(key, db, close_if_due, clock)
    return feed


def open_feeds() -> int:
    """The feeds (readers) of this event loop."""
    loop_id = id(asyncio.get_running_loop())
    return sum(1 for key in _feeds if key[0] == loop_id)


@contextlib.asynccontextmanager
async def subscription(
    db: Database,
    auction_id: uuid.UUID,
    after: int,
    *,
    close_if_due: CloseIfDue,
    clock: BusinessClock = sandbox_clock,
) -> AsyncIterator[tuple[Feed, _Subscriber]]:
    feed = feed_for(db, auction_id, close_if_due, clock)
    sub = feed.join(after)
    SSE_CONNECTIONS.inc()
    try:
        yield feed, sub
    finally:
        SSE_CONNECTIONS.dec()
        feed.leave(sub)


async def stream(
    db: Database, auction_id: uuid.UUID, after: int, *, close_if_due: CloseIfDue
) -> AsyncIterator[Event]:
    """Events after ``after``, then live ones, until the ``closed``/``failed`` event (or a cancelled auction).

    ``close_if_due`` is given the ``ends_at`` of an open auction and closes it if that has passed (a lazy
    close, so a stream ends even where no sweeper runs); the feed runs it, once per process and auction."""
    async with subscription(db, auction_id, after, close_if_due=close_if_due) as (feed, sub):
        async for item in feed.follow(sub):
            if isinstance(item, list):
                for ev in item:
                    yield ev


class EventStream(Response):
    """``text/event-stream`` of an auction's events (see the module docstring): the request's task writes
    what the feed gives it; one small task per connection waits for the client's disconnect."""

    media_type = "text/event-stream"

    def __init__(
        self,
        db: Database,
        auction_id: uuid.UUID,
        after: int,
        *,
        close_if_due: CloseIfDue,
        clock: BusinessClock = sandbox_clock,
        status_code: int = 200,  # FastAPI's OpenAPI takes the default status from this signature
    ) -> None:
        self.db, self.auction_id, self.after, self.close_if_due = db, auction_id, after, close_if_due
        self.clock = clock
        self.status_code = status_code
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async with subscription(
            self.db, self.auction_id, self.after, close_if_due=self.close_if_due, clock=self.clock
        ) as (feed, sub):
            watcher = asyncio.create_task(_watch_disconnect(receive, sub))
            try:
                async for item in feed.follow(sub):
                    if isinstance(item, list):
                        chunk = item[0].wire if len(item) == 1 else b"".join(ev.wire for ev in item)
                    else:
                        chunk = item
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not sub.gone:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:  # an ASGI server that reports the disconnect when writing
                sub.gone = True
            finally:
                watcher.cancel()


async def _watch_disconnect(receive: Receive, sub: _Subscriber) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # noqa: S110 (a broken connection is a disconnect)
        pass
    sub.gone = True
    sub.wake()


# --- the PostgreSQL listener ----------------------------------------------------------------------------------


class Hub:
    """One LISTEN connection per process (and event loop); wakes the feeds of an auction."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._retry_at = 0.0  # after a failed start, feeds re-check on their own until then

    def subscribe(self, auction_id: uuid.UUID, wake: asyncio.Event | None = None) -> asyncio.Event:
        wake = wake or asyncio.Event()
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
        """Start (or restart) the listener; a failure only means the feeds fall back to re-checking, and
        the next attempt waits ``LISTENER_RETRY_SECONDS`` (not one per feed per second)."""
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
                    warn_unavailable(log, "auction event listener; feeds poll instead", exc)
                else:
                    log.warning("auction event listener could not start; feeds poll instead", exc_info=True)
                return
            self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


_hubs: dict[tuple[str, int], Hub] = {}


async def close_hubs() -> None:
    """Stop this event loop's feeds and close its listener connections (at shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _feeds if k[0] == loop_id]:
        task = _feeds.pop(key).task
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    for hub_key in [k for k in _hubs if k[1] == loop_id]:
        await _hubs.pop(hub_key).close()


def hub_for(db: Database) -> Hub:
    """The process's hub for this database (one per event loop: a connection belongs to its loop)."""
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    key = (dsn, id(asyncio.get_running_loop()))
    hub = _hubs.get(key)
    if hub is None:
        hub = _hubs[key] = Hub(dsn)
    return hub
