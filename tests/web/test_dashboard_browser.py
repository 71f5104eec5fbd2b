"""The dashboard's pay button in Chromium (SPEC §19.4, §19.1): the confirm dialog shows the amount due with
confirm-ok focused, Esc cancels without paying, OK pays (the row reads 已付款, the account follows); a refusal
reads in Chinese; withdrawing a registration refunds its deposit. No console error, no other host, the page's
weight (``tests/web/conftest.py``)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from app.kit.money import parse_yuan
from app.web.templating import money
from tests.web.conftest import Site, Watch
from tests.web.test_browser import sign_in


@pytest.fixture(scope="module")
def payer(site: Site) -> dict[str, Any]:
    """The payer's world, made now on the business clock (other modules' tests move it)."""
    from tests.web.world import payer_world

    # In a thread of its own: Playwright's sync API may already hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        made: dict[str, Any] = pool.submit(asyncio.run, payer_world(site.server, site.data)).result()
    return made


def _fen(shown: str) -> int:
    return parse_yuan(shown.replace("¥", "").replace(",", ""))


def test_the_actions_wait_for_their_script(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    """The dashboard's actions work only through dashboard.js: until it has run they are disabled, so a click
    made while the page still loads waits for them instead of doing nothing."""
    watch.allow("net::ERR_FAILED")
    page.route("**/static/dashboard*.js", lambda route: route.abort())
    sign_in(page, site, payer["payer"].email)
    expect(page).to_have_url(site.url("/dashboard"))
    for testid in ("pay-button", "withdraw-button", "offer-accept", "offer-counter"):
        expect(page.get_by_test_id(testid).first).to_be_disabled()
    page.unroute("**/static/dashboard*.js")
    page.reload()
    for testid in ("pay-button", "withdraw-button", "offer-accept", "offer-counter"):
        expect(page.get_by_test_id(testid).first).to_be_enabled()


def test_paying_a_deal_through_the_dialog(page: Any, site: Site, watch: Watch, payer: dict[str, Any]) -> None:
    deal = payer["unpaid_deal"]
    sign_in(page, site, payer["payer"].email)
    expect(page).to_have_url(site.url("/dashboard"))
    row = page.locator(f'[data-testid=deal-row][data-id="{deal["id"]}"]')
    expect(row).to_contain_text("待付款")
    expect(row).to_contain_text(money(deal["amount_due"]))
    available = page.get_by_test_id("account-available")
    before = _fen(available.inner_text())
    assert before >= parse_yuan(deal["amount_due"])
    paid: list[Any] = []
    page.on("request", lambda r: paid.append(r) if r.method == "POST" and r.url.endswith("/pay") else None)

    button = row.get_by_test_id("pay-button")
    dialog = page.get_by_test_id("confirm-dialog")
    button.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(money(deal["amount_due"]))
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    assert paid == []

    button.click()
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("pay-message")).to_have_text("付款成功")
    expect(row).to_contain_text("已付款")
    expect(row.get_by_test_id("pay-button")).to_have_count(0)
    after = money(before - parse_yuan(deal["amount_due"]))
    expect(available).to_have_text(after)
    assert len(paid) == 1
    headers = paid[0].headers
    assert headers.get("x-csrf-token") and headers.get("idempotency-key")
    # The page read again says the same.
    page.reload()
    expect(page.locator(f'[data-testid=deal-row][data-id="{deal["id"]}"]')).to_contain_text("已付款")
    expect(page.get_by_test_id("account-available")).to_have_text(after)


def test_a_refused_payment_reads_in_chinese(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    watch.allow("status of 409")
    deal = payer["unaffordable_deal"]
    sign_in(page, site, payer["payer"].email)
    row = page.locator(f'[data-testid=deal-row][data-id="{deal["id"]}"]')
    row.get_by_test_id("pay-button").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text(money(deal["amount_due"]))
    page.keyboard.press("Enter")  # confirm-ok has the focus
    message = page.get_by_test_id("pay-message")
    expect(message).to_have_text("账户可用余额不足")
    expect(message).to_have_attribute("role", "alert")
    expect(message).to_have_attribute("data-code", "insufficient_funds")
    expect(row).to_contain_text("待付款")
    expect(row.get_by_test_id("pay-button")).to_be_enabled()


def test_withdrawing_a_registration_through_the_dialog(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    registration = payer["payer_registration"]
    sign_in(page, site, payer["payer"].email)
    row = page.locator(f'[data-testid=registration-row][data-id="{registration["id"]}"]')
    expect(row).to_contain_text(registration["bidder_code"])
    held = page.get_by_test_id("account-held")
    available = page.get_by_test_id("account-available")
    expect(held).to_have_text(money(registration["deposit"]))
    before = _fen(available.inner_text())
    row.get_by_test_id("withdraw-button").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text(money(registration["deposit"]))
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("withdraw-message")).to_have_text("已撤回报名")
    expect(row).to_contain_text("已撤回")
    expect(row.get_by_test_id("withdraw-button")).to_have_count(0)
    expect(held).to_have_text(money(0))
    expect(available).to_have_text(money(before + parse_yuan(registration["deposit"])))
    expect(page.get_by_test_id("held-deposit")).to_have_count(0)
    page.reload()
    expect(page.locator(f'[data-testid=registration-row][data-id="{registration["id"]}"]')).to_contain_text(
        "已撤回"
    )


def test_accepting_a_counter_offer_through_the_dialog(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    counter = payer["payer_counter"]
    sign_in(page, site, payer["payer"].email)
    row = page.locator(f'[data-testid=offer-row][data-id="{counter["id"]}"]')
    expect(row).to_contain_text("待答复")
    expect(row.get_by_test_id("offer-withdraw")).to_have_count(0)
    row.get_by_test_id("offer-accept").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text(money(counter["price"]))
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.get_by_test_id("confirm-ok").click()
    # The page is read again: the thread accepted, its deal among the deals as buyer.
    row = page.locator(f'[data-testid=offer-row][data-id="{counter["id"]}"]')
    expect(row).to_contain_text("已接受")
    expect(row.get_by_test_id("offer-accept")).to_have_count(0)
    deals = page.get_by_test_id("deal-row").filter(has_text=money(counter["price"]))
    expect(deals).to_have_count(1)


def test_countering_and_withdrawing_an_offer_through_the_dialog(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    theirs = payer["payer_counter_to_answer"]
    sign_in(page, site, payer["payer"].email)
    row = page.locator(f'[data-testid=offer-row][data-id="{theirs["id"]}"]')
    row.get_by_test_id("offer-counter-amount").fill("¥130,000")
    row.get_by_test_id("offer-counter").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("¥130,000.00")
    expect(dialog).to_contain_text(money(theirs["price"]))
    page.get_by_test_id("confirm-ok").click()
    # The page is read again: the thread's latest move is our counter, open, which we may withdraw.
    mine = page.get_by_test_id("offer-row").filter(has_text="¥130,000.00")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("待答复")
    expect(mine).to_contain_text("我方")
    expect(page.locator(f'[data-testid=offer-row][data-id="{theirs["id"]}"]')).to_have_count(0)
    mine.get_by_test_id("offer-withdraw").click()
    expect(dialog).to_contain_text("¥130,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("offer-message")).to_have_text("已撤回")
    expect(mine).to_contain_text("已撤回")
    expect(mine.get_by_test_id("offer-withdraw")).to_have_count(0)


def test_an_offer_refused_meanwhile_reads_in_chinese(
    page: Any, site: Site, watch: Watch, payer: dict[str, Any]
) -> None:
    """The seller withdraws its counter while the payer's page shows it: accepting it is refused with the
    Chinese message and the code, never the API's English detail."""
    watch.allow("status of 409")
    counter = payer["payer_counter_to_vanish"]
    sign_in(page, site, payer["payer"].email)
    row = page.locator(f'[data-testid=offer-row][data-id="{counter["id"]}"]')
    expect(row).to_contain_text("待答复")
    with httpx.Client(base_url=site.base, timeout=30) as client:
        r = client.post(f"/api/v1/offers/{counter['id']}/withdraw", headers=site.data["maker"].headers)
        assert r.status_code == 200, r.text
    row.get_by_test_id("offer-accept").click()
    page.get_by_test_id("confirm-ok").click()
    message = page.get_by_test_id("offer-message")
    expect(message).to_have_text("状态已变化，请刷新页面")
    expect(message).to_have_attribute("role", "alert")
    expect(message).to_have_attribute("data-code", "invalid_state")
    expect(row.get_by_test_id("offer-accept")).to_be_enabled()
    # A code the page has no message for reads as the action's failure with the code, never in English.
    expired = '{"type":"about:blank","title":"Conflict","status":409,"code":"offer_expired","detail":"The offer expired."}'
    page.route(
        "**/reject",
        lambda route: route.fulfill(status=409, content_type="application/problem+json", body=expired),
    )
    row.get_by_test_id("offer-reject").click()
    page.get_by_test_id("confirm-ok").click()
    expect(message).to_have_text("报价已过期")
    expect(message).to_have_attribute("data-code", "offer_expired")
    page.route(
        "**/reject",
        lambda route: route.fulfill(
            status=409,
            content_type="application/problem+json",
            body=expired.replace("offer_expired", "x_new"),
        ),
    )
    row.get_by_test_id("offer-reject").click()
    page.get_by_test_id("confirm-ok").click()
    expect(message).to_have_text("操作失败（x_new）")
