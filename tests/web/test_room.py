"""The bidding room in Chromium (SPEC §19.5, §19.7) and the confirm dialog (SPEC §19.1): the JS amount format
equals the server's filter; the dialog is modal, focuses OK, traps focus and cancels on Esc; a live outbid
across two browser contexts; a keyboard-only bid; a refused bid's Chinese message with its code; the countdown
jumping on an anti-sniping extension. Every page is watched (no console error, no other host, the weight).

The room's auctions are made once for the module through the API of the session's server, and one move of
the sandbox clock opens them all (this module moves the shared server's business clock: it runs after the
other browser tests of the session's server, which never depend on it)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from app.web.templating import money
from tests.web.conftest import Site, Watch

MONEY_CASES: list[Any] = [
    None,
    "",
    0,
    5,
    100,
    125_000_000,
    -125_000_000,
    123_456_789_012_345,
    "1250000.00",
    "0.00",
    "1.5",
    "12",
    "-3.07",
    "999999999999.99",
    "1000.05",
]


def test_the_js_amount_format_equals_the_servers(page: Any, site: Site, watch: Watch) -> None:
    page.goto(site.url("/listings"))
    page.wait_for_function("() => window.Exchange !== undefined")
    shown = page.evaluate("(cases) => cases.map((c) => Exchange.money(c))", MONEY_CASES)
    assert shown == [money(c) for c in MONEY_CASES]
    assert shown[8] == "¥1,250,000.00"


def test_the_confirm_dialog(page: Any, site: Site, watch: Watch) -> None:
    page.goto(site.url("/listings"))
    page.wait_for_function("() => window.Exchange !== undefined")
    opened = """() => { window.answer = undefined;
        Exchange.confirm({title: "确认付款", lines: ["金额：" + Exchange.money("1250000.00")]})
            .then((v) => { window.answer = v; }); }"""
    dialog = page.get_by_test_id("confirm-dialog")
    page.evaluate(opened)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("¥1,250,000.00")
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    assert page.evaluate("() => document.getElementById('confirm-dialog').matches(':modal')")
    page.keyboard.press("Tab")  # focus stays inside: from the last button to the first
    expect(page.get_by_test_id("confirm-cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_test_id("confirm-cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => window.answer") is False
    page.evaluate(opened)
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => window.answer") is False
    page.evaluate(opened)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.answer === true")
