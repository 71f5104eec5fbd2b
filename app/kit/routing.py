"""Routers that rule themselves out of a request cheaply, and routes that end what a request opened before
its response.

FastAPI matches a request by asking every included router in turn, and each router asks every one of its
routes (regular expression, method, scope bookkeeping), so a request for a route of the last router paid for
every route of the application: about half of ``/healthz``'s CPU. An ``ExchangeRouter`` first looks at the
request path's segments: when none of them is the first literal segment of one of its routes (``auctions``
for ``/auctions/{auction_id}/bids``), none of its routes can match, and it says so at once. Otherwise, and
for a router with a route that starts with a parameter, FastAPI's own matching decides as before: the check
only ever skips routers that could not have matched.

FastAPI then matches the routes of the router that matched a second time, to handle the request: the router
that matched takes the match it has just made instead (``_match_once``). The second match was 6% of the Python
calls of ``/healthz`` and 8% of those of a refused bid.

Their routes are ``ExchangeRoute``s: what a dependency opens for the request (its database session) is ended
by the route when the endpoint is done and before the response is sent (``end_before_response``), as a
FastAPI dependency with ``yield`` and ``scope="function"`` would end it, without that machinery's cost (two
context managers, an exit stack and a shielded cancel scope per dependency and request: about a tenth of a
refused bid's CPU).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute, _get_scope_included_router, _IncludedRouter
from starlette.routing import Match
from starlette.types import Scope

# What ends with the request's endpoint: called with None when the endpoint gave a response (an exception it
# raises then ends the request instead, as a failed commit must), or with the exception that ends it.
Ending = Callable[[BaseException | None], Awaitable[None]]
_ENDINGS = "exchange.endings"  # the request scope's list of them, in the order they were registered


def end_before_response(request: Request, ending: Ending) -> None:
    """Have ``ending`` called when the route's endpoint is done, before its response is sent; the last one
    registered ends first. Only an ``ExchangeRoute`` ends what its request opened: anywhere else this
    refuses, rather than leave a transaction open that nothing would commit."""
    endings: list[Ending] | None = request.scope.get(_ENDINGS)
    if endings is None:
        raise RuntimeError(f"{request.url.path}: only an ExchangeRoute ends what a dependency opens for it")
    endings.append(ending)


async def _end(endings: list[Ending], error: BaseException | None) -> None:
    """Call each ending, the last registered first, with ``error``; an ending that raises passes its
    exception on to the rest and it is raised at the end."""
    failure: BaseException | None = None
    while endings:
        try:
            await endings.pop()(error)
        except BaseException as exc:
            failure = error = exc
    if failure is not None:
        raise failure


class ExchangeRoute(APIRoute):
    """An API route that ends what its request's dependencies opened before the response is sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            endings: list[Ending] = []
            request.scope[_ENDINGS] = endings
            try:
                response = await handle(request)
            except BaseException as error:
                await _end(endings, error)
                raise
            if endings:
                await _end(endings, None)
            return response

        return handler


def first_literal_segment(path: str) -> str | None:
    """``auctions`` for ``/auctions/{auction_id}``; None when the path starts with a parameter (or is ``/``)."""
    head = path.lstrip("/").split("/", 1)[0]
    return None if not head or "{" in head else head


_MATCHED = "exchange.matched"  # the scope's last match of an included router: (router, path, method, result)


def _match_once(included: _IncludedRouter) -> None:
    """Have ``included`` (the inclusion of an ExchangeRouter in an app) keep, in the request's scope, the
    match it makes when the app asks whether it matches, and take it when it handles the request, for the
    same path and method, instead of matching its routes again. Installed on the inclusion, once: FastAPI
    builds it (``include_router``), and its ``_match`` is where both of its paths, ``matches`` and
    ``_handle_selected``, match."""
    match = included._match  # FastAPI's, bound

    def match_once(scope: Scope) -> Any:
        kept = scope.pop(_MATCHED, None)
        path, method = scope["path"], scope.get("method")
        if kept is not None and kept[0] is included and kept[1] == path and kept[2] == method:
            return kept[3]
        result = match(scope)
        scope[_MATCHED] = (included, path, method, result)
        return result

    included._match = match_once  # type: ignore[method-assign]


class ExchangeRouter(APIRouter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", ExchangeRoute)
        super().__init__(*args, **kwargs)
        self._heads: frozenset[str] | None = None
        self._heads_of = -1

    def _route_heads(self) -> frozenset[str] | None:
        """The first literal segments of this router's routes; None if any route could match any path."""
        if self._heads_of != len(self.routes):
            heads = [first_literal_segment(getattr(route, "path", "/")) for route in self.routes]
            self._heads = None if None in heads else frozenset(h for h in heads if h is not None)
            self._heads_of = len(self.routes)
        return self._heads

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        heads = self._route_heads()
        if heads is not None and scope.get("type") == "http" and heads.isdisjoint(scope["path"].split("/")):
            return Match.NONE, {}
        included = _get_scope_included_router(scope)
        if isinstance(included, _IncludedRouter) and "_match" not in vars(included):
            _match_once(included)
        return super().matches(scope)
