"""Calling webhook URLs without being turned against the exchange's own network (SPEC §17.5).

The host is resolved and every address it resolves to is checked (``rules.is_allowed``) before anything is
sent, and the connection then goes to an address that was checked, never to whatever a second lookup says
(DNS rebinding). How: the HTTP client's connection pool (httpcore, under httpx) opens its TCP connections
through ``PinnedBackend``, which connects only to the addresses the current attempt pinned for that host
name (a context variable set around the request) and refuses to connect anywhere else. The pool and TLS see
the URL's own host name, so the Host header, SNI and certificate verification are the name's, as for any
request. A kept-alive connection is reused only for the same scheme, host name and port, and it was opened
to an address checked at that time.

The resolver is injectable: ``app.state.webhook_resolver`` (tests answer with the addresses they need),
else ``system_resolver`` (``getaddrinfo``). Proxies from the environment are never used (``trust_env``
off): a proxy would connect to the name itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from app.webhooks.rules import IPAddress

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
MAX_CONNECTIONS = 100
KEEPALIVE_SECONDS = 5.0

# The addresses the running attempt checked, by host name (lower case).
_PINNED: ContextVar[dict[str, list[IPAddress]] | None] = ContextVar("webhook_pinned", default=None)


class ResolutionFailed(Exception):
    """The host name does not resolve."""


class UncheckedAddress(Exception):
    """A connection was asked for to a host whose addresses the attempt did not check (never expected)."""


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal: itself), in ``getaddrinfo``'s order."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolutionFailed(host) from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]))
        if address not in found:
            found.append(address)
    if not found:
        raise ResolutionFailed(host)
    return found


def resolver_of(app_state: Any) -> Resolver:
    resolver: Resolver | None = getattr(app_state, "webhook_resolver", None)
    return resolver or system_resolver


def _key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


class pinned:
    """Within this block, connections to ``host`` go to ``addresses`` (in order, the first that answers)."""

    def __init__(self, host: str, addresses: list[IPAddress]) -> None:
        self._map = {_key(host): list(addresses)}
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _PINNED.set(self._map)

    def __exit__(self, *_: object) -> None:
        _PINNED.reset(self._token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the addresses pinned for the host name (see the module docstring)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINNED.get() or {}).get(_key(host))
        if not addresses:
            raise UncheckedAddress(host)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UncheckedAddress(path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _cheap_sniffio_miss() -> None:
    """httpcore asks ``import sniffio`` on every request to learn the async library; without sniffio
    installed (anyio 4 does not need it) each miss searches ``sys.path`` again: a third of a delivery's CPU.
    A ``None`` in ``sys.modules`` makes the miss immediate (httpcore then assumes asyncio, as it does)."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


def make_client(ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The process's client for webhook calls: bounded timeouts, no redirects, no proxies, connections only
    through ``PinnedBackend``; certificates verified against the system's CAs (certifi), or ``ssl_context``."""
    _cheap_sniffio_miss()
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx does not take a network backend; its transport is a thin adapter over this pool, built as httpx
    # builds it but with our backend (httpx and httpcore are pinned in the lock files).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_SECONDS,
        network_backend=PinnedBackend(),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False, max_redirects=0
    )
