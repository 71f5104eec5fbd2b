"""``app.kit.admission``: on PostgreSQL, at most as many requests as the pool keeps connections do their work at
once, the others wait in the order they came; a turn ends when the response starts (a stream holds none), a
failed or cancelled request gives its turn on, and the health checks never wait. On SQLite nothing waits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.kit.admission import AdmissionMiddleware
from app.kit.db import Database


async def test_turns_are_handed_out_in_the_order_they_were_asked_for() -> None:
    turns, inside, order = asyncio.Semaphore(2), [], []  # what the middleware takes its turns from

    async def request(name: str) -> None:
        await turns.acquire()
        inside.append(name)
        assert len(inside) <= 2
        order.append(name)
        await asyncio.sleep(0.005)
        inside.remove(name)
        turns.release()

    names = [f"r{i}" for i in range(8)]
    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(request(name)))
        await asyncio.sleep(0)  # each asks before the next
    await asyncio.gather(*tasks)
    assert order == names
    assert not turns.locked()


async def test_a_waiter_cancelled_before_or_as_its_turn_comes_loses_no_turn() -> None:
    turns = asyncio.Semaphore(1)
    await turns.acquire()
    gone = asyncio.create_task(turns.acquire())
    handed = asyncio.create_task(turns.acquire())
    last = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    gone.cancel()  # cancelled while it waits
    await asyncio.sleep(0)
    turns.release()  # the turn goes to ``handed``, which is cancelled before it runs
    handed.cancel()
    await asyncio.sleep(0)
    await asyncio.wait_for(last, 5)  # ``handed`` passed the turn on
    assert gone.cancelled() and handed.cancelled()
    assert turns.locked()  # ``last`` holds the one turn, nobody waits
    turns.release()
    assert not turns.locked()


def _app(slots: int | None, inner: Any) -> AdmissionMiddleware:
    return AdmissionMiddleware(inner, state=SimpleNamespace(db=SimpleNamespace(request_slots=slots)))


def _scope(path: str = "/api/v1/auctions/x/bids") -> Scope:
    return {"type": "http", "path": path, "method": "POST", "headers": []}


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


async def _call(app: AdmissionMiddleware, path: str = "/api/v1/auctions/x/bids") -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(path), _receive, send)
    return sent


class Held:
    """An app whose requests stay inside until let go; a stream's starts its response first."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"]
        self.inside.append(name)
        self.release[name] = asyncio.Event()
        try:
            if name.endswith("/events"):
                await send({"type": "http.response.start", "status": 200, "headers": []})
            await self.release[name].wait()
            if name.endswith("/fails"):
                raise RuntimeError("the route failed")
            if not name.endswith("/events"):
                await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
        finally:
            self.inside.remove(name)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_beyond_the_slots_wait_and_a_finished_one_lets_the_next_in() -> None:
    inner = Held()
    app = _app(2, inner)
    calls = [asyncio.create_task(_call(app, f"/r{i}")) for i in range(4)]
    await _settle()
    assert inner.inside == ["/r0", "/r1"]
    inner.release["/r0"].set()
    await _settle()
    assert inner.inside == ["/r1", "/r2"]
    assert app.turns is not None and app.turns.locked()  # /r3 waits
    for name in ("/r1", "/r2"):
        inner.release[name].set()
    await _settle()
    inner.release["/r3"].set()
    results = await asyncio.gather(*calls)
    assert [r[0]["status"] for r in results] == [201] * 4
    assert not app.turns.locked()


async def test_a_stream_gives_its_turn_back_as_its_response_starts() -> None:
    inner = Held()
    app = _app(1, inner)
    stream = asyncio.create_task(_call(app, "/api/v1/auctions/x/events"))
    await _settle()
    bid = asyncio.create_task(_call(app, "/bid"))
    await _settle()
    assert inner.inside == ["/api/v1/auctions/x/events", "/bid"]  # the stream is still open
    inner.release["/bid"].set()
    assert (await bid)[0]["status"] == 201
    inner.release["/api/v1/auctions/x/events"].set()
    await stream
    assert app.turns is not None and not app.turns.locked()


async def test_a_failed_request_gives_its_turn_back() -> None:
    inner = Held()
    app = _app(1, inner)
    failing = asyncio.create_task(_call(app, "/fails"))
    waiting = asyncio.create_task(_call(app, "/next"))
    await _settle()
    assert inner.inside == ["/fails"]
    inner.release["/fails"].set()
    with pytest.raises(RuntimeError):
        await failing
    await _settle()
    inner.release["/next"].set()
    assert (await waiting)[0]["status"] == 201


async def test_health_checks_and_metrics_never_wait() -> None:
    inner = Held()
    app = _app(1, inner)
    busy = asyncio.create_task(_call(app, "/busy"))
    checks = [asyncio.create_task(_call(app, path)) for path in ("/healthz", "/readyz", "/metrics")]
    await _settle()
    assert inner.inside == ["/busy", "/healthz", "/readyz", "/metrics"]
    for name in ("/healthz", "/readyz", "/metrics", "/busy"):
        inner.release[name].set()
    await asyncio.gather(busy, *checks)


async def test_without_slots_nothing_waits() -> None:
    inner = Held()
    app = _app(None, inner)
    calls = [asyncio.create_task(_call(app, f"/r{i}")) for i in range(20)]
    await _settle()
    assert len(inner.inside) == 20
    for event in inner.release.values():
        event.set()
    await asyncio.gather(*calls)


async def test_the_slots_are_postgresqls_pool_and_none_on_sqlite(db: Database) -> None:
    if db.is_sqlite:
        assert db.request_slots is None
    else:
        assert db.request_slots == db.write_engine.sync_engine.pool.size() == 10  # type: ignore[attr-defined]


async def test_before_the_app_has_its_database_nothing_waits_and_then_the_turns_begin() -> None:
    state, inner = SimpleNamespace(), Held()
    app = AdmissionMiddleware(inner, state=state)  # an app serving its docs without a database
    early = [asyncio.create_task(_call(app, f"/early{i}")) for i in range(2)]
    await _settle()
    assert len(inner.inside) == 2
    state.db = SimpleNamespace(request_slots=1)  # the server has started
    late = [asyncio.create_task(_call(app, f"/late{i}")) for i in range(2)]
    await _settle()
    assert inner.inside == ["/early0", "/early1", "/late0"]
    for event in list(inner.release.values()):
        event.set()
    await _settle()
    inner.release["/late1"].set()
    await asyncio.gather(*early, *late)


async def test_a_request_takes_its_turn_only_once_its_body_has_arrived() -> None:
    """A client that sends its headers and then its body slowly (or never) holds no turn while it does, so a
    handful of such clients cannot keep every other request of the process waiting; the app still reads the
    body it sent, and a receive that fails (a body over the limit) fails in the app, as it would have."""
    gate = asyncio.Event()
    seen: list[bytes] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = _app(1, inner)

    async def slow_receive() -> Message:
        if not gate.is_set():
            await gate.wait()  # the rest of the body, much later
            return {"type": "http.request", "body": b"lo", "more_body": False}
        return {"type": "http.disconnect"}

    parts = iter([{"type": "http.request", "body": b"hel", "more_body": True}])

    async def stalled() -> Message:
        return next(parts, None) or await slow_receive()

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    slow = asyncio.create_task(app(_scope(), stalled, send))
    await asyncio.sleep(0.01)
    assert (await asyncio.wait_for(_call(app), 1))[0]["status"] == 201  # not behind the stalled upload
    gate.set()
    await asyncio.wait_for(slow, 1)
    assert seen == [b"", b"hello"]

    class TooLarge(Exception):
        pass

    async def over_the_limit() -> Message:
        raise TooLarge

    with pytest.raises(TooLarge):
        await asyncio.wait_for(app(_scope(), over_the_limit, send), 1)
    assert (await asyncio.wait_for(_call(app), 1))[0]["status"] == 201  # no turn was kept
