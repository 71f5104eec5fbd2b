"""Deny by default: every route is authenticated unless it is on the explicit public list."""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.deps import PUBLIC_ROUTES, current_principal
from app.kit.openapi import dependency_calls
from app.main import create_app
from tests.conftest import make_settings


def _requires_principal(dependant: Dependant) -> bool:
    """Declared anywhere in the route's tree, or run by a dependency of it (``document_calls``)."""
    return any(call is current_principal for call in dependency_calls(dependant))


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


def test_the_openapi_declares_the_oauth2_password_flow_and_the_operator_key() -> None:
    """SPEC §21: /docs has a working Authorize form, which needs the password flow and its token URL."""
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    oauth2 = [s for s in schemes.values() if s["type"] == "oauth2"]
    assert len(oauth2) == 1
    assert oauth2[0]["flows"] == {"password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}}
    assert [s for s in schemes.values() if s["type"] == "apiKey"] == [
        {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Operator API key"}
    ]
    assert not [s for s in schemes.values() if s["type"] == "http"]
    # The token URL is the form those flows post to, with both grants.
    token = document["paths"]["/api/v1/auth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    if "$ref" in form:
        form = document["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["grant_type"]["enum"] == ["password", "refresh_token"]
    assert {"username", "password", "refresh_token"} <= set(form["properties"])
    assert "400" in token["responses"] and "unsupported_grant_type" in token["description"]
    # A protected route names both schemes.
    me = document["paths"]["/api/v1/me"]["get"]
    assert {name for requirement in me["security"] for name in requirement} == set(schemes)
