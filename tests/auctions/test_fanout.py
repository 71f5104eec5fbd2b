"""Live feed at scale (issue #10): many subscribers of one auction in one process share ONE reader of the
``auction_events`` table, which reads each event once and fans it out.

- every subscriber receives every event exactly once, in order;
- a subscriber that connects mid-stream with ``Last-Event-ID`` gets exactly the missing events, then the live
  ones, without a gap or a duplicate around the hand-over, while bids arrive (the buffer and the replay batch
  are made tiny so that the hand-over happens often);
- a subscriber that does not read holds nobody back and, once it reads, still gets everything in order;
- the database reads per event do not grow with the number of subscribers;
- the reader stops when the last subscriber leaves, and a cancelled auction ends every stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.auctions import events
from app.kit.db import Database
from tests import trading as t
from tests.auctions import helpers as h
from tests.conftest import BACKENDS
from tests.live import LiveServer, live_server
from tests.test_multiprocess import Api, _client

WAIT = 30  # seconds, per wait for a stream: generous on a shared machine; no timing is asserted


@dataclass
class Subscriber:
    """One SSE connection through the streaming ASGI transport, read in the background."""

    name: str
    after: int
    ids: list[int] = field(default_factory=list)
    prices: dict[int, str | None] = field(default_factory=dict)
    ended: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def wait_for(self, last_id: int | None) -> None:
        """Until event ``last_id`` arrived (None: until the stream ends)."""
        async with asyncio.timeout(WAIT):
            while not (self.ended if last_id is None else (self.ids and self.ids[-1] >= last_id)):
                if self.ended:
                    raise AssertionError(f"{self.name} ended early after {self.ids}")
                self.changed.clear()
                await self.changed.wait()


async def _read(sub: Subscriber, response: httpx.Response) -> None:
    current: dict[str, str] = {}
    try:
        async for line in response.aiter_lines():
            if not line:
                if "id" in current:
                    sub.ids.append(int(current["id"]))
                    sub.prices[int(current["id"])] = json.loads(current["data"]).get("current_price")
                    sub.changed.set()
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value[1:] if value.startswith(" ") else value
    finally:
        sub.ended = True
        sub.changed.set()


class Streams:
    def __init__(self, app: Any, url: str) -> None:
        self.client = httpx.AsyncClient(transport=h.StreamingASGITransport(app), base_url="http://test")
        self.url = url
        self.open: list[tuple[Subscriber, Any]] = []

    async def subscribe(self, name: str, after: int) -> Subscriber:
        sub = Subscriber(name, after)
        context = self.client.stream("GET", self.url, headers={"Last-Event-ID": str(after)})
        response = await context.__aenter__()
        assert response.status_code == 200
        sub.task = asyncio.create_task(_read(sub, response))
        self.open.append((sub, context))
        return sub

    async def close(self, sub: Subscriber) -> None:
        for i, (s, context) in enumerate(self.open):
            if s is sub:
                del self.open[i]
                if s.task is not None:
                    s.task.cancel()
                await context.__aexit__(None, None, None)
                return

    async def close_all(self) -> None:
        while self.open:
            await self.close(self.open[-1][0])
        await self.client.aclose()


@asynccontextmanager
async def streams(app: Any, case: h.AuctionCase) -> AsyncIterator[Streams]:
    s = Streams(app, f"{case.url}/events")
    try:
        yield s
    finally:
        await s.close_all()


class Bidding:
    """English bids one increment apart, alternating between the two bidders."""

    def __init__(self, client: httpx.AsyncClient, case: h.AuctionCase, start: str = "100000.00") -> None:
        self.client, self.case = client, case
        self.amount = Decimal(start)
        self.turn = 0
        self.placed: list[str] = []

    async def bid(self) -> str:
        amount = f"{self.amount:.2f}"
        r = await h.bid(self.client, self.case, self.case.bidders[self.turn % 2], amount)
        assert r.status_code == 201, r.text
        self.turn += 1
        self.amount += 1000
        self.placed.append(amount)
        return amount


async def _close(client: httpx.AsyncClient, case: h.AuctionCase) -> int:
    """Close the auction (the clock past its end) and return the id of its ``closed`` event."""
    await t.advance_past(client, (await h.state(client, case))["ends_at"])
    r = await client.get(f"{case.url}/events", headers={"Last-Event-ID": "0"})
    ids = [int(e["id"]) for e in await h.read_events(r)]
    assert ids == list(range(1, len(ids) + 1))
    return ids[-1]


@contextmanager
def event_reads(db: Database) -> Iterator[list[str]]:
    """The SELECT statements on ``auction_events`` run by this process while the block runs."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith("SELECT") and "AUCTION_EVENTS" in text:
            seen.append(statement)

    engines = {id(e.sync_engine): e.sync_engine for e in (db.write_engine, db.read_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", listen)


def _feed_tasks() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if not task.done()}


async def test_fifty_subscribers_receive_every_event_once_in_order(
    client: httpx.AsyncClient, db, app
) -> None:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    await bidding.bid()
    async with streams(app, case) as s:
        subs = [await s.subscribe(f"subscriber {i}", after=0) for i in range(50)]
        for sub in subs:
            await sub.wait_for(1)
        for _ in range(10):
            await bidding.bid()
        last = await _close(client, case)
        for sub in subs:
            await sub.wait_for(None)
    expected = list(range(1, last + 1))
    prices = {i + 1: amount for i, amount in enumerate(bidding.placed)}
    for sub in subs:
        assert sub.ids == expected, (sub.name, sub.ids)
        assert {i: sub.prices[i] for i in prices} == prices, sub.name


async def test_subscribers_joining_mid_stream_get_exactly_the_missing_events(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, db, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections with every possible Last-Event-ID open while bids are being placed: each gets the events
    after its id exactly once, in order, then the live ones up to the close. The replay batch and the fan-out
    buffer are tiny, so replays hand over to the live feed (and fall behind it) again and again."""
    monkeypatch.setattr(events, "REPLAY_BATCH", 2)
    monkeypatch.setattr(events, "BUFFER_EVENTS", 3, raising=False)
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    rng = random.Random(10)
    async with streams(app, case) as s:
        subs: list[Subscriber] = []

        async def bids() -> None:
            for _ in range(24):
                await bidding.bid()
                await asyncio.sleep(rng.random() * 0.01)

        async def joins() -> None:
            for i in range(40):
                after = rng.randint(0, len(bidding.placed))
                subs.append(await s.subscribe(f"joined {i} after {after}", after=after))
                await asyncio.sleep(rng.random() * 0.01)

        await asyncio.gather(bids(), joins())
        last = await _close(client, case)
        for sub in subs:
            await sub.wait_for(None)
    assert last == 25
    for sub in subs:
        assert sub.ids == list(range(sub.after + 1, last + 1)), (sub.name, sub.ids)


async def test_a_subscriber_that_does_not_read_holds_nobody_back(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, db, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that stops reading (its client is slow) while the others go on: they get every event at once;
    once it reads again it gets every event it missed, from the database when the fan-out's buffer has moved
    past it, then the live ones, in order."""
    monkeypatch.setattr(events, "BUFFER_EVENTS", 3, raising=False)
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    await bidding.bid()

    async def never_due(_ends_at: Any) -> None:
        return None

    slow = events.stream(db, uuid.UUID(case.id), 0, close_if_due=never_due)
    try:
        first = await asyncio.wait_for(anext(slow), WAIT)
        assert (first.event, first.id) == ("bid", "1")
        async with streams(app, case) as s:
            others = [await s.subscribe(f"subscriber {i}", after=1) for i in range(5)]
            for _ in range(12):
                await bidding.bid()
            for sub in others:
                await sub.wait_for(13)
                assert sub.ids == list(range(2, 14))
            # The slow one reads again: everything it missed, then a live event.
            got = [int((await asyncio.wait_for(anext(slow), WAIT)).id) for _ in range(12)]
            assert got == list(range(2, 14))
            await bidding.bid()
            assert (await asyncio.wait_for(anext(slow), WAIT)).id == "14"
            for sub in others:
                await sub.wait_for(14)
    finally:
        await slow.aclose()


async def test_database_reads_do_not_grow_with_subscribers(client: httpx.AsyncClient, db, app) -> None:  # type: ignore[no-untyped-def]
    """The same bids read the events table as often with 40 subscribers as with one: one reader per process
    and auction reads each new event once and fans it out (before: every stream read it on every wake-up)."""
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    await bidding.bid()
    reads: dict[int, int] = {}
    async with streams(app, case) as s:
        for n in (1, 40):
            last = len(bidding.placed)
            subs = [await s.subscribe(f"{n}/{i}", after=last - 1) for i in range(n)]
            for sub in subs:
                await sub.wait_for(last)  # connected and caught up: the replays are done
            with event_reads(db) as seen:
                for _ in range(5):
                    await bidding.bid()
                    for sub in subs:
                        await sub.wait_for(len(bidding.placed))
            reads[n] = len(seen)
            for sub in subs:
                await s.close(sub)
    # One round of reads per event and process, plus periodic re-checks (timing-dependent, per process).
    assert reads[40] <= 2 * reads[1] + 6, reads


async def test_the_reader_stops_when_the_last_subscriber_leaves(client: httpx.AsyncClient, db, app) -> None:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    await bidding.bid()
    await asyncio.sleep(0.1)
    before = _feed_tasks()
    async with streams(app, case) as s:
        subs = [await s.subscribe(f"subscriber {i}", after=0) for i in range(10)]
        for sub in subs:
            await sub.wait_for(1)
        await bidding.bid()
        for sub in subs:
            await sub.wait_for(2)
    left: set[asyncio.Task[Any]] = set()
    for _ in range(100):
        left = _feed_tasks() - before - {asyncio.current_task()}  # type: ignore[operator]
        if not left:
            break
        await asyncio.sleep(0.05)
    assert not left, [task.get_name() for task in left]
    assert events.open_feeds() == 0


async def test_a_cancelled_auction_ends_every_stream(client: httpx.AsyncClient, db, app) -> None:  # type: ignore[no-untyped-def]
    """No event is written when a withdrawn listing cancels its auction: the streams see the status."""
    case = await h.open_auction(client, db, bidders=0, opened=False)  # withdrawable: no deposit held
    async with streams(app, case) as s:
        subs = [await s.subscribe(f"subscriber {i}", after=0) for i in range(5)]
        await asyncio.sleep(0.2)
        r = await client.post(f"/api/v1/listings/{case.listing['id']}/withdraw", headers=case.seller.headers)
        assert r.status_code == 200, r.text
        assert (await h.state(client, case))["status"] == "cancelled"
        for sub in subs:
            await sub.wait_for(None)
            assert sub.ids == []


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (a child of this one: a zombie once it exited) exits within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[LiveServer]:
    """Two workers started as production starts them (``python -m app serve``), on a fresh database."""
    with live_server(request.param, tmp_path, workers=2, serve_command=True) as server:
        yield server


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc to see the server exit")
async def test_a_server_told_to_stop_ends_its_streams_and_exits(served: LiveServer) -> None:
    """uvicorn waits for every open response before it shuts down: told to stop (SIGTERM to
    ``python -m app serve``), its workers end their live streams and the server exits, instead of waiting
    for subscribers that never leave (a deploy would hang)."""
    server = served
    async with _client(server) as client:
        api = Api(client, server)
        seller = await api.org()
        bidders = [await api.org() for _ in range(2)]
        for b in bidders:
            await api.fund(b, "5000.00")
        auction_id = (await api.english_auction(seller, bidders))["auction_id"]
        url = f"{server.base}/api/v1/auctions/{auction_id}/events"
        clients = [httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) for _ in range(4)]
        try:
            responses = [await c.send(c.build_request("GET", url), stream=True) for c in clients]
            lines = [r.aiter_lines() for r in responses]
            r = await client.post(
                f"/api/v1/auctions/{auction_id}/bids",
                json={"amount": "100000.00"},
                headers=bidders[0]["headers"],
            )
            assert r.status_code == 201, r.text

            got: list[list[str]] = [[] for _ in clients]
            first = [asyncio.Event() for _ in clients]

            async def until_end(i: int) -> None:
                async for line in lines[i]:
                    if line.startswith("id:"):
                        got[i].append(line)
                        first[i].set()

            readers = [asyncio.create_task(until_end(i)) for i in range(len(clients))]
            async with asyncio.timeout(WAIT):
                for received in first:
                    await received.wait()  # every stream is live
            os.kill(server.pid, signal.SIGTERM)
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*readers)  # every stream ended
            assert got[0][:1] == ["id: 1"] and all(g == got[0] for g in got), got
            assert await asyncio.to_thread(_exits_within, server.pid, WAIT), "the server did not exit"
        finally:
            for c in clients:
                await c.aclose()


async def test_a_commit_wakes_the_feeds_of_its_own_process(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, db, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that wrote an auction's events wakes this process's feed of it when it commits: with the
    poll (SQLite), the re-check (PostgreSQL) and the ping an hour apart and no notification listener, a bid and the close
    still reach the stream. A refused bid (rolled back) wakes nothing and leaves nothing to send."""
    monkeypatch.setattr(events, "SQLITE_POLL_SECONDS", 3600.0)
    monkeypatch.setattr(events, "PG_RECHECK_SECONDS", 3600.0)
    monkeypatch.setattr(events, "PING_SECONDS", 3600.0)  # a ping is also a look
    monkeypatch.setattr(events.Hub, "ensure_listening", _no_listener)
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 60})
    bidding = Bidding(client, case)
    await bidding.bid()
    async with streams(app, case) as s:
        sub = await s.subscribe("subscriber", after=0)
        await sub.wait_for(1)
        await bidding.bid()
        await sub.wait_for(2)
        refused = await h.bid(client, case, case.bidders[0], "1.00")
        assert refused.status_code == 409
        last = await _close(client, case)
        await sub.wait_for(None)
    assert sub.ids == list(range(1, last + 1))


async def _no_listener(_hub: events.Hub) -> None:
    return None
