"""A real HTTP receiver on 127.0.0.1 for webhook tests: it records every request and answers with the statuses
it is told (then 200), and checks signatures the way SPEC §17.5 tells receivers to."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # real time (time.time()) when it arrived


@dataclass
class Receiver:
    port: int
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    delay: float = 0.0  # seconds to wait before answering
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """The requests once ``count`` have arrived (the event loop keeps running meanwhile)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(got := self.received()) >= count:
                return got
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.received())}")


def verify(secret: str, received: Received, *, tolerance: float = 300) -> bool:
    """What a receiver does: parse ``t`` and ``v1``, recompute the HMAC over ``t + "." + body``, compare in
    constant time, and refuse a timestamp more than ``tolerance`` seconds from its own clock."""
    parts = dict(item.split("=", 1) for item in received.headers["x-exchange-signature"].split(","))
    t = int(parts["t"])
    expected = hmac.new(secret.encode(), str(t).encode() + b"." + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - t) <= tolerance


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the default backlog of 5 refuses a burst of concurrent attempts
    daemon_threads = True


@contextmanager
def running_receiver(
    statuses: list[int] | None = None, *, tls: tuple[Path, Path] | None = None
) -> Iterator[Receiver]:
    """``tls``: (certificate, key) files: the receiver then speaks HTTPS."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(port=server.server_address[1], statuses=list(statuses or []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
