"""ASGI middleware: request ids, one log line per request, metrics, and a body-size limit."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import PROBLEM_CODE, problem_response
from app.kit.logging import request_id_var
from app.kit.metrics import LATENCY, REQUESTS

log = logging.getLogger("app.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# id of a FastAPI route → (the route, its full path template), for every app this process builds. The route is
# kept with its id so that the id is never reused by another object; routes are module-level objects anyway, each
# included at one prefix.
_API_TEMPLATES: dict[int, tuple[APIRoute, str]] = {}


def _route_template(scope: Scope) -> str:
    """The matched route's full path template (``/api/v1/listings/{listing_id}``), for bounded metric labels;
    ``unmatched`` for a path no route matched.

    FastAPI puts the route as its router declared it in ``scope["route"]`` (without the include prefix), so
    map it to its effective path: once per process, because that map costs FastAPI's effective route
    contexts of every route of the app (~0.6 s), a price a process building an app per test would pay per test
    (a server pays it as it starts: ``index_route_templates``).
    Starlette's own routes (the docs pages) and mounts (the web pages' mount, whose own routes name themselves)
    only leave their ``endpoint`` in the scope: a route's path, a mount's ``<prefix>/{path}``, read from the
    app's top level (cheap, and per app: those objects are made with the app).
    """
    matched = scope.get("route") or scope.get("endpoint")
    if matched is None:
        return "unmatched"
    if (known := _API_TEMPLATES.get(id(matched))) is not None:
        return known[1]
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if routes is None:
        return getattr(scope.get("route"), "path", "unmatched")
    if isinstance(matched, APIRoute):
        _index_api_routes(routes)
        _API_TEMPLATES.setdefault(id(matched), (matched, matched.path))  # not among the app's: asked once
        return _API_TEMPLATES[id(matched)][1]
    local: dict[int, str] | None = getattr(app.state, "route_templates", None)  # type: ignore[union-attr]
    if local is None:
        local = {}
        for route in routes:
            if isinstance(route, Mount):
                local[id(route.app)] = f"{route.path}/{{path}}"
            elif isinstance(route, Route):
                local[id(route.endpoint)] = route.path
        app.state.route_templates = local  # type: ignore[union-attr]
    return local.get(id(matched), getattr(scope.get("route"), "path", "unmatched"))


def _index_api_routes(routes: Any) -> None:
    for rc in iter_route_contexts(routes):
        if isinstance(rc.original_route, APIRoute):
            _API_TEMPLATES[id(rc.original_route)] = (rc.original_route, rc.path_format or "")


def index_route_templates(app: Any) -> None:
    """Map the app's API routes to their templates now, if this process has not yet: a server calls it at
    start-up. Left to its first request, the ~0.6 s it takes would hold up every request arriving meanwhile
    (the p99 of the first seconds after each start)."""
    if not _API_TEMPLATES:
        _index_api_routes(app.routes)


# The method label: HTTP's own methods by name, any other (a client's invention) as ``other``, so that the
# number of series stays bounded whatever clients send.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# (method label, route template, status) → the request counter's and latency histogram's series: the
# metrics' own ``labels()`` takes a lock and builds a key on every call. Bounded as the labels are.
_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series(method: str, template: str, status: int) -> tuple[Counter, Histogram]:
    key = (method if method in _METHODS else "other", template, status)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = (
            REQUESTS.labels(key[0], template, str(status)),
            LATENCY.labels(key[0], template),
        )
    return series


class RequestContextMiddleware:
    """Assigns ``X-Request-ID`` (kept from the client when well-formed), logs and measures each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            requests, latency = _series(scope["method"], _route_template(scope), status)
            requests.inc()
            latency.observe(elapsed)
            fields = {"method": scope["method"], "path": scope["path"], "status": status}
            if (code := scope.get(PROBLEM_CODE)) is not None:
                fields["code"] = code
            fields["ms"] = round(elapsed * 1000, 2)
            log.info("request", extra=fields)
            request_id_var.reset(token)


class RequestGuardMiddleware:
    """Refuses bodies over the limit with 413 before the app reads them (multipart uploads get their own,
    larger limit), and URLs with NUL characters with 422 (PostgreSQL refuses them in text)."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            response = problem_response(
                422,
                "validation_error",
                "NUL characters are not allowed in a URL.",
                [{"loc": ["query"], "msg": "NUL character"}],
            )
            await response(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.max_upload if is_upload else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPException from body parsing; the error handler renders it.
                    raise HTTPException(413, f"The request body exceeds {limit} bytes.")
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(413, "payload_too_large", f"The request body exceeds {limit} bytes.")
        await response(scope, receive, send)
