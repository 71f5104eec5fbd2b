"""The interactive API documentation in Chromium (SPEC §19.1, §21): ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc)
render the operations from this server's own files, with no console error (a refusal by their Content-Security-
Policy is one: an inline script, an injected style or ReDoc's search worker) and no request to another host. They
are not pages of the web client: the weight limit of §19.6 does not apply to them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Site, Watch

LOADING = 30_000  # ms: a bundle of over 1 MB parses the whole API document, on a busy machine too


class DocsWatch(Watch):
    """Console errors and other hosts, as for every page, but not the weight (the bundles are over 1 MB)."""

    def check(self) -> None:
        self.pages.clear()
        super().check()


@pytest.fixture
def watch(site: Site) -> Watch:
    return DocsWatch(host=urlsplit(site.base).netloc)


def test_swagger_ui_and_redoc_render_the_operations(page: Any, site: Site, watch: Watch) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site.url("/docs"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Patent Exchange API", timeout=LOADING)
    expect(page.locator('.swagger-ui .opblock-summary-path[data-path="/api/v1/auth/token"]')).to_be_visible()
    last = page.locator('.swagger-ui .opblock-summary-path[data-path="/metrics"]')  # the last tag's
    for _ in range(20):  # Swagger UI renders the operations near the viewport only
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        if last.count():
            break
        page.wait_for_timeout(100)
    expect(last).to_be_visible()
    page.evaluate("() => window.scrollTo(0, 0)")
    page.locator(".swagger-ui .btn.authorize").first.click()  # the OAuth2 password flow's form
    expect(page.locator(".swagger-ui .auth-container input[type=password]").first).to_be_visible()

    page.goto(site.url("/redoc"))
    expect(page.locator(".api-info h1")).to_contain_text("Patent Exchange API", timeout=LOADING)
    expect(page.locator('[data-section-id="operation/login"]')).to_be_attached()
    expect(page.locator('[data-section-id="operation/metrics"]')).to_be_attached()  # the last one
    assert page.locator('[data-section-id^="operation/"]').count() > 50
    # Redoc's footer link stays, without its logo from Redocly's CDN (docs.js): no request to another host.
    expect(page.get_by_text("API docs by Redocly")).to_be_visible()
    page.locator('input[placeholder="Search..."]').fill("auction")  # the search runs in a blob: worker
    # The worker indexes the whole document first: on a loaded machine (CI) that takes longer than 5 s.
    expect(page.locator('[data-role="search:results"] li').first).to_be_visible(timeout=60_000)
