"""``app.kit.eventloop``: the loop ``serve`` runs on accepts every waiting connection in one turn, serves them on
uvloop's transports with Nagle's algorithm off, stops accepting when closed, and rests instead of spinning
when accepting fails for want of a resource."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any, ClassVar

import pytest

from app.kit import eventloop
from app.kit.eventloop import Listener, Loop
from tests.live import accept_queue


class Echo(asyncio.Protocol):
    """Sends back what it receives; counts its connections and notes whether each sends without delay."""

    made: ClassVar[list[int]] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        Echo.made.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    Echo.made = []


@contextmanager
def serving(**options: Any) -> Iterator[tuple[asyncio.Runner, Listener, int]]:
    with asyncio.Runner(loop_factory=Loop) as runner:

        async def start() -> asyncio.AbstractServer:
            return await asyncio.get_running_loop().create_server(Echo, backlog=512, **options)

        server = runner.run(start())
        assert isinstance(server, Listener)  # not uvloop's own server
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            yield runner, server, port
        finally:
            server.close()


def wait_for_connections(runner: asyncio.Runner, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(Echo.made) < count:
        assert time.monotonic() < deadline, f"{len(Echo.made)} of {count} connections made"
        runner.run(asyncio.sleep(0.005))


def echoed(client: socket.socket) -> bytes:
    client.sendall(b"ping")
    client.settimeout(10)
    return client.recv(4)


def test_every_waiting_connection_is_accepted_in_one_turn_of_the_loop() -> None:
    with serving(host="127.0.0.1", port=0) as (runner, _, port):
        clients = [
            socket.create_connection(("127.0.0.1", port)) for _ in range(50)
        ]  # the loop is not running
        try:
            assert accept_queue(port) == 50
            runner.run(asyncio.sleep(0))  # uvloop's own server accepts one of them here
            assert accept_queue(port) == 0
            wait_for_connections(runner, 50)

            async def answers() -> list[bytes]:
                return await asyncio.gather(*(asyncio.to_thread(echoed, c) for c in clients))

            assert runner.run(answers()) == [b"ping"] * 50
            assert Echo.made == [1] * 50  # TCP_NODELAY: no answer waits for the client's delayed ACK
        finally:
            for client in clients:
                client.close()


def test_the_socket_bound_for_several_workers_is_listened_on_and_served() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # as uvicorn binds it, without listen()
    with serving(sock=sock) as (runner, server, port):
        assert server.sockets == (sock,) and server.is_serving()
        with closing(socket.create_connection(("127.0.0.1", port))) as client:
            wait_for_connections(runner, 1)
            assert runner.run(asyncio.to_thread(echoed, client)) == b"ping"


def test_a_closed_listener_refuses_connections() -> None:
    with serving(host="127.0.0.1", port=0) as (runner, server, port):
        server.close()
        runner.run(server.wait_closed())
        assert not server.is_serving() and server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)


class OutOfDescriptorsOnce(socket.socket):
    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if OutOfDescriptorsOnce.failures == 0:
            OutOfDescriptorsOnce.failures += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_a_failed_accept_rests_then_accepts_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(eventloop, "ACCEPT_RETRY_SECONDS", 0.05)
    sock = OutOfDescriptorsOnce()
    sock.bind(("127.0.0.1", 0))
    with caplog.at_level(logging.WARNING, "app.kit.eventloop"), serving(sock=sock) as (runner, server, port):
        client = socket.create_connection(("127.0.0.1", port))
        try:
            runner.run(asyncio.sleep(0.01))
            assert OutOfDescriptorsOnce.failures == 1 and not server.is_serving()  # resting, not spinning
            assert accept_queue(port) == 1
            wait_for_connections(runner, 1)
            assert server.is_serving()
            assert runner.run(asyncio.to_thread(echoed, client)) == b"ping"
        finally:
            client.close()
    assert "Too many open files" in caplog.text
