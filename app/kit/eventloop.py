"""The event loop ``serve`` runs on (``app.kit.eventloop:Loop``, uvicorn's ``loop``): uvloop, accepting every
waiting connection at once.

libuv, and so uvloop, accepts one connection per turn of its loop (libuv 1.45: "don't accept() connections
in a loop"). A turn of a busy server lasts as long as the work of every request then ready, some 80 ms for
64 bids, so connections that arrive under load are accepted one per 80 ms: of wrk's 64 connections, the
last 34 waited up to 3 s for their first answer, the whole of the spread scenario's 1 s p99 (the bids
themselves took 1.5 ms in the server; measured by matching wrk's send times to the server's receive times).
asyncio's own loop accepts up to the backlog at each turn, but costs a fifth more per request than uvloop.

So this loop is uvloop with one change, in ``create_server`` (which uvicorn calls, with a host and port or
with the socket it bound for several workers): the listening socket is watched with ``add_reader``, and each
time it is readable every waiting connection is accepted, as asyncio does, then handed to uvloop's
transports (``connect_accepted_socket``). Requests run on uvloop's transports exactly as before.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

log = logging.getLogger(__name__)

# After accept() fails for want of a resource (no file descriptors left, no memory), the listener rests this
# long instead of spinning on a socket that stays readable (asyncio waits the same second).
ACCEPT_RETRY_SECONDS = 1.0


class Listener(asyncio.AbstractServer):
    """One listening socket whose waiting connections are all accepted each time it is readable; what
    uvicorn uses of a server (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._serving = False
        self._retry: asyncio.TimerHandle | None = None
        self._connecting: set[asyncio.Task[Any]] = set()
        sock.setblocking(False)
        self._start()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock.fileno() < 0 else (self._sock,)

    def _start(self) -> None:
        self._retry = None
        self._serving = True
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(self._backlog):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as exc:
                log.warning(
                    "accepting connections failed (%s); retrying in %.0f s", exc, ACCEPT_RETRY_SECONDS
                )
                self._loop.remove_reader(self._sock.fileno())
                self._serving = False
                self._retry = self._loop.call_later(ACCEPT_RETRY_SECONDS, self._start)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, conn)
        except OSError:  # gone before its transport was made
            conn.close()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False
        self._sock.close()

    async def wait_closed(self) -> None:
        return None

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None  # serving since it was made

    async def serve_forever(self) -> None:
        raise NotImplementedError("serve's listeners are driven by uvicorn")


class Loop(uvloop.Loop):
    """uvloop whose TCP servers accept every waiting connection at each turn (``Listener``)."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **options: Any,
    ) -> asyncio.AbstractServer:
        if ssl is None and not options:
            if sock is not None:  # the socket uvicorn bound to share between several workers
                sock.listen(backlog)
                return Listener(self, sock, protocol_factory, backlog)
            if host is not None and port is not None:  # bound as uvicorn binds that shared socket
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.create_server((host, port), family=family, backlog=backlog)
                return Listener(self, sock, protocol_factory, backlog)
        # What serve never asks for (TLS, several hosts, other options): uvloop's own server.
        create: Any = super().create_server
        server: asyncio.AbstractServer = await create(
            protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **options
        )
        return server
