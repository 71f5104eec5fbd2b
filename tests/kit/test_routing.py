"""ExchangeRouter: a router whose routes cannot match a path rules itself out without matching them; it never
changes which route answers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from app.kit.routing import ExchangeRouter, first_literal_segment
from app.main import create_app


def _app() -> tuple[FastAPI, ExchangeRouter, ExchangeRouter]:
    things, anything = ExchangeRouter(), ExchangeRouter()

    @things.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    @things.post("/things")
    async def make_thing() -> dict[str, str]:
        return {"made": "yes"}

    @anything.get("/{name}/about")
    async def about(name: str) -> dict[str, str]:
        return {"about": name}

    app = FastAPI()
    app.include_router(things, prefix="/api/v1")
    app.include_router(anything, prefix="/api/v1")
    return app, things, anything


def test_first_literal_segment() -> None:
    assert first_literal_segment("/auctions/{auction_id:uuid}/bids") == "auctions"
    assert first_literal_segment("/healthz") == "healthz"
    assert first_literal_segment("/{name}/about") is None
    assert first_literal_segment("/") is None


async def test_a_router_rules_itself_out_only_when_no_route_can_match() -> None:
    app, _, anything = _app()
    asked: list[str] = []
    original = APIRoute.matches

    def counting(self: APIRoute, scope: Scope) -> tuple[Match, Scope]:
        asked.append(self.path)
        return original(self, scope)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(APIRoute, "matches", counting)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/api/v1/other/about")).status_code == 200
            assert asked and not any(path.startswith("/things") for path in asked)  # never asked
            asked.clear()
            assert (await client.get("/api/v1/things/3")).status_code == 200
            assert "/things/{thing_id}" in asked
    # A router with a route starting with a parameter cannot rule itself out.
    assert anything._route_heads() is None


async def test_routing_answers_as_before() -> None:
    app, _, _ = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/api/v1/things/7")).json() == {"thing": 7}
        assert (await client.post("/api/v1/things")).json() == {"made": "yes"}
        assert (await client.get("/api/v1/things")).status_code == 405  # the path is known, not the method
        assert (await client.get("/api/v1/things/x")).status_code == 422
        assert (await client.get("/api/v1/nothing/about")).json() == {"about": "nothing"}
        assert (await client.get("/api/v1/nothing")).status_code == 404


def test_every_router_of_the_exchange_can_rule_itself_out() -> None:
    app = create_app()
    included = [getattr(route, "original_router", None) for route in app.router.routes]
    routers = [r for r in included if r is not None]
    assert routers, "the application includes no routers"
    assert all(isinstance(r, ExchangeRouter) for r in routers), [type(r).__name__ for r in routers]


def test_the_health_checks_are_matched_first() -> None:
    """A load balancer's ``/healthz`` every few seconds passes no API router (each would cost it a match)."""
    from app.ops.router import router as ops_router

    app = create_app()
    first = next(
        r for route in app.router.routes if (r := getattr(route, "original_router", None)) is not None
    )
    assert first is ops_router
