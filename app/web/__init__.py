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
from starlette.types import Scope

from app.web.security import WebSecurityMiddleware, is_api


class PageMount(Mount):
    """Every path but the API's (whose unknown paths stay problem+json 404 of the main application)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and is_api(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


def install_middleware(app: FastAPI) -> None:
    app.add_middleware(WebSecurityMiddleware)


def mount(app: FastAPI) -> None:
    from app.web.errors import install_error_pages
    from app.web.pages import router

    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web.state = app.state
    web.include_router(router)
    install_error_pages(web)
    handler = web.exception_handlers[Exception]
    for database_error in (SQLAlchemyError, sqlite3.Error):
        web.add_exception_handler(database_error, handler)
    app.router.routes.append(PageMount("", app=web, name="web"))
