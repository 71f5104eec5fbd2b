"""Deny by default: every route is authenticated unless it is on the explicit public list."""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.deps import PUBLIC_ROUTES, current_principal
from app.main import create_app
from tests.conftest import make_settings


def _requires_principal(dependant: Dependant) -> bool:
    return any(d.call is current_principal or _requires_principal(d) for d in dependant.dependencies)


def _routes() -> list[tuple[str, str, APIRoute]]:
    """Every API route with its effective path (FastAPI keeps included routers as branches)."""
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    routes = [
        (m, rc.path_format, rc.original_route)
        for rc in iter_route_contexts(app.routes)
        if isinstance(rc.original_route, APIRoute)
        for m in rc.methods or ()
    ]
    assert len(routes) > 10, "route discovery found nothing: the walk would prove nothing"
    return routes


def test_every_route_is_protected_or_explicitly_public() -> None:
    unprotected = [
        f"{method} {path}"
        for method, path, route in _routes()
        if (method, path) not in PUBLIC_ROUTES and not _requires_principal(route.dependant)
    ]
    assert unprotected == []


def test_public_list_names_only_real_routes_that_do_not_require_a_principal() -> None:
    routes = {(m, p): r for m, p, r in _routes()}
    protected_but_listed = [
        f"{m} {p}"
        for (m, p), r in routes.items()
        if (m, p) in PUBLIC_ROUTES and _requires_principal(r.dependant)
    ]
    assert protected_but_listed == []


def test_operation_ids_are_unique_and_readable() -> None:
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    ids = [op["operationId"] for path in app.openapi()["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and "__" not in i for i in ids)
