"""A small TCP relay in front of a test server, to cut a browser's open connections (Playwright's offline
switch does not cut an open event stream): ``cut()`` closes every relayed connection and holds new ones
until ``resume()``, which then forwards them as they were sent (SPEC §19.7, reconnect)."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Held:
    """A connection the relay accepted: the heads of the requests sent on it (their first bytes) and whether
    it waited for a ``resume()``."""

    requests: list[bytes] = field(default_factory=list)
    held: bool = False


@dataclass
class Relay:
    target: tuple[str, int]
    connections: list[Held] = field(default_factory=list)

    def requests(self) -> list[bytes]:
        """Every request's head, by connection in the order they were accepted."""
        with self._lock:
            return [r for c in self.connections for r in c.requests]

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        record = Held(held=not self._open.is_set())
        with self._lock:
            self.connections.append(record)
        self._open.wait()
        if self._closed:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream, record), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: Held | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if record is not None and data.startswith((b"GET ", b"POST ", b"PUT ", b"HEAD ")):
                    record.requests.append(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every relayed connection; new ones wait for ``resume()``."""
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def resume(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._open.set()
        self._listener.close()
