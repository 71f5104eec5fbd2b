"""Post-processing of the generated OpenAPI document, so that it describes what the API really does.

- Every 4xx/5xx response is a problem document under ``application/problem+json`` (FastAPI's generator
  files it under ``application/json`` and adds its own ``HTTPValidationError`` shape for 422).
- Every route that reads the database documents its 503 ``database_unavailable`` with ``Retry-After``.
- Routes on the public list accept an anonymous call: their security requirement gets the empty
  alternative (``{}``), which is how OpenAPI says "authentication optional".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.kit.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DATABASE_PATHS = ("/api/", "/readyz")
UNAVAILABLE = {
    "description": "`database_unavailable`: the database is restarting or unreachable; retry after the "
    "`Retry-After` header's seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}


def _problem_schema() -> dict[str, Any]:
    from app.kit.errors import Problem

    schema: dict[str, Any] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return schema


def refine(document: dict[str, Any], public: frozenset[tuple[str, str]]) -> dict[str, Any]:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", _problem_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if path.startswith(DATABASE_PATHS):
                # Every route that reads the database answers 503 while it is away (app.kit.errors).
                responses.setdefault("503", UNAVAILABLE)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            if (method.upper(), path) in public and operation.get("security"):
                operation["security"] = [{}, *operation["security"]]
    return document


def install(app: FastAPI, public: frozenset[tuple[str, str]]) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(generate(), public)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
