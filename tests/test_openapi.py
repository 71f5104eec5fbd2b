"""The OpenAPI document is one that generated clients can trust (SPEC §21 "Interactive docs offline"): component
names unique and readable, PDFs typed as binary, parameters that are never null, and every error code an
operation documents listed in its description."""

from __future__ import annotations

import re
import types
import typing
from enum import Enum
from functools import cache
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from app.main import create_app
from tests.conftest import make_settings

READABLE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@cache
def _app() -> Any:
    return create_app(make_settings("sqlite+aiosqlite:////nonexistent/openapi-only.db"))


def _document() -> dict[str, Any]:
    document: dict[str, Any] = _app().openapi()
    return document


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    operations = [
        (method.upper(), path, operation)
        for path, item in _document()["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 50
    return operations


def _models_of(annotation: Any, seen: set[type]) -> None:
    """Every pydantic model and enum an annotation reaches, fields of models included."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        seen.add(annotation)
        return
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _models_of(field.annotation, seen)
        return
    for arg in typing.get_args(annotation):
        _models_of(arg, seen)
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            _models_of(arg, seen)


def test_component_names_are_readable_and_carry_no_module_path() -> None:
    names = list(_document()["components"]["schemas"])
    assert len(names) > 50
    unreadable = [n for n in names if not READABLE.match(n) or "__" in n or n.startswith("app")]
    assert unreadable == []


def test_each_component_name_belongs_to_one_model() -> None:
    """Two models of one name would be merged or renamed with their module path by the generator: each name
    the API's models carry is one model's (enums of the same values are the same enum)."""
    seen: set[type] = set()
    for context in iter_route_contexts(_app().routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            _models_of(route.response_model, seen)
            if route.body_field is not None:
                _models_of(route.body_field.field_info.annotation, seen)
            for param in route.dependant.query_params + route.dependant.path_params:
                _models_of(param.field_info.annotation, seen)
    by_name: dict[str, set[Any]] = {}
    for model in seen:
        shape = tuple(m.value for m in model) if issubclass(model, Enum) else model
        by_name.setdefault(model.__name__, set()).add(shape)
    assert len(seen) > 50
    shared = {name: shapes for name, shapes in by_name.items() if len(shapes) > 1}
    assert shared == {}


def test_pdf_responses_are_binary() -> None:
    pdfs = [
        (method, path, response["content"]["application/pdf"])
        for method, path, operation in _operations()
        for response in operation["responses"].values()
        if "application/pdf" in response.get("content", {})
    ]
    assert {path for _, path, _ in pdfs} == {
        "/api/v1/contracts/{contract_id}/pdf",
        "/api/v1/certificates/{number}/pdf",
        "/api/v1/deals/{deal_id}/dossier/pdf",
    }
    for _, _, media in pdfs:
        assert media["schema"] == {"type": "string", "format": "binary"}


def test_parameters_and_form_fields_are_never_null() -> None:
    """A query string, header or form field cannot carry JSON null: an optional one is left out instead (a
    generator told it may be null sends the text ``null``)."""
    schemas = _document()["components"]["schemas"]
    nullable = []
    for method, path, operation in _operations():
        for parameter in operation.get("parameters", []):
            if {"type": "null"} in parameter["schema"].get("anyOf", []):
                nullable.append(f"{method} {path} {parameter['name']}")
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type == "application/json":
                continue
            ref = media["schema"]["$ref"].rsplit("/", 1)[-1]
            for name, field in schemas[ref]["properties"].items():
                if {"type": "null"} in field.get("anyOf", []):
                    nullable.append(f"{method} {path} {name}")
    assert nullable == []


def test_every_error_code_is_listed_in_the_operation_description() -> None:
    """Each error response names its codes (``x-error-codes``, from the route's declaration and the shared
    dependencies it uses), and the operation's description lists every one of them."""
    for method, path, operation in _operations():
        errors = {
            s: r
            for s, r in operation["responses"].items()
            if s.isdigit() and int(s) >= 400 and "application/problem+json" in r.get("content", {})
        }
        assert errors or not path.startswith("/api/"), f"{method} {path} documents no error"
        description = operation.get("description", "")
        for status, response in errors.items():
            codes = response.get("x-error-codes")
            assert codes, f"{method} {path} {status} names no code"
            for code in codes:
                assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
                assert f"`{code}`" in response["description"], (method, path, status, code)
                assert f"{status}: " in description and f"`{code}`" in description, (method, path, code)


def test_generic_codes_come_from_the_dependencies_a_route_uses() -> None:
    """Signing in, roles, pages, idempotency and validation document their codes on every route that uses
    them, without each route repeating them."""
    operations = {(m, p): op for m, p, op in _operations()}

    def codes(method: str, path: str, status: str) -> list[str]:
        return list(operations[(method, path)]["responses"][status]["x-error-codes"])

    assert {"unauthorized", "invalid_token"} <= set(
        codes("POST", "/api/v1/listings/{listing_id}/offers", "401")
    )
    assert "idempotency_in_progress" in codes("POST", "/api/v1/listings/{listing_id}/offers", "409")
    assert "idempotency_key_reused" in codes("POST", "/api/v1/listings/{listing_id}/offers", "422")
    assert "forbidden" in codes("POST", "/api/v1/listings/{listing_id}/approve", "403")
    assert "organization_not_verified" in codes("POST", "/api/v1/patents", "403")
    assert "invalid_cursor" in codes("GET", "/api/v1/deals", "422")
    assert codes("GET", "/api/v1/listings", "401") == ["invalid_token"]  # public: only a bad token is refused
    assert "payload_too_large" in codes("POST", "/api/v1/patents", "413")
    assert codes("GET", "/api/v1/deals/{deal_id}", "503") == ["database_unavailable"]


def test_readyz_documents_the_body_it_answers_503_with() -> None:
    """Not ready is the readiness document itself with ``Retry-After``, not a problem document."""
    unavailable = _document()["paths"]["/readyz"]["get"]["responses"]["503"]
    assert unavailable["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}
    }
    assert "Retry-After" in unavailable["headers"]
