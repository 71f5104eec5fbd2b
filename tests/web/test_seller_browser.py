"""The seller's desk in Chromium (SPEC §19.4, §19.7 "listing creation and CSV import results"): a seller imports a
CSV and reads the counts and the failed rows, creates a listing draft from an imported patent, submits it for
review, then withdraws it through the confirm dialog (Esc cancels, OK withdraws). No console error, no other
host, the pages' weight (``tests/web/conftest.py``)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests import factories as f
from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in

HEADER = "application_number,title,abstract,ipc_codes,inventors,filing_date,grant_date,annual_fee_paid_until"


async def _seller(site: Site) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        seller = await f.organization(client, verified_by=site.data["op"], name="温州智能阀门研究院")
    return {"seller": seller, "numbers": [f.application_number(n) for n in (880001, 880002)]}


@pytest.fixture(scope="module")
def desk(site: Site) -> dict[str, Any]:
    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, _seller(site)).result()
    return made


def test_import_then_a_draft_submitted_and_withdrawn(
    page: Any, site: Site, watch: Watch, desk: dict[str, Any]
) -> None:
    first, second = desk["numbers"]
    csv = "\n".join(
        [
            HEADER,
            f"{first},一种智能阀门的控制方法,阀门控制。,F16K 31/02,张三;李四,2020-03-15,2022-06-01,",
            f"{second},一种阀门密封结构,密封结构。,F16K 1/00,王五,2020-05-01,2022-09-01,",
            "201510703489.0,校验位错误的专利,摘要,,赵六,2020-04-01,,",
        ]
    )
    sign_in(page, site, desk["seller"].email)
    expect(page).to_have_url(site.url("/dashboard"))
    page.goto(site.url("/seller/import"))
    page.get_by_test_id("import-file").set_input_files(
        {"name": "专利清单.csv", "mimeType": "text/csv", "buffer": csv.encode("utf-8")}
    )
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-created")).to_have_text("2")
    expect(page.get_by_test_id("import-updated")).to_have_text("0")
    failed = page.get_by_test_id("import-failed-row")
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute("data-row", "3")
    expect(failed).to_have_attribute("data-code", "invalid_patent_number")
    expect(failed).to_contain_text("申请号格式或校验位有误")

    # A draft from an imported patent, the price typed with ¥ and commas.
    page.goto(site.url("/seller/listings/new"))
    form = page.get_by_test_id("listing-form")
    choice = form.locator("[data-testid=patent-choice]", has_text="一种智能阀门的控制方法")
    choice.get_by_role("checkbox").check()
    form.get_by_label("项目名称").fill("智能阀门控制专利转让")
    form.get_by_label("项目简介").fill("适用于供暖系统。")
    form.get_by_label("意向价格（元，可不填）").fill("¥800,000")
    form.get_by_test_id("listing-save-draft").click()
    expect(page).to_have_url(site.url("/seller?done=draft"))
    expect(page.get_by_test_id("flash")).to_have_text("草稿已保存。")
    row = page.locator("[data-testid=my-listing-row]", has_text="智能阀门控制专利转让")
    expect(row).to_contain_text("草稿")
    expect(row).to_contain_text("¥800,000.00")
    row.get_by_test_id("submit-listing").click()
    expect(page).to_have_url(site.url("/seller?done=submitted"))
    row = page.locator("[data-testid=my-listing-row]", has_text="智能阀门控制专利转让")
    expect(row).to_contain_text("待审核")
    patents = page.locator("[data-testid=patent-row]")
    expect(patents).to_have_count(2)
    expect(patents.filter(has_text="一种智能阀门的控制方法")).to_contain_text(f"ZL{first}")

    # Withdrawing asks first: Esc cancels with nothing sent, OK withdraws.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    dialog = page.get_by_test_id("confirm-dialog")
    row.get_by_test_id("withdraw-listing").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("智能阀门控制专利转让")
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert posts == []
    row.get_by_test_id("withdraw-listing").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page).to_have_url(site.url("/seller?done=withdrawn"))
    expect(page.locator("[data-testid=my-listing-row]", has_text="智能阀门控制专利转让")).to_contain_text(
        "已撤回"
    )
    assert len(posts) == 1 and posts[0].endswith("/withdraw")
