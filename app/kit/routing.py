"""Routers that rule themselves out of a request cheaply.

FastAPI matches a request by asking every included router in turn, and each router asks every one of its
routes (regular expression, method, scope bookkeeping), so a request for a route of the last router paid for
every route of the application: about half of ``/healthz``'s CPU. An ``ExchangeRouter`` first looks at the
request path's segments: when none of them is the first literal segment of one of its routes (``auctions``
for ``/auctions/{auction_id}/bids``), none of its routes can match, and it says so at once. Otherwise, and
for a router with a route that starts with a parameter, FastAPI's own matching decides as before: the check
only ever skips routers that could not have matched.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


def first_literal_segment(path: str) -> str | None:
    """``auctions`` for ``/auctions/{auction_id}``; None when the path starts with a parameter (or is ``/``)."""
    head = path.lstrip("/").split("/", 1)[0]
    return None if not head or "{" in head else head


class ExchangeRouter(APIRouter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
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
        return super().matches(scope)
