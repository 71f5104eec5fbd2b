"""The web client (SPEC §19): server-rendered Chinese pages from the same app, under ``/``.

``install_middleware`` puts the session and CSRF middleware (``app.web.security``) in front of the API and the
pages; ``mount`` serves the pages: a FastAPI application of their own, mounted after every other route for
every path outside ``/api``, so an unknown path gets a Chinese HTML page while the API keeps problem+json. The
pages share the main application's state (database, settings, clock, calendar, fees), so they call the same
services with the same dependencies as the API.
"""

from __future__ import annotations

import sqlite3

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match, Mount
from starlette.types import Message, Receive, Scope, Send

from app.web.security import WebSecurityMiddleware, is_page


class PageMount(Mount):
    """Every path of a page: not the API's nor the documentation's and operations' (whose unknown paths and
    wrong methods stay the main application's problem+json 404 and 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not is_page(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


class _Pages:
    """The pages' application, after which the request's scope names the main application again: what runs
    around it (the request log, the metrics) labels a page by its route's path and an unknown path as
    unmatched, as for the API, and only the main application's routes are ever mapped to templates."""

    def __init__(self, web: FastAPI, main: FastAPI) -> None:
        self.web, self.main = web, main

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["type"] == "http" and scope["method"] == "HEAD"
        if head:
            # HEAD answers like GET without the body (RFC 9110 §9.3.2), for every page.
            scope["method"] = "GET"
            send = _without_body(send)
        try:
            await self.web(scope, receive, send)
        finally:
            scope["app"] = self.main
            if "route" not in scope:
                scope.pop("endpoint", None)
            if head:
                scope["method"] = "HEAD"


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


def install_middleware(app: FastAPI) -> None:
    app.add_middleware(WebSecurityMiddleware)


def mount(app: FastAPI) -> None:
    from app.web.errors import install_error_pages
    from app.web.pages import router
    from app.web.seller import router as seller_router

    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web.state = app.state
    web.include_router(router)
    web.include_router(seller_router)
    from app.web import contracts, signup

    web.include_router(contracts.router)
    web.include_router(signup.router)
    from app.web import operator

    web.include_router(operator.router)
    install_error_pages(web)
    handler = web.exception_handlers[Exception]
    for database_error in (SQLAlchemyError, sqlite3.Error):
        web.add_exception_handler(database_error, handler)
    app.router.routes.append(PageMount("", app=_Pages(web, app), name="web"))
