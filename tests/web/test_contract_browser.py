"""Signing a contract in Chromium (SPEC §19.4, §19.1): the buyer and then the seller each sign from the contract
page through the confirm dialog (it shows the price and the SHA-256, confirm-ok focused, Esc sends nothing),
the signatures appear, the deal awaits payment, and the buyer's dashboard links to the contract. No console
error, no other host, the page's weight (``tests/web/conftest.py``); the sign-up form on the way."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from app.web.templating import money
from tests import factories as f
from tests.live import LiveServer
from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def contract_world(server: LiveServer, world: dict[str, Any]) -> dict[str, Any]:
    """Two enterprises of their own and a deal between them awaiting both signatures, made when the module
    starts (on the business clock of that moment: other modules move it days ahead)."""
    op = world["op"]
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        seller = await f.organization(client, verified_by=op, name="嘉兴精密仪器有限公司")
        buyer = await f.organization(client, verified_by=op, name="湖州智能装备有限公司")
        patent = await f.patent(
            client, seller, title="一种光栅位移测量装置", abstract="光栅测量位移。", ipc_codes=["G01B 11/02"]
        )
        body = {
            "title": "光栅位移测量装置专利转让",
            "summary": "机床用的光栅位移测量装置。",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
            "price": "260000.00",
        }
        listing = await _ok(await client.post("/api/v1/listings", json=body, headers=seller.headers), 201)
        await _ok(await client.post(f"/api/v1/listings/{listing['id']}/submit", headers=seller.headers))
        await _ok(await client.post(f"/api/v1/listings/{listing['id']}/approve", headers=op.headers))
        offer = await _ok(
            await client.post(
                f"/api/v1/listings/{listing['id']}/offers", json={"price": "260000.00"}, headers=buyer.headers
            ),
            201,
        )
        accepted = await _ok(
            await client.post(f"/api/v1/offers/{offer['id']}/accept", headers=seller.headers)
        )
        deal = await _ok(await client.get(f"/api/v1/deals/{accepted['deal_id']}", headers=buyer.headers))
        contract = await _ok(
            await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=buyer.headers)
        )
    assert deal["status"] == "awaiting_signatures"
    return {"seller": seller, "buyer": buyer, "deal": deal, "contract": contract}


@pytest.fixture(scope="module")
def signing(site: Site) -> dict[str, Any]:
    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, contract_world(site.server, site.data)).result()
    return made


def _sign_from_the_page(page: Any, site: Site, path: str, contract: dict[str, Any], price: str) -> None:
    page.goto(site.url(path))
    expect(page.get_by_test_id("contract-sha256")).to_have_text(contract["sha256"])
    assert page.get_by_test_id("contract-text").inner_text() == contract["text"]
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    button = page.get_by_test_id("sign-button")
    dialog = page.get_by_test_id("confirm-dialog")
    button.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(money(price))
    expect(dialog).to_contain_text(contract["sha256"])
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    assert posts == []
    button.click()
    page.get_by_test_id("confirm-ok").click()
    expect(page).to_have_url(site.url(path + "?signed=1"))
    expect(page.get_by_test_id("flash")).to_have_text("签署成功")
    expect(page.get_by_test_id("sign-button")).to_have_count(0)
    assert len(posts) == 1 and posts[0].url == site.url(path + "/sign")


def test_both_parties_sign_from_the_contract_page(
    page: Any, context: Any, site: Site, watch: Watch, signing: dict[str, Any]
) -> None:
    deal, contract = signing["deal"], signing["contract"]
    path = f"/contracts/{contract['id']}"

    # Signed out, the sign-up form works in the browser too: pending review.
    page.goto(site.url("/listings"))
    page.get_by_role("link", name="机构注册").click()
    page.get_by_label("机构名称").fill("绍兴纺织机械有限公司")
    page.get_by_label("机构类型").select_option("enterprise")
    page.get_by_label("统一社会信用代码（18 位）").fill(f.credit_code(770001))
    page.get_by_label("管理员姓名").fill("陈经理")
    page.get_by_label("管理员邮箱（登录用）").fill("chen@textile.example.cn")
    page.get_by_label("登录密码（至少 10 个字符）").fill("correct-horse-77")
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("org-status")).to_have_text("待审核")

    sign_in(page, site, signing["buyer"].email)
    expect(page).to_have_url(site.url("/dashboard"))
    _sign_from_the_page(page, site, path, contract, deal["price"])
    rows = page.get_by_test_id("signature-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("买方")
    expect(rows.first).to_contain_text("湖州智能装备有限公司")
    # The PDF behind the link, with the session's cookie.
    pdf = context.request.get(site.url(page.get_by_test_id("contract-pdf").get_attribute("href")))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")

    # The dashboard's row of the deal links to its contract.
    page.goto(site.url("/dashboard"))
    row = page.locator(f'[data-testid=deal-row][data-id="{deal["id"]}"]')
    row.get_by_test_id("contract-link").click()
    expect(page).to_have_url(site.url(path))

    page.get_by_test_id("logout").click()
    sign_in(page, site, signing["seller"].email)
    _sign_from_the_page(page, site, path, contract, deal["price"])
    expect(page.get_by_test_id("signature-row")).to_have_count(2)
    expect(page.get_by_test_id("deal-status")).to_have_text("待付款")
    expect(page.get_by_test_id("contract-status")).to_have_text("已签署")
