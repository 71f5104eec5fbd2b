"""The interactive docs load every asset from the server itself (SPEC §21: no CDN)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from tests.conftest import make_settings

LINKS = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """No database needed: the docs are static pages and the OpenAPI document."""
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_assets_served_here(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    links = [a or b for a, b in LINKS.findall(r.text)]
    assert "/openapi.json" in links and any(link.endswith(".js") for link in links)
    for link in links:
        assert link.startswith("/") and not link.startswith("//"), link
        asset = await client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > 1000, link


async def test_swagger_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()


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
