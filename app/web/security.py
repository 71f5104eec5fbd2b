"""The browser's side of every request (SPEC §19.1, §19.2), one ASGI middleware in front of the API and the
pages:

- the session: a cookie is looked up once; a live one signs in a page request, and an API request only
  together with a valid ``X-CSRF-Token`` (a bearer token or an API key makes the API ignore the cookie);
- CSRF: an unsafe request is refused with 403 ``csrf_failed`` before anything runs (so nothing changes) when
  it carries a live session's cookie without the session's token (``POST /login`` exempt), when its
  ``Origin`` is neither this server's nor ``EXCHANGE_PUBLIC_URL``'s, or when ``Sec-Fetch-Site`` says
  ``cross-site``. The last two apply to page routes and to API requests that authenticate by the cookie;
  never to a token or API-key call (CORS clients). Pages send the token as a hidden ``csrf_token`` field or
  the header, the API only as the header;
- the pages' headers: the Content-Security-Policy, ``nosniff``, ``Referrer-Policy``, and ``no-store`` for a
  signed-in page.
"""

from __future__ import annotations

import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.deps import SESSION_USER
from app.kit.db import Database, is_unavailable, warn_unavailable
from app.kit.errors import PROBLEM_CODE, DatabaseUnavailable, problem_response
from app.web import sessions
from app.web.sessions import LiveSession

log = logging.getLogger("app.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# The interactive documentation (/docs, /redoc: app.web.docs), and it alone, lets styles be injected (Swagger UI
# and ReDoc insert <style> elements) and runs a worker from a blob: URL (ReDoc's search); SPEC §19.1.
DOCS_CSP = CSP.replace("style-src 'self';", "style-src 'self' 'unsafe-inline';") + "; worker-src 'self' blob:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The interactive documentation sets its own headers (app.web.docs); operations' routes are JSON.
_NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")
WEB_SESSION = "exchange.web_session"  # scope: the LiveSession of a page request
DEAD_COOKIE = "exchange.dead_cookie"  # scope: a session cookie came, but its session is dead
CSRF_FAILED = "csrf_failed"


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def is_page(path: str) -> bool:
    return not path.startswith(_NOT_PAGES) and path != "/api"


def live_session(request: Request) -> LiveSession | None:
    found: LiveSession | None = request.scope.get(WEB_SESSION)
    return found


def had_dead_cookie(request: Request) -> bool:
    return bool(request.scope.get(DEAD_COOKIE))


def read_cookie(headers: Headers, name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        # One malformed cookie of another site's making must not hide ours: read the pairs one by one.
        for part in raw.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value or None
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def origin_allowed(scope: Scope, headers: Headers, settings: Settings) -> bool:
    """``Origin`` absent, or the request's own origin (its scheme and Host), or ``EXCHANGE_PUBLIC_URL``'s."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().lower()
    host = headers.get("host")
    allowed = set()
    if host:
        allowed.add(f"{scope.get('scheme', 'http')}://{host.lower()}")
    if settings.public_url:
        public = _origin(settings.public_url)
        if public:
            allowed.add(public)
    return origin in allowed


async def _buffered_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, body: bytes, receive: Receive, headers: Headers) -> str | None:
    """The hidden ``csrf_token`` field of a page's form (URL-encoded or multipart)."""
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            values = parse_qs(body.decode("utf-8"), max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return None
        found = values.get(sessions.CSRF_FIELD)
        return found[0] if found else None
    if content_type.startswith("multipart/form-data"):
        try:
            async with Request(scope, _replay(body, receive)).form() as form:
                value = form.get(sessions.CSRF_FIELD)
        except Exception:  # an unreadable body has no token; the route reports what is wrong with it
            return None
        return value if isinstance(value, str) else None
    return None


class WebSecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        api = is_api(path)
        if api and (headers.get("authorization") or headers.get("x-api-key")):
            await self.app(scope, receive, send)  # a token or key call: the cookie is ignored
            return
        settings: Settings = scope["app"].state.settings
        page = is_page(path)
        cookie = read_cookie(headers, sessions.cookie_name(settings))
        live: LiveSession | None = None
        if cookie is not None:
            db: Database = scope["app"].state.db
            try:
                live = await sessions.lookup(db, cookie, settings)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                warn_unavailable(log, "session lookups answered 503", exc)
                unavailable = DatabaseUnavailable()
                response = problem_response(
                    503, unavailable.code, unavailable.detail, headers=unavailable.headers
                )
                await response(scope, receive, send)
                return
            if live is None:
                scope[DEAD_COOKIE] = True
        method: str = scope["method"]
        if method not in SAFE_METHODS:
            if page or live is not None:
                if not origin_allowed(scope, headers, settings):
                    await self._refuse(
                        scope, receive, send, page, "The request's Origin is not this site.", live
                    )
                    return
                if headers.get("sec-fetch-site", "").lower() == "cross-site":
                    await self._refuse(scope, receive, send, page, "A cross-site request.", live)
                    return
            if live is not None and not (page and method == "POST" and path == "/login"):
                token = headers.get(sessions.CSRF_HEADER)
                if token is None and page:
                    original = receive
                    try:
                        body = await _buffered_body(original)
                    except HTTPException as exc:  # the request guard cut a body over its limit (413)
                        await self._too_large(scope, receive, send, exc.status_code)
                        return
                    token = await _form_token(scope, body, original, headers)
                    receive = _replay(body, original)
                if not live.token_matches(token):
                    await self._refuse(
                        scope, receive, send, page, "The CSRF token is missing or wrong.", live
                    )
                    return
        if live is not None:
            if page:
                scope[SESSION_USER] = live.user_id
                scope[WEB_SESSION] = live
            elif live.token_matches(headers.get(sessions.CSRF_HEADER)):
                scope[SESSION_USER] = live.user_id  # the API: the cookie counts only with the token
        if not page and not api:
            await self.app(scope, receive, send)
            return
        signed_in = page and live is not None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.setdefault("X-Content-Type-Options", "nosniff")
                if page:
                    out["Content-Security-Policy"] = CSP
                    out.setdefault("Referrer-Policy", "same-origin")
                    if not path.startswith("/static/"):
                        out.add_vary_header("Cookie")  # a page shows who is signed in
                    if signed_in and "cache-control" not in out:
                        out["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, status: int) -> None:
        from app.web.errors import error_page

        scope[PROBLEM_CODE] = "payload_too_large"
        response = error_page(status, code="payload_too_large")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        await response(scope, receive, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, page: bool, detail: str, live: LiveSession | None = None
    ) -> None:
        scope[PROBLEM_CODE] = CSRF_FAILED
        response: Any
        if page:
            from app.web.errors import error_page

            if live is not None:
                scope[WEB_SESSION] = live  # the page shows who is signed in, as every page does
            response = error_page(403, code=CSRF_FAILED, request=Request(scope))
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            if live is not None:
                response.headers["Cache-Control"] = "no-store"
                response.headers["Vary"] = "Cookie"
        else:
            response = problem_response(403, CSRF_FAILED, detail)
        await response(scope, receive, send)
