"""ExchangeRouter: a router whose routes cannot match a path rules itself out without matching them; it never
changes which route answers. Its routes end what their requests' dependencies opened before the response."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match, Mount
from starlette.types import Scope

from app.kit.routing import ExchangeRoute, ExchangeRouter, end_before_response, first_literal_segment
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


def _ending_app() -> tuple[FastAPI, list[tuple[str, str | None]]]:
    """Routes whose dependencies open two things that the route ends: ``first`` and ``second``."""
    ended: list[tuple[str, str | None]] = []
    router = ExchangeRouter()

    def opener(name: str, *, fails: bool = False) -> Any:
        async def open_it(request: Request) -> str:
            async def end(error: BaseException | None) -> None:
                ended.append((name, None if error is None else type(error).__name__))
                if fails and error is None:
                    raise RuntimeError(f"{name} could not be ended (a commit that fails)")

            end_before_response(request, end)
            return name

        return open_it

    # Defaults, not ``Annotated`` aliases: this module's annotations are strings, resolved in its globals.
    first, second, failing = opener("first"), opener("second"), opener("failing", fails=True)

    @router.get("/ok")
    async def ok(one: str = Depends(first), two: str = Depends(second)) -> dict[str, list[str]]:
        return {"opened": [one, two], "ended": [name for name, _ in ended]}

    @router.get("/refused", dependencies=[Depends(first), Depends(second)])
    async def refused() -> None:
        raise HTTPException(409, "refused")

    @router.get("/unfinished", dependencies=[Depends(first), Depends(failing)])
    async def unfinished() -> dict[str, str]:
        return {"sent": "never"}

    app = FastAPI()
    app.include_router(router)
    return app, ended


async def test_a_route_ends_what_its_request_opened_before_the_response_is_sent() -> None:
    """Last opened, first ended; with None after a response, with the exception that ends the request
    otherwise; an ending that fails (a commit) fails the request instead of its response being sent."""
    app, ended = _ending_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/ok")
        assert answer.status_code == 200
        assert answer.json() == {"opened": ["first", "second"], "ended": []}  # ended after the endpoint
        assert ended == [("second", None), ("first", None)]
        ended.clear()
        assert (await client.get("/refused")).status_code == 409
        assert ended == [("second", "HTTPException"), ("first", "HTTPException")]
        ended.clear()
        assert (await client.get("/unfinished")).status_code == 500  # never the endpoint's 200
        assert ended == [("failing", None), ("first", "RuntimeError")]


async def test_what_a_dependency_opens_is_refused_on_a_route_that_would_not_end_it() -> None:
    router = APIRouter()

    async def opens(request: Request) -> None:
        async def end(error: BaseException | None) -> None:
            pass

        end_before_response(request, end)

    @router.get("/plain", dependencies=[Depends(opens)])
    async def plain() -> None:
        pass

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with pytest.raises(RuntimeError, match="only an ExchangeRoute"):
            await client.get("/plain")


def _api_routes(routes: Any) -> list[APIRoute]:
    """Every API route under ``routes``, the mounted pages' application's included."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "web", route.app)  # the pages' application behind its scope keeper
            found += _api_routes(getattr(inner, "routes", ()))
    for rc in iter_route_contexts(routes):
        if isinstance(rc.original_route, APIRoute):
            found.append(rc.original_route)
    return found


def test_every_route_of_the_exchange_and_of_its_pages_ends_what_its_request_opened() -> None:
    """The request's session is committed by its route (``app.deps``): a route of another class would
    refuse it, so every route is an ``ExchangeRoute``, the pages' too."""
    routes = _api_routes(create_app().routes)
    pages = [r for r in routes if not r.path.startswith(("/api", "/healthz", "/readyz", "/metrics"))]
    assert len(routes) > 100 and len(pages) > 10, (len(routes), len(pages))
    assert [r.path for r in routes if not isinstance(r, ExchangeRoute)] == []


async def test_the_route_a_router_matched_is_not_matched_again_to_handle_the_request() -> None:
    """FastAPI asks an included router whether it matches (matching its routes), then, to handle the request,
    matches its routes again; an ExchangeRouter's handling takes the match it has just made."""
    app, _, _ = _app()
    asked: list[str] = []
    original = APIRoute.matches

    def counting(self: APIRoute, scope: Scope) -> tuple[Match, Scope]:
        asked.append(f"{scope['method']} {self.path}")
        return original(self, scope)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(APIRoute, "matches", counting)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/api/v1/things/3")).json() == {"thing": 3}
            assert asked == ["GET /things/{thing_id}"]
            asked.clear()
            assert (await client.post("/api/v1/things")).json() == {"made": "yes"}
            assert asked == ["POST /things/{thing_id}", "POST /things"]
            asked.clear()
            # Only the path, not the method, matches: the router answers 405, matching again if it must.
            assert (await client.delete("/api/v1/things/3")).status_code == 405
            assert (await client.get("/api/v1/things/3")).json() == {"thing": 3}  # nothing kept from before
