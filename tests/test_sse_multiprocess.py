"""Live auction events with two real server processes on one database (SPEC §10: "several server processes on
PostgreSQL all deliver every event"; DESIGN.md "Live events"). Also run on SQLite, where streams poll.

A uvicorn server with two workers shares one listening socket, so which process serves a connection is up to
the kernel. The test learns it from /proc: the worker whose file descriptors include the server side of the
client's TCP connection. It then:

- keeps event streams open on BOTH workers and places bids through connections pinned to EACH worker, so every
  stream receives events written by its own process and by the other one;
- after every bid, waits until every open stream has delivered every event written so far (so delivery is live,
  not only a catch-up at the close);
- moves one stream across processes mid-auction: disconnects it, lets more bids happen, reconnects it to the
  other worker with ``Last-Event-ID`` and expects exactly the missed events, then the live ones;
- closes the auction with the sandbox clock and expects every stream to end after the ``closed`` event with
  exactly the rows of ``auction_events``: ids 1..N contiguous, same names and data, in order, each once;
- replays the finished auction from several ``Last-Event-ID`` values on both workers.

Every wait has a timeout, so a stream that is never woken fails instead of hanging. On PostgreSQL a stream also
re-reads the table every ``PG_RECHECK_SECONDS``, so without notifications this still passes, only slower: no
timing is asserted on a shared machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.models.trading import AuctionEvent
from tests.conftest import BACKENDS
from tests.live import LiveServer, live_server
from tests.test_multiprocess import Api, _client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to see which worker serves a connection"
    ),
]

WAIT_SECONDS = 30  # per wait for a stream; generous: the machine is shared, and no timing is asserted
CONNECTIONS_PER_BURST = 4  # opened at once when reaching for a given worker
BIDS = 12

C = TypeVar("C")


# --- Which worker process serves a TCP connection ---------------------------------------------------------


def _tcp_rows() -> Iterator[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every TCP socket in this network namespace."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                yield (
                    int(cols[1].rsplit(":", 1)[1], 16),
                    int(cols[2].rsplit(":", 1)[1], 16),
                    cols[3],
                    int(cols[9]),
                )


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _server_pids(port: int) -> set[int]:
    """The processes holding the server's listening socket: the uvicorn supervisor and its workers."""
    listening = {inode for local, _, state, inode in _tcp_rows() if local == port and state == "0A"}
    assert listening, f"nothing listens on port {port}"
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _socket_inodes(int(p)) & listening}


def _serving_pid(port: int, client_port: int, candidates: set[int]) -> int:
    """The process that accepted the connection from ``client_port`` (its socket inode is 0 until accepted)."""
    deadline = time.monotonic() + 10
    while True:
        inodes = {i for local, remote, _, i in _tcp_rows() if local == port and remote == client_port and i}
        owners = {pid for pid in candidates if _socket_inodes(pid) & inodes}
        if len(owners) == 1:
            return owners.pop()
        assert time.monotonic() < deadline, f"no single server process owns the connection: {owners}"
        time.sleep(0.05)


@dataclass
class Server:
    live: LiveServer
    port: int
    pids: set[int]

    async def worker_of(self, response: httpx.Response) -> int:
        """The worker serving the (still open) connection that carried ``response``."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        return await asyncio.to_thread(_serving_pid, self.port, client_port, self.pids)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server(request.param, tmp_path_factory.mktemp("sse"), workers=2) as s:
        port = int(s.base.rsplit(":", 1)[1])
        yield Server(live=s, port=port, pids=_server_pids(port))


# --- Server-Sent Events client ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: Any


@dataclass
class Stream:
    """One SSE connection (its own client, so its own TCP connection), read in the background."""

    name: str
    client: httpx.AsyncClient
    response: httpx.Response
    pid: int
    events: list[Event] = field(default_factory=list)
    ended: bool = False
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if data:
                        assert "id" in fields and "event" in fields, (self.name, fields, data)
                        payload = json.loads("\n".join(data))
                        # SPEC §19.3: the business clock when the event is sent, which the stored event lacks
                        datetime.fromisoformat(payload.pop("now"))
                        self.events.append(Event(int(fields["id"]), fields["event"], payload))
                        self._changed.set()
                    fields, data = {}, []
                elif line.startswith(":"):
                    continue  # a comment: the stream's pings
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "data":
                        data.append(value)
                    elif key in ("id", "event"):
                        fields[key] = value
            assert not data, f"{self.name}: the stream ended inside an event"
        finally:
            self.ended = True
            self._changed.set()

    def _reached(self, last_id: int | None) -> bool:
        if self.ended or last_id is None:
            return self.ended
        return bool(self.events) and self.events[-1].id >= last_id

    async def wait(self, last_id: int | None = None) -> None:
        """Until the event ``last_id`` arrived (None: until the server ends the stream)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while not self._reached(last_id):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            want = "the end of the stream" if last_id is None else f"event {last_id}"
            pytest.fail(
                f"{self.name} (worker {self.pid}) waited {WAIT_SECONDS}s for {want}; "
                f"got ids {[e.id for e in self.events]}"
            )
        if self.task is not None and self.task.done():
            self.task.result()  # re-raise a parsing failure

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self.task
        await self.response.aclose()
        await self.client.aclose()


class Streams:
    def __init__(self, server: Server, auction_id: str) -> None:
        self.server, self.url = server, f"/api/v1/auctions/{auction_id}/events"
        self.opened: list[Stream] = []

    async def open(self, name: str, *, on: int, last_event_id: int | None = None) -> Stream:
        """A stream served by worker ``on``."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)

        async def connect() -> tuple[Stream, httpx.Response]:
            client = httpx.AsyncClient(base_url=self.server.live.base, timeout=httpx.Timeout(30, read=None))
            async with asyncio.timeout(WAIT_SECONDS):  # the headers come before any event
                response = await client.send(
                    client.build_request("GET", self.url, headers=headers), stream=True
                )
            assert response.status_code == 200, (response.status_code, await response.aread())
            assert response.headers["content-type"].startswith("text/event-stream")
            return Stream(name=name, client=client, response=response, pid=on), response

        s = await connected_to(self.server, on, connect, Stream.close)
        s.task = asyncio.create_task(s._read())
        self.opened.append(s)
        return s

    async def close_all(self) -> None:
        for s in self.opened:
            await s.close()


async def connected_to(
    server: Server,
    pid: int,
    connect: Callable[[], Awaitable[tuple[C, httpx.Response]]],
    close: Callable[[C], Awaitable[None]],
) -> C:
    """A connection made by ``connect`` that worker ``pid`` serves; those another worker took are closed.

    The kernel hands a connection to whichever worker accepts first, and a quiet worker can win every race for
    a while; a burst of connections at once reaches both (each accepts one per turn of its loop). So this opens
    them in bursts until the wanted worker has one, bounded by time rather than by a number of tries."""
    deadline = time.monotonic() + WAIT_SECONDS
    seen: set[int] = set()
    while True:
        opened = await asyncio.gather(*(connect() for _ in range(CONNECTIONS_PER_BURST)))
        chosen = None
        for conn, response in opened:
            served_by = await server.worker_of(response)
            seen.add(served_by)
            if chosen is None and served_by == pid:
                chosen = conn
            else:
                await close(conn)
        if chosen is not None:
            return chosen
        assert time.monotonic() < deadline, (
            f"no connection reached worker {pid} in {WAIT_SECONDS}s (only {seen})"
        )


async def pinned_client(server: Server, pid: int) -> httpx.AsyncClient:
    """A client whose single keep-alive connection is served by worker ``pid``."""

    async def connect() -> tuple[httpx.AsyncClient, httpx.Response]:
        client = httpx.AsyncClient(
            base_url=server.live.base, timeout=60, limits=httpx.Limits(max_connections=1)
        )
        r = await client.get("/readyz")
        assert r.status_code == 200
        return client, r

    return await connected_to(server, pid, connect, httpx.AsyncClient.aclose)


# --- The test ---------------------------------------------------------------------------------------------


@pytest.fixture
async def engine(server: Server) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(server.live.database_url)
    yield engine
    await engine.dispose()


async def _rows(engine: AsyncEngine, auction_id: str) -> list[Event]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(AuctionEvent.seq, AuctionEvent.event, AuctionEvent.data)
            .where(AuctionEvent.auction_id == uuid.UUID(auction_id))
            .order_by(AuctionEvent.seq)
        )
        return [Event(r.seq, r.event, r.data) for r in rows]


async def _count(engine: AsyncEngine, auction_id: str) -> int:
    async with engine.connect() as conn:
        n = await conn.scalar(select(func.count()).where(AuctionEvent.auction_id == uuid.UUID(auction_id)))
        return int(n or 0)


async def test_every_worker_streams_every_event(server: Server, engine: AsyncEngine) -> None:
    async with _client(server.live) as client:
        api = Api(client, server.live)
        seller = await api.org()
        bidders = [await api.org() for _ in range(2)]
        for b in bidders:
            await api.fund(b, "5000.00")
        listing = await api.english_auction(seller, bidders)
        auction_id = listing["auction_id"]
        url = f"/api/v1/auctions/{auction_id}"
        assert (await client.get(url)).json()["status"] == "open"

        streams = Streams(server, auction_id)
        writers: dict[int, httpx.AsyncClient] = {}
        try:
            # Three streams on each worker (half of them ask for a replay from 0 explicitly).
            pids = sorted(server.pids - {server.live.pid})
            assert len(pids) == 2, (server.pids, server.live.pid)
            live = [
                await streams.open(f"stream {n}", on=pids[n % 2], last_event_id=0 if n % 4 < 2 else None)
                for n in range(6)
            ]
            for pid in pids:
                writers[pid] = await pinned_client(server, pid)

            moved = next(s for s in live if s.pid == pids[0])
            before_move: list[Event] = []
            written_by: list[int] = []
            amount = Decimal("100000.00")
            for i in range(BIDS):
                writer = writers[pids[(i // 2) % 2]]  # both workers write, both bidders on both workers
                r = await writer.post(
                    f"{url}/bids", json={"amount": f"{amount:.2f}"}, headers=bidders[i % 2]["headers"]
                )
                assert r.status_code == 201, r.text
                written_by.append(await server.worker_of(r))
                amount += 100
                # Every open stream, on either worker, delivers what was just written before the next bid.
                count = await _count(engine, auction_id)
                for s in live:
                    await s.wait(count)
                    assert not s.ended, f"{s.name} ended early: {s.events}"
                if i == 3:
                    # Disconnect one stream; it misses the next bids and then resumes on the other worker.
                    live.remove(moved)
                    await moved.close()
                    before_move = list(moved.events)
                    assert before_move and before_move[-1].id == count
                if i == 6:
                    resumed = await streams.open("resumed", last_event_id=before_move[-1].id, on=pids[1])
                    live.append(resumed)
                    await resumed.wait(count)
            assert set(written_by) == set(pids), f"bids were written only by {set(written_by)}"

            state = (await client.get(url)).json()
            await api.advance_past(state["ends_at"])
            assert (await client.get(url)).json()["status"] == "closed"
            for s in live:
                await s.wait()

            rows = await _rows(engine, auction_id)
            names = [e.event for e in rows]
            assert [e.id for e in rows] == list(range(1, len(rows) + 1))
            assert names.count("bid") == BIDS and "extended" in names, names
            assert set(names) <= {"bid", "extended", "closed"} and names[-1] == "closed", names
            for s in live:
                got = before_move + s.events if s is resumed else s.events
                assert got == rows, f"{s.name} (worker {s.pid}) delivered {[(e.id, e.event) for e in got]}"
            assert resumed.pid != moved.pid and resumed.events[0].id == before_move[-1].id + 1

            # Replays of the finished auction, from several points, on both workers.
            for k, on in [
                (0, pids[0]),
                (0, pids[1]),
                (5, pids[1]),
                (len(rows) - 1, pids[0]),
                (len(rows), pids[1]),
            ]:
                replay = await streams.open(f"replay after {k}", last_event_id=k, on=on)
                await replay.wait()
                assert replay.events == rows[k:], (k, on, [(e.id, e.event) for e in replay.events])
        finally:
            await streams.close_all()
            for w in writers.values():
                await w.aclose()
