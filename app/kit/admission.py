"""Admission: at most so many requests of a process do their work at once; the others wait their turn, first
come, first served.

Without it, every request that arrives starts at once and competes for the database pool's connections.
SQLAlchemy's pool hands a returned connection to whoever asks next, not to whoever has waited longest (a
waiter that was woken but overtaken waits again, at the back), so under more load than the process can keep
up with, some requests wait for seconds while others pass. Admitted requests never wait for a connection (there
are as many turns as the pool keeps connections), and the ones waiting for a turn wait in a queue that is
fair and costs a future each, not a checkout through SQLAlchemy's greenlet: asyncio's ``Semaphore`` hands a
released turn to the longest waiter and to no newcomer while anyone waits, and a waiter cancelled as its
turn is handed to it passes the turn on.

On SQLite there is no such queue: a request's statements run inline, without giving the event loop away, so
requests never wait for a connection (measured: the queue only added turns of the loop to each request).

A request takes its turn once its body has arrived (a client sending it slowly holds none meanwhile), and its
turn ends when its response starts: its statements are done by then, and a stream (an auction's live events)
holds no turn while it lasts. The health checks and the metrics never wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answered at once whatever the load: a load balancer's health check must not time out behind the queue.
NEVER_WAIT = frozenset({"/healthz", "/readyz", "/metrics"})


class AdmissionMiddleware:
    """Requests take a turn (an ``asyncio.Semaphore``) of as many as the app's database can serve at once without waiting for
    a connection (``Database.request_slots``, read at the first request: the database is made as the server
    starts); none where that is no limit (SQLite)."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state  # the app's: its ``db`` is there once the server has started
        self.turns: asyncio.Semaphore | None = None
        self._sized = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_WAIT:
            await self.app(scope, receive, send)
            return
        if not self._sized:
            db = getattr(self.state, "db", None)
            if db is None:  # an app serving pages without a database (its docs, in tests)
                await self.app(scope, receive, send)
                return
            slots = db.request_slots
            self.turns = None if slots is None else asyncio.Semaphore(slots)
            self._sized = True
        turns = self.turns
        if turns is None:
            await self.app(scope, receive, send)
            return
        receive = await _received(receive)
        await turns.acquire()
        holding = True

        async def send_and_give_back(message: Message) -> None:
            nonlocal holding
            if holding and message["type"] == "http.response.start":
                holding = False
                turns.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_give_back)
        finally:
            if holding:
                turns.release()


async def _received(receive: Receive) -> Receive:
    """``receive`` once the request's body has arrived: a client that sends its body slowly, or never, must
    not hold a turn while it does (a handful would keep every other request waiting). The messages read are
    given to the app first; a receive that fails (the body over its limit) fails there, as it would have."""
    messages: list[Message] = []
    failure: BaseException | None = None
    try:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
    except Exception as exc:
        failure = exc
    pending = iter(messages)

    async def replay() -> Message:
        message = next(pending, None)
        if message is not None:
            return message
        if failure is not None:
            raise failure
        return await receive()

    return replay
