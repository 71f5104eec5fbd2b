"""The listing page's actions in Chromium (SPEC §19.4, §19.1): registering opens the confirm dialog with the
deposit and the available balance (confirm-ok focused, Esc cancels with no request), OK registers and the
page shows the bidder code and status; an offer's dialog shows the amount as typed. No console error, no
other host, the page's weight (``tests/web/conftest.py``)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests import factories as f
from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in


async def _world(site: Site) -> dict[str, Any]:
    from tests.web.world import _fund, _listing

    op, university = site.data["op"], site.data["university"]
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        company = await f.organization(client, verified_by=op, name="台州储能科技有限公司")
        await _fund(client, op, company, "80000.00", "WEB-LISTING-1")
        listed = await _listing(
            client,
            op,
            university,
            patent_title="储能电池热管理",
            abstract="储能电站用的热管理结构。",
            title="储能电池热管理专利转让",
            summary="储能电站用的热管理结构。",
            pricing_mode="listed",
            price="600000.00",
            deposit="30000.00",
        )
        talks = await _listing(
            client,
            op,
            university,
            patent_title="光伏支架",
            abstract="跟踪式光伏支架。",
            title="跟踪式光伏支架专利转让",
            summary="跟踪式光伏支架。",
            price="300000.00",
        )
        return {"company": company, "listed": listed, "talks": talks}


@pytest.fixture(scope="module")
def world(site: Site) -> dict[str, Any]:
    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, _world(site)).result()
    return made


def test_registering_and_offering_through_the_dialog(
    page: Any, site: Site, watch: Watch, world: dict[str, Any]
) -> None:
    listed = world["listed"]
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and "/listings/" in r.url else None)
    sign_in(page, site, world["company"].email, next_path=f"/listings/{listed['id']}")
    expect(page).to_have_url(site.url(f"/listings/{listed['id']}"))
    button = page.get_by_test_id("register-button")
    dialog = page.get_by_test_id("confirm-dialog")
    button.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("保证金：¥30,000.00")
    expect(dialog).to_contain_text("账户可用余额：¥80,000.00")
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    assert posts == []
    button.click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("flash")).to_have_text("报名成功，保证金已冻结")
    expect(page.get_by_test_id("bidder-code")).to_have_text(re.compile(r"^[A-Z0-9-]+$"))
    expect(page.get_by_test_id("registration-status")).to_have_text("已取得资格")
    expect(page.get_by_test_id("register-button")).to_have_count(0)
    assert len(posts) == 1 and posts[0].url.endswith("/register")

    page.goto(site.url(f"/listings/{world['talks']['id']}"))
    form = page.get_by_test_id("offer-form")
    form.get_by_label("报价金额（元）").fill("¥280,000")
    form.get_by_test_id("offer-submit").click()
    expect(dialog).to_contain_text("报价金额：¥280,000.00")
    expect(dialog).to_contain_text("挂牌价：¥300,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("flash")).to_have_text("报价已提交，等待出让方答复")
    page.goto(site.url("/dashboard"))
    expect(page.get_by_test_id("offer-row").filter(has_text="¥280,000.00")).to_contain_text("待答复")
