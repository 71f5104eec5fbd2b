"""The operator's desks in Chromium (SPEC §19.4, §19.1, §19.7): the operator works the review queue (verify
an organization, approve a listing, qualify a registration, dismiss an objection: each through the confirm
dialog, with confirm-ok focused, Esc leaving the form unsent), records a bank payment, settles a paid deal and
looks its certificate up at ``/certificates/{number}``. On the way it saves the README's screenshot of the
desk (``docs/screenshots/operator-desk.png``). No console error, no other host, the pages' weight
(``tests/web/conftest.py``)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from app.web.templating import money
from tests import factories as f
from tests.live import OPERATOR_EMAIL
from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREEN = {"width": 1000, "height": 700}
MAX_SCREENSHOT_BYTES = 150_000


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _desk_world(site: Site) -> dict[str, Any]:
    """What waits for the operator, made on the business clock of now: an organization to verify, a listing
    to review, a registration to qualify, an objection to decide and a paid deal to settle."""
    from tests.web.world import _fund, _listing, _unpaid_deal

    op, university, maker = site.data["op"], site.data["university"], site.data["maker"]
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        newcomer = await f.organization(client, name="台州精密模具有限公司")
        bidder = await f.organization(client, verified_by=op, name="嘉兴智能装备有限公司")
        objector = await f.organization(client, verified_by=op, name="湖州环保材料有限公司")
        patent = await f.patent(client, university, title="一种高强度碳纤维复合材料", abstract="轻量化车身。")
        draft = await _ok(
            await client.post(
                "/api/v1/listings",
                json={
                    "title": "碳纤维复合材料专利转让",
                    "summary": "轻量化车身用的碳纤维复合材料。",
                    "patent_ids": [patent["id"]],
                    "transaction_kind": "assignment",
                    "pricing_mode": "negotiated",
                    "price": "880000.00",
                },
                headers=university.headers,
            ),
            201,
        )
        review = await _ok(
            await client.post(f"/api/v1/listings/{draft['id']}/submit", headers=university.headers)
        )
        vetted = await _listing(
            client,
            op,
            university,
            patent_title="智能焊接机器人",
            abstract="焊缝跟踪。",
            title="焊接机器人专利转让",
            summary="焊缝跟踪的焊接机器人。",
            pricing_mode="listed",
            price="600000.00",
            deposit="60000.00",
            requires_qualification_review=True,
        )
        run = uuid.uuid4().hex[:8]
        await _fund(client, op, bidder, "60000.00", f"WEB-OPERATOR-{run}-1")
        registration = await _ok(
            await client.post(f"/api/v1/listings/{vetted['id']}/registrations", headers=bidder.headers), 201
        )
        # A university's negotiated deal in public notice, and an objection to it.
        noticed = await _listing(
            client,
            op,
            university,
            patent_title="污水处理膜",
            abstract="高通量。",
            title="污水处理膜专利转让",
            summary="高通量的污水处理膜。",
            price="350000.00",
        )
        offer = await _ok(
            await client.post(
                f"/api/v1/listings/{noticed['id']}/offers",
                json={"price": "350000.00"},
                headers=bidder.headers,
            ),
            201,
        )
        accepted = await _ok(
            await client.post(f"/api/v1/offers/{offer['id']}/accept", headers=university.headers)
        )
        objection = await _ok(
            await client.post(
                f"/api/v1/deals/{accepted['deal_id']}/objections",
                json={"reason": "成交价低于评估价"},
                headers=objector.headers,
            ),
            201,
        )
        # A paid deal of the maker's, to settle.
        deal = await _unpaid_deal(client, op, maker, bidder, title="精密模具冷却专利转让", price="450000.00")
        await _fund(client, op, bidder, deal["amount_due"], f"WEB-OPERATOR-{run}-2")
        paid = await _ok(await client.post(f"/api/v1/deals/{deal['id']}/pay", headers=bidder.headers))
        return {
            "newcomer": newcomer,
            "bidder": bidder,
            "listing": review,
            "registration": registration,
            "objection": objection,
            "deal": paid,
            "run": run,
        }


@pytest.fixture(scope="module")
def desk(site: Site) -> dict[str, Any]:
    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, _desk_world(site)).result()
    return made


def _confirm(page: Any, button: Any, *texts: str) -> None:
    """The action's dialog: what will happen, confirm-ok focused; Esc first leaves the form unsent."""
    dialog = page.get_by_test_id("confirm-dialog")
    url = page.url
    button.click()
    expect(dialog).to_be_visible()
    for text in texts:
        expect(dialog).to_contain_text(text)
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.url == url
    button.click()
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.get_by_test_id("confirm-ok").click()


def _screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A PNG for the README, kept under 150 KB. Every run takes it; it replaces the one under docs/screenshots only
    with ``EXCHANGE_UPDATE_SCREENSHOTS=1`` (the pages show times, so a run would otherwise leave the work tree
    changed), else it goes to a temporary directory."""
    if os.environ.get("EXCHANGE_UPDATE_SCREENSHOTS") == "1":
        folder = SCREENSHOTS
    else:
        folder = Path(tempfile.gettempdir()) / f"exchange-screenshots-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES, path.stat().st_size


def test_the_operator_works_the_desks(page: Any, site: Site, watch: Watch, desk: dict[str, Any]) -> None:
    page.set_viewport_size(SCREEN)
    sign_in(page, site, OPERATOR_EMAIL)
    expect(page).to_have_url(site.url("/operator"))
    org = page.locator(f'[data-testid=review-org-row][data-id="{desk["newcomer"].org_id}"]')
    listing = page.locator(f'[data-testid=review-listing-row][data-id="{desk["listing"]["id"]}"]')
    registration = page.locator(
        f'[data-testid=review-registration-row][data-id="{desk["registration"]["id"]}"]'
    )
    objection = page.locator(f'[data-testid=objection-row][data-id="{desk["objection"]["id"]}"]')
    expect(org).to_contain_text("台州精密模具有限公司")
    expect(listing).to_contain_text("碳纤维复合材料专利转让")
    expect(registration).to_contain_text("嘉兴智能装备有限公司")
    expect(objection).to_contain_text("成交价低于评估价")
    _screenshot(page, "operator-desk.png")

    _confirm(page, org.get_by_test_id("verify-button"), "台州精密模具有限公司")
    expect(page.get_by_test_id("flash")).to_have_text("已认证该机构")
    expect(org).to_have_count(0)
    _confirm(page, listing.get_by_test_id("approve-button"), "碳纤维复合材料专利转让", money("880000.00"))
    expect(page.get_by_test_id("flash")).to_have_text("已通过审核，项目已挂牌")
    expect(listing).to_have_count(0)
    _confirm(page, registration.get_by_test_id("qualify-button"), money("60000.00"))
    expect(page.get_by_test_id("flash")).to_have_text("已确认竞买资格")
    expect(registration).to_have_count(0)
    _confirm(page, objection.get_by_test_id("dismiss-button"), money("350000.00"))
    expect(page.get_by_test_id("flash")).to_have_text("已驳回异议")
    expect(objection).to_have_count(0)
    page.goto(site.url(f"/listings/{desk['listing']['id']}"))
    expect(page.get_by_test_id("listing-status")).to_have_text("挂牌中")

    # A bank payment, by credit code, the amount as typed.
    page.goto(site.url("/operator/payments"))
    form = page.get_by_test_id("payment-form")
    reference = f"BOC-{desk['run']}"
    form.get_by_label("机构（全称或统一社会信用代码）").fill(desk["bidder"].org["credit_code"])
    form.get_by_label("金额（元）").fill("¥12,345.6")
    form.get_by_label("银行流水号").fill(reference)
    form.get_by_test_id("payment-submit").click()
    expect(page.get_by_test_id("flash")).to_have_text("已登记到账")
    row = page.get_by_test_id("payment-row").filter(has_text=reference)
    expect(row).to_contain_text("嘉兴智能装备有限公司")
    expect(row).to_contain_text("¥12,345.60")

    # The paid deal: settle it, then look its certificate up.
    deal = desk["deal"]
    page.goto(site.url("/operator/deals"))
    settle = page.locator(f'[data-testid=settle-row][data-id="{deal["id"]}"]')
    expect(settle).to_contain_text("已付款")
    _confirm(page, settle.get_by_test_id("settle-button"), money(deal["price"]))
    number = settle.get_by_test_id("certificate-number")
    expect(number).to_contain_text("JZ")
    shown = number.inner_text()
    expect(page.get_by_test_id("flash")).to_contain_text(shown)
    expect(settle.get_by_test_id("settle-button")).to_have_count(0)
    number.click()
    expect(page).to_have_url(site.url(f"/certificates/{shown}"))
    expect(page.get_by_test_id("certificate-result")).to_contain_text("精密模具冷却")

    # The trial balance, and every audit chain verified.
    page.goto(site.url("/operator/ledger"))
    expect(page.get_by_test_id("trial-balance")).to_have_attribute("data-balanced", "true")
    page.goto(site.url("/operator/audit"))
    page.get_by_test_id("audit-verify-button").click()
    expect(page.get_by_test_id("audit-result")).to_have_attribute("data-ok", "true")
