"""Errors as RFC 9457 problem details with a stable machine ``code`` (SPEC §2)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from app.kit.logging import mark_logged

log = logging.getLogger("app.errors")
PROBLEM_JSON = "application/problem+json"


class ExchangeError(Exception):
    """Base of every error a client may see. Services raise these; they know nothing of HTTP otherwise."""

    status: int = 400
    code: str = "bad_request"
    title: str | None = None
    headers: dict[str, str] | None = None  # sent with the problem response (e.g. Retry-After)

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if headers is not None:
            self.headers = headers
        self.detail = detail or HTTPStatus(self.status).phrase
        super().__init__(self.detail)


class NotFound(ExchangeError):
    status, code = 404, "not_found"


class Unauthorized(ExchangeError):
    status, code = 401, "unauthorized"


class Forbidden(ExchangeError):
    status, code = 403, "forbidden"


class Conflict(ExchangeError):
    status, code = 409, "conflict"


class InvalidState(Conflict):
    code = "invalid_state"


class Unprocessable(ExchangeError):
    status, code = 422, "validation_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        super().__init__(detail, code=code)
        self.errors = errors or []


class RateLimited(ExchangeError):
    status, code = 429, "rate_limited"


DATABASE_RETRY_AFTER_SECONDS = 2


class DatabaseUnavailable(ExchangeError):
    """The database cannot be reached or refused the connection (restarting, down, locked past the busy
    timeout). Raised where a connection is opened; SQLAlchemy's errors that mean the same are answered alike
    (``app.kit.db.is_unavailable``)."""

    status, code = 503, "database_unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "The database is unavailable for a moment; retry in a few seconds.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )


class Problem(BaseModel):
    """RFC 9457 problem details as the exchange returns them."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://exchange.example/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


ERROR_CODES = "x-error-codes"  # the OpenAPI extension of a response that lists its problem codes


def error_responses(
    *statuses: int, codes: Mapping[int, Sequence[str]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring the problem+json errors a route may return, with the ``code``s
    its own handler raises, by status (``codes={409: ["invalid_state"]}``; a status named there need not be
    repeated). The codes of the shared dependencies a route uses (signing in, roles, pages, idempotency,
    validation, the database) are added by ``app.kit.openapi``, which lists every code in the response's and
    the operation's description (SPEC §21)."""
    declared: dict[int, list[str]] = {s: [] for s in statuses}
    for status, names in (codes or {}).items():
        declared.setdefault(status, []).extend(names)
    return {
        s: {
            "model": Problem,
            "description": HTTPStatus(s).phrase,
            "content": {PROBLEM_JSON: {}},
            ERROR_CODES: list(dict.fromkeys(declared[s])),
        }
        for s in sorted(declared)
    }


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def status_code_name(status: int) -> str:
    """The ``code`` of a problem the server answers with a bare status (no ``ExchangeError`` of ours)."""
    return _STATUS_CODES.get(status, "internal_error" if status == 500 else "error")


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


# Where a handler leaves the problem's ``code`` in the request's scope: the request's log line carries it
# (``app.kit.middleware``), so a refused request is one line, like any other.
PROBLEM_CODE = "exchange.problem_code"


def install_error_handlers(app: FastAPI) -> None:
    from app.kit.db import is_unavailable, warn_unavailable

    @app.exception_handler(ExchangeError)
    async def _exchange_error(request: Request, exc: ExchangeError) -> JSONResponse:
        request.scope[PROBLEM_CODE] = exc.code
        errors = exc.errors if isinstance(exc, Unprocessable) else None
        return problem_response(exc.status, exc.code, exc.detail, errors, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": _clean_loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        # Domain validators name their own code (e.g. invalid_credit_code) through the error's ctx.
        code = "validation_error"
        for e in exc.errors():
            ctx = e.get("ctx") or {}
            err = ctx.get("error")
            if isinstance(err, CodedValueError):
                code = err.code
                break
        request.scope[PROBLEM_CODE] = code
        return problem_response(422, code, "The request is not valid.", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status, headers = exc.status_code, dict(getattr(exc, "headers", None) or {})
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        unreadable = detail == "There was an error parsing the body" or isinstance(
            exc.__context__, MultiPartException
        )
        if status == 400 and unreadable:
            # An unreadable body (not UTF-8, truncated multipart, a multipart type without its boundary...) is
            # invalid input like any other: 422.
            return problem_response(
                422,
                "validation_error",
                "The request body could not be read.",
                [{"loc": ["body"], "msg": "unreadable body"}],
            )
        if status == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        code = request.scope[PROBLEM_CODE] = _STATUS_CODES.get(status, "error")
        return problem_response(status, code, detail, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        mark_logged(exc)
        return problem_response(500, "internal_error", "An internal error occurred; it has been logged.")

    # A database that went away is a 503 on every route, handled here once. Registered for the database
    # errors' own classes, not left to the catch-all above (Starlette re-raises what reaches that one, and
    # the server logs it again with its traceback): an outage logs one warning line now and then instead
    # of a traceback per request. Any other database error is still a logged 500.
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_unavailable(exc):
            return await _unexpected(request, exc)
        warn_unavailable(log, "requests answered 503", exc)
        unavailable = DatabaseUnavailable()
        return problem_response(503, unavailable.code, unavailable.detail, headers=unavailable.headers)

    for database_error in (DatabaseUnavailable, SQLAlchemyError, sqlite3.Error):
        app.add_exception_handler(database_error, _database_error)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's)."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import compile_path

    methods: set[str] = set()
    for rc in iter_route_contexts(request.app.routes):
        if rc.path and rc.methods and compile_path(rc.path)[0].match(request.url.path):
            methods |= rc.methods
    return sorted(methods)


class CodedValueError(ValueError):
    """A ValueError raised in a Pydantic validator that carries the problem ``code`` for the 422."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
