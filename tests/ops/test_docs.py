"""The interactive docs load every asset from the server itself (SPEC §19.1, §21: no CDN): vendored Swagger UI and
ReDoc under their versioned static names, started by a static script, with a local favicon, no Google Fonts, no
validator badge, and a CSP of their own that only they get."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings

PAGES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; worker-src 'self' blob:"
)
IMMUTABLE = "public, max-age=31536000, immutable"


class Parsed(HTMLParser):
    """What a page loads: every ``src``/``href``, its scripts (inline ones by their text), its ``data-*``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[str | None] = []  # src, or None for an inline script
        self.inline: list[str] = []
        self.data: dict[str, str] = {}
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.links += [v for k, v in values.items() if k in ("src", "href")]
        self.data.update({k: v for k, v in values.items() if k.startswith("data-")})
        if tag == "script":
            self.scripts.append(values.get("src"))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """No database needed: the docs are static pages and the OpenAPI document."""
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    ("page", "library"),
    [("/docs", "/static/vendor/swagger-ui-bundle-5."), ("/redoc", "/static/vendor/redoc-2.")],
)
async def test_docs_pages_load_only_assets_served_here(
    client: httpx.AsyncClient, page: str, library: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == DOCS_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    assert "fonts.googleapis" not in r.text and "fonts.gstatic" not in r.text
    parsed = Parsed(r.text)
    assert parsed.inline == [] and None not in parsed.scripts, "an inline script"
    assert "<style" not in r.text and " style=" not in r.text
    assert parsed.data["data-openapi-url"] == "/openapi.json"
    assert any(link.startswith(library) for link in parsed.links)
    assert any(link.startswith("/static/docs.") and link.endswith(".js") for link in parsed.links)
    assert any(link.startswith("/static/favicon.") for link in parsed.links)
    for link in parsed.links:
        assert link.startswith("/static/") and not link.startswith("//"), link
        asset = await client.get(link)
        assert asset.status_code == 200, link
        assert asset.headers["cache-control"] == IMMUTABLE, link
        assert len(asset.content) > 100, link
        assert b"fonts.googleapis" not in asset.content, link


async def test_swagger_ui_runs_without_the_validator_badge(client: httpx.AsyncClient) -> None:
    parsed = Parsed((await client.get("/docs")).text)
    options = json.loads(parsed.data["data-options"])
    assert "validatorUrl" in options and options["validatorUrl"] is None
    assert options["persistAuthorization"] is True
    assert parsed.data["data-oauth2-redirect-url"] == "/docs/oauth2-redirect"


async def test_redoc_runs_with_the_system_fonts(client: httpx.AsyncClient) -> None:
    options = json.loads(Parsed((await client.get("/redoc")).text).data["data-options"])
    typography = options["theme"]["typography"]
    assert typography["fontFamily"].startswith("system-ui") and typography["fontFamily"].endswith(
        "sans-serif"
    )
    assert typography["headings"]["fontFamily"] == typography["fontFamily"]


async def test_the_start_up_script_starts_both_from_data_attributes(client: httpx.AsyncClient) -> None:
    parsed = Parsed((await client.get("/docs")).text)
    start = next(link for link in parsed.links if link.startswith("/static/docs."))
    script = (await client.get(start)).text
    for used in (
        "data-options",
        "data-openapi-url",
        "data-oauth2-redirect-url",
        "SwaggerUIBundle",
        "Redoc.init",
    ):
        assert used in script, used
    assert "eval(" not in script and "innerHTML" not in script


async def test_swagger_oauth2_redirect_page_is_served_with_a_static_script(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == PAGES_CSP  # only /docs and /redoc get DOCS_CSP
    parsed = Parsed(r.text)
    assert parsed.inline == [] and len(parsed.scripts) == 1
    (src,) = parsed.scripts
    assert src is not None and src.startswith("/static/vendor/swagger-ui-oauth2-redirect-5.")
    script = await client.get(src)
    assert script.status_code == 200 and script.headers["cache-control"] == IMMUTABLE
    assert "swaggerUIRedirectOauth2" in script.text


async def test_the_pages_and_the_api_keep_their_own_csp(client: httpx.AsyncClient) -> None:
    """The relaxed policy is the docs' alone: a page of the web client keeps the strict one."""
    assert (await client.get("/login")).headers["content-security-policy"] == PAGES_CSP
    assert "content-security-policy" not in (await client.get("/openapi.json")).headers


async def test_docs_pages_are_not_part_of_the_api_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith(("/docs", "/redoc")) for p in paths)


async def test_every_database_route_documents_its_503(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    api = [(p, m, op) for p, ops in paths.items() if p.startswith("/api/") for m, op in ops.items()]
    assert len(api) > 50
    for path, method, operation in api:
        unavailable = operation["responses"].get("503")
        assert unavailable is not None, f"{method.upper()} {path}"
        assert "Retry-After" in unavailable["headers"]
        assert "application/problem+json" in unavailable["content"]


async def test_a_browser_at_the_root_lands_on_the_listings(client: httpx.AsyncClient) -> None:
    """SPEC §19.4: the web client's home is the search; the docs stay at /docs."""
    r = await client.get("/")
    assert r.status_code == 302 and r.headers["location"] == "/listings"
