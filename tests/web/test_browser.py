"""The web client in Chromium (SPEC §19.7): sign-in and sign-out, open redirects, a CSRF refusal from a page,
search with a two-character Chinese word, the listing detail, certificate lookup, the 404 page; on every page
no console error, no request to another host and less than 200,000 bytes (``tests/web/conftest.py``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from app.kit.workdays import SHANGHAI
from tests import factories as f
from tests.live import OPERATOR_EMAIL
from tests.web.conftest import Site, Watch


def sign_in(page: Any, site: Site, email: str, password: str = f.PASSWORD, next_path: str = "") -> None:
    page.goto(site.url("/login" + (f"?next={next_path}" if next_path else "")))
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    # Until the page it lands on has loaded, its deferred scripts may not have run: a click could miss them.
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id("login-submit").click()


def test_sign_in_and_sign_out(page: Any, site: Site, watch: Watch) -> None:
    page.goto(site.url("/listings"))
    expect(page.get_by_test_id("nav-login")).to_be_visible()
    page.get_by_test_id("nav-login").click()
    page.get_by_test_id("login-email").fill(site.data["buyer"].email)
    page.get_by_test_id("login-password").fill(f.PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(site.url("/listings"))  # back where the sign-in started
    expect(page.get_by_test_id("nav-user")).to_have_text(
        "管理员" + site.data["buyer"].email[5:].split("@")[0]
    )
    assert page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the session
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(site.url("/login"))
    page.goto(site.url("/dashboard"))
    expect(page).to_have_url(site.url("/login?next=/dashboard"))
    expect(page.get_by_test_id("nav-login")).to_be_visible()


def test_wrong_password_and_the_operator_home(page: Any, site: Site, watch: Watch) -> None:
    watch.allow("status of 401")
    sign_in(page, site, site.data["buyer"].email, "not-the-password")
    expect(page.get_by_test_id("login-error")).to_have_text("邮箱或密码错误")
    sign_in(page, site, OPERATOR_EMAIL)
    expect(page).to_have_url(site.url("/operator"))


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example/", "/%09/evil.example/", "https://evil.example/"]
)
def test_open_redirects_stay_on_the_site(page: Any, site: Site, watch: Watch, target: str) -> None:
    sign_in(page, site, site.data["buyer"].email, next_path=target)
    expect(page).to_have_url(site.url("/dashboard"))


def test_a_tab_in_next_is_refused_too(page: Any, site: Site, watch: Watch) -> None:
    """The form's hidden next with a real tab (a browser drops it from a URL: ``/<TAB>/x`` is ``//x``)."""
    page.goto(site.url("/login"))
    page.eval_on_selector('input[name="next"]', "(el) => { el.value = '/\\t/evil.example/' }")
    page.get_by_test_id("login-email").fill(site.data["buyer"].email)
    page.get_by_test_id("login-password").fill(f.PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(site.url("/dashboard"))


def test_csrf_refusal_from_a_page(page: Any, site: Site, watch: Watch) -> None:
    watch.allow("status of 403")
    sign_in(page, site, site.data["buyer"].email)
    expect(page).to_have_url(site.url("/dashboard"))
    page.eval_on_selector(
        'form[action="/logout"] input[name="csrf_token"]', "(el) => { el.value = 'forged' }"
    )
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("error-message")).to_have_text("页面已过期，请刷新页面")
    page.goto(site.url("/dashboard"))  # still signed in: the refused request changed nothing
    expect(page.get_by_test_id("nav-user")).to_be_visible()


def test_search_with_a_two_character_chinese_word(page: Any, site: Site, watch: Watch) -> None:
    page.goto(site.url("/"))
    expect(page).to_have_url(site.url("/listings"))
    page.get_by_test_id("search-q").fill("隔膜")
    page.get_by_test_id("search-submit").click()
    expect(page).to_have_url(re.compile(r"/listings\?q=%E9%9A%94%E8%86%9C"))
    cards = page.get_by_test_id("listing-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-id", site.data["battery"]["id"])
    expect(cards.first.get_by_test_id("listing-price")).to_have_text("¥1,250,000.00")
    expect(cards.first).to_contain_text("挂牌交易")
    page.get_by_test_id("search-q").fill("没有这种专利")
    page.get_by_test_id("search-q").press("Enter")
    expect(page.get_by_test_id("no-results")).to_be_visible()


def test_listing_detail(page: Any, site: Site, watch: Watch) -> None:
    battery = site.data["battery"]
    page.goto(site.url("/listings?q=隔膜"))
    page.get_by_test_id("listing-title").first.click()
    expect(page).to_have_url(site.url(f"/listings/{battery['id']}"))
    expect(page.get_by_test_id("listing-title")).to_have_text("锂电池隔膜专利转让")
    expect(page.get_by_test_id("listing-status")).to_have_text("挂牌中")
    expect(page.get_by_test_id("listing-price")).to_have_text("¥1,250,000.00")
    expect(page.get_by_test_id("listing-deposit")).to_have_text("¥50,000.00")
    expect(page.get_by_test_id("patent-row")).to_have_count(1)
    # Shanghai time whatever the browser's time zone (the context runs in New York).
    ends = datetime.fromisoformat(battery["listing_ends_at"]).astimezone(SHANGHAI)
    expect(page.get_by_test_id("listing-ends-at")).to_have_text(ends.strftime("%Y-%m-%d %H:%M"))
    expect(page.get_by_test_id("register-login")).to_be_visible()
    page.get_by_test_id("register-login").click()
    page.get_by_test_id("login-email").fill(site.data["buyer"].email)
    page.get_by_test_id("login-password").fill(f.PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(site.url(f"/listings/{battery['id']}"))
    expect(page.get_by_test_id("register-button")).to_be_visible()


def test_certificate_lookup_found_and_not_found(page: Any, site: Site, watch: Watch) -> None:
    watch.allow("status of 404")
    number = site.data["certificate"]
    page.goto(site.url("/certificates"))
    page.get_by_test_id("certificate-input").fill(number)
    page.get_by_test_id("certificate-submit").click()
    expect(page).to_have_url(site.url(f"/certificates/{number}"))
    result = page.get_by_test_id("certificate-result")
    expect(result).to_contain_text("¥500,000.00")
    expect(result).to_contain_text(site.data["contract_sha256"])
    expect(result).to_contain_text("杭州新材科技有限公司")
    page.get_by_test_id("certificate-input").fill("JZ2026-999999-9")
    page.get_by_test_id("certificate-submit").click()
    expect(page.get_by_test_id("certificate-not-found")).to_have_text("未找到该交易凭证")


def test_the_404_page(page: Any, site: Site, watch: Watch) -> None:
    watch.allow("status of 404")
    response = page.goto(site.url("/no/such/page"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("页面不存在")
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_every_page_on_a_cold_cache(browser: Any, site: Site) -> None:
    """Each page alone in a new context (cold cache): no console error, no other host, < 200,000 bytes,
    every asset loaded."""
    from tests.web.conftest import TIMEZONE

    pages = [
        "/listings",
        "/listings?q=隔膜",
        f"/listings/{site.data['battery']['id']}",
        "/certificates",
        f"/certificates/{site.data['certificate']}",
        "/login",
    ]
    for path in pages:
        watch = Watch(host=site.base.split("://", 1)[1])
        ctx = browser.new_context(timezone_id=TIMEZONE, locale="en-US")
        ctx.on("console", watch.on_console)
        ctx.on("weberror", lambda error, w=watch: w.errors.append(str(error.error)))
        ctx.on("request", watch.on_request)
        ctx.on("requestfinished", watch.on_finished)
        failed: list[str] = []
        ctx.on("requestfailed", lambda request, failed=failed: failed.append(request.url))
        statuses: list[tuple[str, int]] = []
        ctx.on("response", lambda r, statuses=statuses: statuses.append((r.url, r.status)))
        tab = ctx.new_page()
        tab.goto(site.url(path), wait_until="networkidle")
        ctx.close()
        watch.check()
        assert failed == [], (path, failed)
        assert all(status < 400 for _, status in statuses), (path, statuses)
        assert watch.pages and 0 < watch.pages[0][1] < 200_000, (path, watch.pages)


def test_idle_expiry_signs_out_with_a_message(browser: Any, tmp_path: Any) -> None:
    """A server of its own with a 3-second idle limit (EXCHANGE_SESSION_IDLE_MINUTES=0.05)."""
    import time

    from tests.live import live_server
    from tests.web.conftest import TIMEZONE

    with live_server(
        "sqlite", tmp_path, serve_command=True, log=tmp_path / "server.log", session_idle_minutes="0.05"
    ) as server:
        ctx = browser.new_context(timezone_id=TIMEZONE, locale="en-US")
        page = ctx.new_page()
        page.goto(server.base + "/login")
        page.get_by_test_id("login-email").fill(OPERATOR_EMAIL)
        page.get_by_test_id("login-password").fill(f.PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page).to_have_url(server.base + "/operator")
        time.sleep(4)
        page.goto(server.base + "/operator")
        expect(page).to_have_url(server.base + "/login?next=/operator")
        expect(page.get_by_test_id("flash")).to_have_text("登录已过期，请重新登录")
        expect(page.get_by_test_id("nav-login")).to_be_visible()
        ctx.close()
