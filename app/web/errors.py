"""Error pages of the web client (SPEC §19.1): a Chinese HTML page for an unknown path (404), a role's
forbidden page (403), another organization's object (404), a refused form (the message by code), and 5xx
pages that show the request id. ``/api/v1`` keeps its problem+json (paths under it never reach these)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.kit.db import is_unavailable, warn_unavailable
from app.kit.errors import PROBLEM_CODE, DatabaseUnavailable, ExchangeError
from app.kit.logging import request_id_var
from app.web.security import live_session
from app.web.templating import render_template

log = logging.getLogger("app.web")

TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "页面不存在",
    405: "请求有误",
    409: "操作未完成",
    413: "内容过大",
    422: "输入有误",
    429: "操作过于频繁",
    500: "服务器出错了",
    503: "服务暂不可用",
}
MESSAGES = {
    "not_found": "您要找的页面不存在，或您无权查看。",
    "forbidden": "您的账户无权访问此页面。",
    "csrf_failed": "页面已过期，请刷新页面",
    "rate_limited": "操作过于频繁，请稍后再试。",
    "validation_error": "输入有误，请检查后重试。",
    "invalid_cursor": "翻页链接已失效，请重新搜索。",
    "database_unavailable": "服务暂不可用，请稍后重试。",
    "internal_error": "服务器出错了，我们已记录此问题。",
}


class SignInRequired(Exception):
    """A page that needs a signed-in user was asked for without one: to ``/login?next=<path>``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def error_page(
    status: int, *, code: str, detail: str | None = None, headers: Any = None, request: Request | None = None
) -> HTMLResponse:
    """The error page; given the page's ``request``, its layout shows who is signed in (name, sign-out), as
    every other page's does."""
    live = live_session(request) if request is not None else None
    context = {
        "status": status,
        "title": TITLES.get(status, HTTPStatus(status).phrase),
        "message": detail or MESSAGES.get(code, TITLES.get(status, "出错了")),
        "code": code,
        "request_id": request_id_var.get() if status >= 500 else None,
        "user": live,
        "csrf_token": live.csrf_token if live else None,
        "current_path": request.url.path if request is not None else "/",
        "flash": None,
    }
    return HTMLResponse(render_template("error.html", context), status_code=status, headers=headers)


def install_error_pages(app: FastAPI) -> None:
    from urllib.parse import quote

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    @app.exception_handler(ExchangeError)
    async def _exchange_error(request: Request, exc: ExchangeError) -> Response:
        request.scope[PROBLEM_CODE] = exc.code
        return error_page(exc.status, code=exc.code, headers=exc.headers, request=request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        request.scope[PROBLEM_CODE] = "validation_error"
        return error_page(422, code="validation_error", request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "error"
        )
        request.scope[PROBLEM_CODE] = code
        return error_page(exc.status_code, code=code, request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if is_unavailable(exc):
            warn_unavailable(log, "pages answered 503", exc)
            unavailable = DatabaseUnavailable()
            return error_page(503, code=unavailable.code, headers=unavailable.headers, request=request)
        # Not logged here: Starlette raises the error again after this page is sent, and the application the
        # pages are mounted in logs it with its traceback (app.kit.errors), once, as for the API.
        return error_page(500, code="internal_error", request=request)
