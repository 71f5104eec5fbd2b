"""Interactive API documentation served entirely by this server (SPEC §19.1, §21: no CDN).

``/docs`` is Swagger UI (with its OAuth2 redirect page, so the Authorize form works) and ``/redoc`` is ReDoc, both
from the files vendored in ``app/web/static/vendor/`` (``VENDOR.md``) under their versioned static names, started
by one static script (``docs.js``) that reads the OpenAPI URL and the options from the container's ``data-*``
attributes: the pages have no inline script. No Google Fonts (ReDoc gets the system font stack) and no validator
badge (``validatorUrl`` null: Swagger UI would send the document's URL to a public validator). Public CDNs often
fail from networks in mainland China, where most users of the exchange are.

They are not pages of the web client (SPEC §19.1): their Content-Security-Policy alone allows injected styles and
a ``blob:`` worker (``DOCS_CSP``); the redirect page keeps the pages' strict one. They are plain Starlette routes
of the main application, outside the API and its OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.web.security import CSP, DOCS_CSP
from app.web.templating import render_template

SWAGGER_JS = "vendor/swagger-ui-bundle-5.35.0.js"
SWAGGER_CSS = "vendor/swagger-ui-5.35.0.css"
SWAGGER_OAUTH2_REDIRECT = "vendor/swagger-ui-oauth2-redirect-5.35.0.js"
REDOC_JS = "vendor/redoc-2.5.4.standalone.js"
START = "docs.js"

SWAGGER_OPTIONS: dict[str, Any] = {
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
    "persistAuthorization": True,
    "validatorUrl": None,
}
_SYSTEM_FONTS = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
)
REDOC_OPTIONS: dict[str, Any] = {
    "theme": {
        "typography": {
            "fontFamily": _SYSTEM_FONTS,
            "headings": {"fontFamily": _SYSTEM_FONTS},
            "code": {"fontFamily": "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"},
        }
    }
}


def _html(context: dict[str, Any], csp: str) -> HTMLResponse:
    return HTMLResponse(
        render_template("api_docs.html", context),
        headers={
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve ``docs_url`` (Swagger UI, with a working OAuth2 redirect page) and ``redoc_url`` (ReDoc)."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = f"{docs_url}/oauth2-redirect"

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        context = {
            "root": root,
            "title": f"{app.title} - Swagger UI",
            "stylesheets": [SWAGGER_CSS],
            "container": "swagger-ui",
            "openapi_url": f"{root}{openapi_url}",
            "oauth2_redirect_url": f"{root}{redirect_url}",
            "options": SWAGGER_OPTIONS,
            "scripts": [SWAGGER_JS, START],
        }
        return _html(context, DOCS_CSP)

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        context = {
            "root": request.scope.get("root_path", ""),
            "title": "Swagger UI: OAuth2 Redirect",
            "stylesheets": [],
            "container": None,
            "scripts": [SWAGGER_OAUTH2_REDIRECT],
        }
        return _html(context, CSP)

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        context = {
            "root": root,
            "title": f"{app.title} - ReDoc",
            "stylesheets": [],
            "container": "redoc",
            "openapi_url": f"{root}{openapi_url}",
            "options": REDOC_OPTIONS,
            "scripts": [REDOC_JS, START],
        }
        return _html(context, DOCS_CSP)

    app.router.routes.extend(
        [
            Route(docs_url, swagger, methods=["GET"], include_in_schema=False),
            Route(redirect_url, oauth2_redirect, methods=["GET"], include_in_schema=False),
            Route(redoc_url, redoc, methods=["GET"], include_in_schema=False),
        ]
    )
