"""Post-processing of the generated OpenAPI document, so that it describes what the API really does and client
generators (openapi-python-client, openapi-typescript) can trust it (SPEC §21).

- Every 4xx/5xx response is a problem document under ``application/problem+json`` (FastAPI's generator
  files it under ``application/json`` and adds its own ``HTTPValidationError`` shape for 422).
- Every error response lists its ``code``s (``x-error-codes`` and its description), and the operation's
  description lists them all: the route's own, declared once with ``error_responses(..., codes=...)``, and
  those of the shared dependencies it uses (``document_dependency``) and of the server itself (validation, body
  size, malformed ids, the database: ``_generic_codes``).
- Every route that reads the database documents its 503 ``database_unavailable`` with ``Retry-After``.
- Routes that read the caller (one of ``SecurityDocs.dependencies`` in their dependencies) name the security
  schemes (``SecurityDocs.schemes``), as FastAPI would had the schemes been dependencies of their own; routes on the
  public list accept an anonymous call: their security requirement gets the empty alternative (``{}``), which
  is how OpenAPI says "authentication optional".
- Component names are readable: ``Page[ListingOut]`` is ``ListingOutPage``, FastAPI's form body of the
  ``login`` operation is ``LoginBody``.
- A query, header or form field cannot carry JSON ``null``: an optional one is simply left out, so its schema
  loses the ``null`` alternative (a generator told otherwise sends the text ``null``).
- PDFs are binary strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase

from app.kit.errors import ERROR_CODES, PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SCHEMAS = "#/components/schemas/"
DATABASE_PATHS = ("/api/", "/readyz")
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
BINARY = {"type": "string", "format": "binary"}
BINARY_MEDIA_TYPES = ("application/pdf", "application/octet-stream")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
WHAT = {
    503: "the database is restarting or unreachable; retry after the `Retry-After` header's seconds",
}

Routes = Mapping[tuple[str, str], APIRoute]


def digits_at_most(maximum: int) -> str:
    """The JSON Schema ``pattern`` of the decimal numerals (ASCII digits, leading zeros allowed) of 0 …
    ``maximum`` that have at most as many digits as ``maximum``: how a schema says what integer a header or
    query string may carry (``digits_at_most(2**63 - 1)`` for an event id)."""
    top = str(maximum)
    below = [  # the first digit that is smaller than maximum's, any digits after it
        top[:i]
        + ("0" if top[i] == "1" else f"[0-{int(top[i]) - 1}]")
        + (f"[0-9]{{{len(top) - 1 - i}}}" if i < len(top) - 1 else "")
        for i in range(len(top))
        if top[i] != "0"
    ]
    shorter = [f"[0-9]{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    return "^(?:" + "|".join([*shorter, *below, top]) + ")$"


# The codes each shared dependency raises, by status: documented on every route that uses it. The module
# that defines a dependency declares them (``document_dependency``), so the kit needs to know no other module.
_DEPENDENCY_CODES: dict[Callable[..., Any], dict[int, tuple[str, ...]]] = {}


def document_dependency(call: Callable[..., Any], codes: dict[int, tuple[str, ...]]) -> None:
    """Declare the problem codes the dependency ``call`` raises, by status."""
    _DEPENDENCY_CODES[call] = codes


def dependency_codes() -> Mapping[Callable[..., Any], dict[int, tuple[str, ...]]]:
    return _DEPENDENCY_CODES


# The shared dependencies each dependency runs itself rather than declares (``document_calls``).
_CALLS: dict[Callable[..., Any], tuple[Callable[..., Any], ...]] = {}


def document_calls(call: Callable[..., Any], *called: Callable[..., Any]) -> None:
    """Declare that the dependency ``call`` runs the dependencies ``called`` itself, with the request, instead
    of declaring them as its own (FastAPI solves every declared level of a route's dependency tree again on
    each request, and a level costs more than most dependencies do). The document, and the checks that walk
    a route's dependencies (``dependency_calls``), count them as declared."""
    _CALLS[call] = called


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _with_calls(call: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    yield call
    for called in _CALLS.get(call, ()):
        yield from _with_calls(called)


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency a route (``dependant``) runs: those its tree declares, and those they run themselves."""
    for sub in _dependencies(dependant):
        if sub.call is not None:
            yield from _with_calls(sub.call)


def _generic_codes(path: str, route: APIRoute) -> dict[int, list[str]]:
    """What the server answers for any route of this shape, whatever its handler does."""
    dependant = route.dependant
    parameters = [
        *dependant.path_params,
        *dependant.query_params,
        *dependant.header_params,
        *dependant.cookie_params,
        *(p for d in _dependencies(dependant) for p in (*d.query_params, *d.header_params)),
    ]
    codes: dict[int, list[str]] = {}
    if ":uuid}" in route.path:  # a malformed id matches no route
        codes.setdefault(404, []).append("not_found")
    if parameters or route.body_field is not None:
        codes.setdefault(422, []).append("validation_error")
    if route.body_field is not None:
        codes.setdefault(413, []).append("payload_too_large")
    if path.startswith(DATABASE_PATHS):
        codes.setdefault(503, []).append("database_unavailable")
    known = dependency_codes()
    for call in dependency_calls(dependant):
        for status, names in known.get(call, {}).items():
            codes.setdefault(status, []).extend(names)
    return codes


def _document_errors(operation: dict[str, Any], generic: dict[int, list[str]]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in generic:
        responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
    lines = []
    for key in sorted(responses):
        if not key.isdigit() or int(key) < 400:
            continue
        status, response = int(key), responses[key]
        if not _is_problem(response):
            continue  # a route's own body for this status (e.g. /readyz's 503 says what is not ready)
        codes = list(dict.fromkeys([*generic.get(status, []), *response.get(ERROR_CODES, [])]))
        if not codes:
            codes = [_default_code(status)]
        response[ERROR_CODES] = codes
        listed = ", ".join(f"`{c}`" for c in codes)
        what = f": {WHAT[status]}" if status in WHAT else ""
        response["description"] = f"{HTTPStatus(status).phrase}: {listed}{what}"
        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
        if status == 503:
            response["headers"] = RETRY_AFTER
        lines.append(f"- {status}: {listed}")
    if lines:
        description = operation.get("description", "").rstrip()
        errors = "**Errors** (the problem document's `code`):\n" + "\n".join(lines)
        operation["description"] = f"{description}\n\n{errors}" if description else errors


def _is_problem(response: dict[str, Any]) -> bool:
    """Whether the response is (or FastAPI documented it as) a problem document, not a body of the route's."""
    problems: tuple[dict[str, Any] | None, ...] = (
        None,
        {},
        PROBLEM_REF,
        {"$ref": f"{SCHEMAS}HTTPValidationError"},
    )
    return all(m.get("schema") in problems for m in response.get("content", {}).values())


def _default_code(status: int) -> str:
    from app.kit.errors import status_code_name

    return status_code_name(status)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` → ``X`` (with the outer title, description, default and extensions)."""
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    outer = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    inner = rest[0] if len(rest) == 1 else {"anyOf": rest}
    return {**inner, **outer}


def _names(document: dict[str, Any]) -> dict[str, str]:
    """Readable names for FastAPI's and pydantic's generated ones: ``Page_ListingOut_`` → ``ListingOutPage``,
    ``Body_import_patents`` → ``ImportPatentsBody``."""
    renames = {}
    for name in document.get("components", {}).get("schemas", {}):
        if page := re.fullmatch(r"Page_([A-Za-z0-9]+)_", name):
            renames[name] = f"{page[1]}Page"
        elif body := re.fullmatch(r"Body_([A-Za-z0-9_]+)", name):
            renames[name] = "".join(w.capitalize() for w in body[1].split("_")) + "Body"
    return renames


def _rename(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS) and ref[len(SCHEMAS) :] in renames:
            node["$ref"] = SCHEMAS + renames[ref[len(SCHEMAS) :]]
        for value in node.values():
            _rename(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rename(value, renames)
    return node


NO_NUL = r"^[^\u0000]*$"  # text the server takes has no NUL (PostgreSQL refuses it): app.kit.schemas


def _without_nul(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Every input string that says nothing narrower (a pattern, format, enum) refuses NUL characters, as the
    request models and ``RequestGuardMiddleware`` do."""
    if isinstance(schema, list):
        for item in schema:
            _without_nul(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMAS):
        name = ref[len(SCHEMAS) :]
        if name not in seen and name in components:
            seen.add(name)
            _without_nul(components[name], components, seen)
        return
    narrower = ("pattern", "format", "enum", "const", "contentMediaType")
    if schema.get("type") == "string" and not any(k in schema for k in narrower):
        schema["pattern"] = NO_NUL
    for key in ("properties", "additionalProperties", "items", "anyOf", "oneOf", "allOf"):
        value = schema.get(key)
        if key == "properties" and isinstance(value, dict):
            _without_nul(list(value.values()), components, seen)
        elif value is not None:
            _without_nul(value, components, seen)


def _problem_schema() -> dict[str, Any]:
    from app.kit.errors import Problem

    schema: dict[str, Any] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return schema


@dataclass(frozen=True)
class SecurityDocs:
    """The dependencies that authenticate the caller, and the security schemes they accept (read by them
    from the request, not declared as dependencies of their own)."""

    dependencies: tuple[Callable[..., Any], ...]
    schemes: tuple[SecurityBase, ...]

    def requirement(self) -> list[dict[str, list[str]]]:
        return [{scheme.scheme_name: []} for scheme in self.schemes]

    def components(self) -> dict[str, Any]:
        return {
            scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
            for scheme in self.schemes
        }


def _depends_on(dependant: Dependant, calls: tuple[Callable[..., Any], ...]) -> bool:
    return any(call in calls for call in dependency_calls(dependant))


def refine(
    document: dict[str, Any],
    public: frozenset[tuple[str, str]],
    routes: Routes | None = None,
    security: SecurityDocs | None = None,
) -> dict[str, Any]:
    if security is not None:
        document.setdefault("components", {})["securitySchemes"] = security.components()
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", _problem_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    renames = _names(document)
    for old, new in renames.items():
        schema = components.pop(old)
        schema["title"] = new
        components[new] = schema
    _rename(document, renames)
    forms: set[str] = set()
    inputs: list[Any] = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = (routes or {}).get((method.upper(), path))
            generic = _generic_codes(path, route) if route is not None else {}
            if route is None and path.startswith(DATABASE_PATHS):
                generic[503] = ["database_unavailable"]
            _document_errors(operation, generic)
            for response in operation["responses"].values():
                for media_type, media in response.get("content", {}).items():
                    if media_type in BINARY_MEDIA_TYPES:
                        media["schema"] = dict(BINARY)
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
                inputs.append(parameter["schema"])
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                inputs.append(media.get("schema"))
                ref = media.get("schema", {}).get("$ref", "")
                if media_type in FORM_MEDIA_TYPES and ref.startswith(SCHEMAS):
                    forms.add(ref[len(SCHEMAS) :])
            if (
                security is not None
                and route is not None
                and _depends_on(route.dependant, security.dependencies)
            ):
                operation["security"] = security.requirement()
            if (method.upper(), path) in public and operation.get("security"):
                operation["security"] = [{}, *operation["security"]]
    _without_nul(inputs, components, set())
    for schema in components.values():
        for field in schema.get("properties", {}).values():
            # ``X | NotNull = None``: the default null only means "left out".
            if field.get("default", "") is None and {"type": "null"} not in field.get("anyOf", []):
                del field["default"]
    for name in forms:
        form = components[name]
        for field, schema in form.get("properties", {}).items():
            schema = form["properties"][field] = _without_null(schema)
            # A form field sent empty counts as left out: a required one needs a character.
            if field in form.get("required", ()) and schema.get("type") == "string":
                schema.setdefault("minLength", 1)
            if schema.get("contentMediaType") == "application/octet-stream":
                schema["format"] = "binary"
    return document


def api_routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every API route by method and path as the document spells it (``/api/v1/listings/{listing_id}``)."""
    return {
        (method, context.path_format or ""): context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }


def install(app: FastAPI, public: frozenset[tuple[str, str]], security: SecurityDocs | None = None) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(generate(), public, api_routes(app), security)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
