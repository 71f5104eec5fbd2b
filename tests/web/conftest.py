"""Browser tests (SPEC §19.7): Playwright's sync API driving Debian's Chromium (``scripts/chromium.sh``
installs it; ``playwright install`` is never run) against ``python -m app serve`` on a free port, in the
sandbox, on a fresh SQLite file: one server for the whole run, a fresh browser context (cold cache) per test,
in a time zone and locale other than Shanghai's so a page that shows browser-local time or formatting fails.

Every page a test opens is watched (``Watch``): no console error, no request to another host, and less than
200,000 bytes transferred for the page and everything it loads."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.live import LiveServer, live_server

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEZONE = "America/New_York"
MAX_PAGE_BYTES = 200_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)


# Module-scoped: while Playwright's sync API runs, it holds this thread's event loop, and the async tests of
# other modules could not run theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/test.sh installs it with scripts/chromium.sh")
        pytest.skip("chromium is not installed (scripts/chromium.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@dataclass
class Site:
    """The running server and the world made on it through the API (``tests/web/world.py``)."""

    server: LiveServer
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from tests.web.world import build

    directory = tmp_path_factory.mktemp("web-server")
    with live_server("sqlite", directory, serve_command=True, log=directory / "server.log") as server:
        made = Site(server)
        # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
        with ThreadPoolExecutor(1) as pool:
            made.data = pool.submit(asyncio.run, build(server)).result()
        yield made


@dataclass
class Watch:
    """What the pages of one browser context did: console errors, requests to other hosts, and bytes per
    page (a main-frame navigation starts a page; what it loads counts to it)."""

    host: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    pages: list[list[Any]] = field(default_factory=list)  # [url, bytes]
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """A console message expected by the test (e.g. the 404 status of the 404 page)."""
        self.allowed.append(fragment)

    def on_console(self, message: Any) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed):
            self.errors.append(message.text)

    def on_request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != self.host:
            self.foreign.append(request.url)
        if request.is_navigation_request() and request.frame.parent_frame is None:
            self.pages.append([request.url, 0])

    def on_finished(self, request: Any) -> None:
        if not self.pages:
            return
        sizes = request.sizes()
        self.pages[-1][1] += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    def check(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        heavy = [(url, size) for url, size in self.pages if size >= MAX_PAGE_BYTES]
        assert heavy == [], f"pages of {MAX_PAGE_BYTES} bytes or more: {heavy}"


@pytest.fixture
def watch(site: Site) -> Watch:
    return Watch(host=urlsplit(site.base).netloc)


@pytest.fixture
def context(browser: Any, watch: Watch) -> Iterator[Any]:
    ctx = browser.new_context(timezone_id=TIMEZONE, locale="en-US", viewport={"width": 360, "height": 800})
    ctx.set_default_timeout(10_000)
    ctx.on("console", watch.on_console)
    ctx.on("weberror", lambda error: watch.errors.append(str(error.error)))
    ctx.on("request", watch.on_request)
    ctx.on("requestfinished", watch.on_finished)
    yield ctx
    ctx.close()
    watch.check()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()
