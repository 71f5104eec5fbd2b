"""The bidding room in Chromium (SPEC §19.5, §19.7) and the confirm dialog (SPEC §19.1): the JS amount format
equals the server's filter; the dialog is modal, focuses OK, traps focus and cancels on Esc; a live outbid
across two browser contexts; a keyboard-only bid; a refused bid's Chinese message with its code; the countdown
jumping on an anti-sniping extension. Every page is watched (no console error, no other host, the weight).

The room's auctions are made once for the module through the API of the session's server, and one move of
the sandbox clock opens them all (this module moves the shared server's business clock: it runs after the
other browser tests of the session's server, which never depend on it)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from app.kit.workdays import SHANGHAI
from app.web.templating import money
from tests import factories as f
from tests.web.conftest import TIMEZONE, Site, Watch
from tests.web.test_browser import sign_in

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


# --- the room ----------------------------------------------------------------------------------------------

ENGLISH = {"format": "english", "increment": "1000.00", "free_bidding_minutes": 0}
ROOMS: dict[str, dict[str, Any]] = {
    "outbid": {**ENGLISH, "countdown_seconds": 3600},
    "keyboard": {**ENGLISH, "countdown_seconds": 3600},
    "refused": {**ENGLISH, "countdown_seconds": 3600},
    "sniping": {**ENGLISH, "countdown_seconds": 600},
    "messages": {**ENGLISH, "countdown_seconds": 3600},
    "reconnect": {**ENGLISH, "countdown_seconds": 3600},
    "relay": {**ENGLISH, "countdown_seconds": 3600},
    "proxy": {**ENGLISH, "countdown_seconds": 3600},
    "zero": {**ENGLISH, "countdown_seconds": 3600},
    "dutch-race": {
        "format": "dutch",
        "increment": "1000.00",
        "decrement": "1000.00",
        "step_seconds": 86_400,
        "floor_price": "90000.00",
    },
    "sealed": {"format": "sealed", "increment": "1000.00", "free_bidding_minutes": 60},
    "dutch": {
        "format": "dutch",
        "increment": "1000.00",
        "decrement": "1000.00",
        "step_seconds": 86_400,
        "floor_price": "90000.00",
    },
}


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _open_rooms(site: Site, only: tuple[str, ...] = tuple(ROOMS)) -> dict[str, dict[str, Any]]:
    """An auction per test (start ¥100,000.00; English ones with increment ¥1,000.00 and no free bidding) of the university,
    the buyer and the maker qualified in each; then one move of the sandbox clock past their listing periods
    opens them all."""
    from tests.web.world import _fund, _listing

    op, seller = site.data["op"], site.data["university"]
    bidders = [site.data["buyer"], site.data["maker"]]
    rooms: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as client:
        for i, bidder in enumerate(bidders):
            await _fund(client, op, bidder, "100000.00", f"WEB-ROOM-{i}")
        for name in only:
            terms = ROOMS[name]
            listing = await _listing(
                client,
                op,
                seller,
                patent_title=f"竞价专利{name}",
                abstract="竞价室测试。",
                title=f"竞价室 {name}",
                pricing_mode="auction",
                price="100000.00",
                deposit="10000.00",
                listing_days=5,
                auction=terms,
            )
            codes = []
            for bidder in bidders:
                url = f"/api/v1/listings/{listing['id']}/registrations"
                reg = await _ok(await client.post(url, headers=bidder.headers), 201)
                if reg["status"] == "pending_review":
                    qualify = f"/api/v1/registrations/{reg['id']}/qualify"
                    await _ok(await client.post(qualify, headers=op.headers))
                codes.append(reg["bidder_code"])
            rooms[name] = {"listing": listing, "id": listing["auction_id"], "codes": codes}
        ends = max(datetime.fromisoformat(r["listing"]["listing_ends_at"]) for r in rooms.values())
        now = datetime.fromisoformat((await _ok(await client.get("/api/v1/sandbox/clock")))["now"])
        advance = {"advance_seconds": (ends - now).total_seconds() + 2}
        await _ok(await client.post("/api/v1/sandbox/clock", json=advance, headers=op.headers))
        for room in rooms.values():
            state = await _ok(await client.get(f"/api/v1/auctions/{room['id']}"))
            assert state["status"] == "open", state
    return rooms


@pytest.fixture(scope="module")
def rooms(site: Site) -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _open_rooms(site)).result()


def _api(site: Site, method: str, path: str, who: f.Actor, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=site.base, timeout=30) as client:
        return client.request(method, path, headers=who.headers, **kwargs)


def _sign_in(page: Any, site: Site, who: f.Actor, room: dict[str, Any]) -> None:
    path = f"/auctions/{room['id']}"
    sign_in(page, site, who.email, next_path=path)
    expect(page).to_have_url(site.url(path))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")


def _second_context(browser: Any, watch: Watch) -> Any:
    ctx = browser.new_context(timezone_id=TIMEZONE, locale="en-US", viewport={"width": 360, "height": 800})
    ctx.set_default_timeout(10_000)
    ctx.on("console", watch.on_console)
    ctx.on("weberror", lambda error: watch.errors.append(str(error.error)))
    ctx.on("request", watch.on_request)
    ctx.on("requestfinished", watch.on_finished)
    return ctx


def _bid_through_the_dialog(page: Any) -> None:
    page.get_by_test_id("bid-submit").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.get_by_test_id("confirm-ok").click()


def _live_outbid(page: Any, theirs: Any, site: Site, room: dict[str, Any]) -> None:
    """The buyer bids in one context, the maker sees it live in another and outbids it, and so on back."""
    buyer, maker = site.data["buyer"], site.data["maker"]
    _sign_in(page, site, buyer, room)
    _sign_in(theirs, site, maker, room)
    expect(page.get_by_test_id("bid-amount")).to_have_value("100000.00")
    expect(page.get_by_test_id("phase")).to_have_text("限时报价期")
    _bid_through_the_dialog(page)
    message = page.get_by_test_id("bid-message")
    expect(message).to_have_text("出价成功")
    expect(message).to_have_attribute("role", "status")
    expect(page.get_by_test_id("leader")).to_have_text("您")
    expect(page.get_by_test_id("bid-submit")).to_be_disabled()
    expect(page.locator("[data-bid-reason]")).to_have_text("您当前领先")
    # The other viewer sees it live, and its prefill follows.
    expect(theirs.get_by_test_id("current-price")).to_have_text("¥100,000.00")
    expect(theirs.get_by_test_id("leader")).to_have_text(room["codes"][0])
    expect(theirs.get_by_test_id("bid-amount")).to_have_value("101000.00")
    _bid_through_the_dialog(theirs)
    expect(theirs.get_by_test_id("bid-message")).to_have_text("出价成功")
    expect(page.get_by_test_id("current-price")).to_have_text("¥101,000.00")
    expect(page.get_by_test_id("leader")).to_have_text(room["codes"][1])
    expect(page.get_by_test_id("bid-amount")).to_have_value("102000.00")
    expect(page.get_by_test_id("bid-submit")).to_be_enabled()
    rows = page.get_by_test_id("bid-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(room["codes"][1])
    expect(rows.nth(0)).to_contain_text("¥101,000.00")
    expect(rows.nth(1)).to_contain_text("您")
    expect(theirs.get_by_test_id("bid-row").nth(0)).to_contain_text("您")


def test_live_outbid_across_two_contexts(
    browser: Any, page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    other = _second_context(browser, watch)
    try:
        _live_outbid(page, other.new_page(), site, rooms["outbid"])
    finally:
        other.close()


@pytest.fixture(scope="module")
def pg_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """SPEC §19.7: the live-update tests also run on PostgreSQL with 2 workers (the two browsers' streams may
    be served by different processes)."""
    from tests.live import PG_ADMIN_URL, live_server
    from tests.web.world import build

    if not PG_ADMIN_URL:
        pytest.skip("no PostgreSQL test server (EXCHANGE_TEST_POSTGRES_URL)")
    directory = tmp_path_factory.mktemp("web-server-pg")
    # In a thread of its own (it runs asyncio.run): Playwright's sync API holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool, ExitStack() as stack:
        started = live_server(
            "postgresql", directory, workers=2, serve_command=True, log=directory / "server.log"
        )
        server = pool.submit(stack.enter_context, started).result()
        try:
            made = Site(server)
            made.data = pool.submit(asyncio.run, build(server)).result()
            yield made
        finally:
            pool.submit(stack.close).result()


def test_live_outbid_on_postgresql_with_two_workers(browser: Any, pg_site: Site) -> None:
    with ThreadPoolExecutor(1) as pool:
        room = pool.submit(asyncio.run, _open_rooms(pg_site, only=("outbid",))).result()["outbid"]
    watch = Watch(host=urlsplit(pg_site.base).netloc)
    one, two = _second_context(browser, watch), _second_context(browser, watch)
    try:
        _live_outbid(one.new_page(), two.new_page(), pg_site, room)
    finally:
        one.close()
        two.close()
    watch.check()


def test_the_bid_buttons_wait_for_the_room_script(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    """A bid is placed only through room.js: until it has run, the buttons are disabled (a form posted
    without it would only reload the page, the amount in its URL)."""
    watch.allow("net::ERR_FAILED")
    page.route("**/static/room*.js", lambda route: route.abort())
    for who, room, buttons in (
        (site.data["buyer"], rooms["keyboard"], ("bid-submit", "proxy-submit")),
        (site.data["buyer"], rooms["sealed"], ("sealed-submit",)),
        (site.data["maker"], rooms["dutch"], ("dutch-accept",)),
    ):
        sign_in(page, site, who.email, next_path=f"/auctions/{room['id']}")
        for testid in buttons:
            expect(page.get_by_test_id(testid)).to_be_disabled()
    page.unroute("**/static/room*.js")
    sign_in(page, site, site.data["buyer"].email, next_path=f"/auctions/{rooms['keyboard']['id']}")
    expect(page.get_by_test_id("proxy-submit")).to_be_enabled()


def test_a_keyboard_only_bid(page: Any, site: Site, watch: Watch, rooms: dict[str, Any]) -> None:
    room = rooms["keyboard"]
    _sign_in(page, site, site.data["buyer"], room)
    amount = page.get_by_test_id("bid-amount")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement?.dataset.testid") == "bid-amount":
            break
    expect(amount).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("¥100,000.00")
    expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("bid-message")).to_have_text("出价成功")
    expect(page.get_by_test_id("confirm-dialog")).to_be_hidden()
    expect(amount).to_be_focused()
    expect(page.get_by_test_id("leader")).to_have_text("您")


def test_refused_bids_read_in_chinese_with_their_code(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    watch.allow("status of 409")
    room = rooms["refused"]
    _sign_in(page, site, site.data["maker"], room)
    amount = page.get_by_test_id("bid-amount")
    message = page.get_by_test_id("bid-message")
    amount.fill("¥100,500")  # checked here first, with the server's code and message
    page.get_by_test_id("bid-submit").click()
    expect(message).to_have_text("加价须为加价幅度 ¥1,000.00 的整数倍")
    expect(message).to_have_attribute("data-code", "bid_not_increment_multiple")
    expect(message).to_have_attribute("role", "alert")
    expect(page.get_by_test_id("confirm-dialog")).to_be_hidden()
    amount.fill("100000")
    page.get_by_test_id("bid-submit").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    # Someone else bids that amount while the dialog is open: it says so and still sends the amount shown.
    r = _api(
        site, "POST", f"/api/v1/auctions/{room['id']}/bids", site.data["buyer"], json={"amount": "100000.00"}
    )
    assert r.status_code == 201, r.text
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("价格已变化")
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("¥100,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(message).to_have_text("出价低于当前最低可出价 ¥101,000.00")
    expect(message).to_have_attribute("data-code", "bid_too_low")
    expect(message).to_have_attribute("role", "alert")
    expect(amount).to_have_value("101000.00")  # the next valid amount again, focused
    expect(amount).to_be_focused()


def test_the_countdown_jumps_on_an_anti_sniping_extension(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    room = rooms["sniping"]
    # To 100 s before its end on the business clock, however long the tests before this one took.
    ends_at = datetime.fromisoformat(
        _api(site, "GET", f"/api/v1/auctions/{room['id']}", site.data["op"]).json()["ends_at"]
    )
    now = datetime.fromisoformat(_api(site, "GET", "/api/v1/sandbox/clock", site.data["op"]).json()["now"])
    left = (ends_at - now).total_seconds()
    assert left > 100, left
    r = _api(site, "POST", "/api/v1/sandbox/clock", site.data["op"], json={"advance_seconds": left - 100})
    assert r.status_code == 200, r.text
    page.goto(site.url(f"/auctions/{room['id']}"))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    countdown = page.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"00:01:[0-3][0-9]"))  # about 100 s left on the business clock
    r = _api(
        site, "POST", f"/api/v1/auctions/{room['id']}/bids", site.data["buyer"], json={"amount": "100000.00"}
    )
    assert r.status_code == 201, r.text
    ends_at = datetime.fromisoformat(r.json()["ends_at"])
    expect(countdown).to_have_text(re.compile(r"00:(09:[0-5][0-9]|10:00)"))
    expect(page.locator("[data-room-announce]")).to_have_text(
        "延时至 " + ends_at.astimezone(SHANGHAI).strftime("%H:%M:%S")
    )
    expect(page.get_by_test_id("ends-at")).to_have_text(
        ends_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    )
    expect(page.get_by_test_id("bid-unavailable")).to_contain_text("请先登录")


def test_a_sealed_bid_shows_only_ones_own_amount(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    room = rooms["sealed"]
    _sign_in(page, site, site.data["buyer"], room)
    expect(page.get_by_test_id("current-price")).to_have_text("密封报价，结束后公布")
    expect(page.get_by_test_id("leader")).to_have_text("密封报价，结束后公布")
    expect(page.get_by_test_id("my-sealed-bid")).to_have_text("—")
    page.get_by_test_id("sealed-amount").fill("123,000")
    page.get_by_test_id("sealed-submit").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("¥123,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("bid-message")).to_have_text("出价成功")
    expect(page.get_by_test_id("my-sealed-bid")).to_have_text("¥123,000.00")
    expect(page.get_by_test_id("sealed-submit")).to_be_disabled()
    expect(page.get_by_test_id("current-price")).to_have_text("密封报价，结束后公布")
    page.reload()
    expect(page.get_by_test_id("my-sealed-bid")).to_have_text("¥123,000.00")
    # Another bidder sees neither the amount nor a row of it.
    sign_in(page, site, site.data["maker"].email, next_path=f"/auctions/{room['id']}")
    expect(page.get_by_test_id("my-sealed-bid")).to_have_text("—")
    expect(page.get_by_test_id("bid-row")).to_have_count(0)
    assert "123,000" not in page.content()


def test_a_dutch_accept(page: Any, site: Site, watch: Watch, rooms: dict[str, Any]) -> None:
    room = rooms["dutch"]
    _sign_in(page, site, site.data["maker"], room)
    expect(page.get_by_test_id("dutch-price")).to_have_text("¥100,000.00")
    page.get_by_test_id("dutch-accept").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("¥100,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("bid-message")).to_have_text("出价成功")
    expect(page.get_by_test_id("auction-status")).to_have_text("已成交（您，¥100,000.00）")
    expect(page.get_by_test_id("dutch-accept")).to_be_disabled()
    expect(page.get_by_test_id("contract-link")).to_have_attribute(
        "href", re.compile(r"^/contracts/[0-9a-f-]{36}$")
    )
    href = page.get_by_test_id("contract-link").get_attribute("href")
    page.reload()
    expect(page.get_by_test_id("contract-link")).to_have_attribute("href", href)


def test_a_network_error_then_a_retry_with_the_same_key_and_the_refusal_messages(
    context: Any, page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    for expected in ("ERR_FAILED", "status of 403", "status of 401"):
        watch.allow(expected)
    room = rooms["messages"]
    keys: list[str] = []
    page.on(
        "request",
        lambda request: (
            keys.append(request.headers.get("idempotency-key", ""))
            if request.url.endswith("/bids") and request.method == "POST"
            else None
        ),
    )
    _sign_in(page, site, site.data["buyer"], room)
    message = page.get_by_test_id("bid-message")
    page.route("**/bids", lambda route: route.abort())
    _bid_through_the_dialog(page)
    expect(message).to_have_text("网络异常，请以出价记录为准")
    page.unroute("**/bids")
    _bid_through_the_dialog(page)  # the same amount again: the same Idempotency-Key
    expect(message).to_have_text("出价成功")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    expect(page.get_by_test_id("bid-row")).to_have_count(1)

    # The maker's page with a forged token, then with its session ended elsewhere.
    _sign_in(page, site, site.data["maker"], room)
    page.eval_on_selector('meta[name="csrf-token"]', "(el) => el.setAttribute('content', 'forged')")
    _bid_through_the_dialog(page)
    expect(message).to_have_text("页面已过期，请刷新页面")
    expect(message).to_have_attribute("data-code", "csrf_failed")
    expect(message).to_have_attribute("role", "alert")
    page.reload()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    elsewhere = context.new_page()
    elsewhere.goto(site.url("/listings"))
    elsewhere.get_by_test_id("logout").click()
    expect(elsewhere).to_have_url(site.url("/login"))
    _bid_through_the_dialog(page)
    expect(message).to_contain_text("登录已过期，请重新登录")
    expect(message).to_have_attribute("role", "alert")
    link = message.get_by_role("link")
    expect(link).to_have_attribute("href", f"/login?next=%2Fauctions%2F{room['id']}")
    assert len(set(keys)) == 3  # every confirmation but the retry had a new key


def test_the_room_catches_up_after_the_stream_fails(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    """The browser gives up on a stream answered 503: the room says so, re-reads the state after a second and
    opens a new stream from its last event, and then shows the server's state."""
    watch.allow("status of 503")
    room = rooms["reconnect"]
    refused: list[str] = []

    def unavailable(route: Any) -> None:
        refused.append(route.request.url)
        route.fulfill(status=503, body="")

    page.route("**/events?*", unavailable)
    page.goto(site.url(f"/auctions/{room['id']}"))
    connection = page.get_by_test_id("connection")
    expect(connection).to_have_attribute("data-state", "reconnecting")
    expect(connection).to_have_text("连接中断，正在重连…")
    r = _api(
        site, "POST", f"/api/v1/auctions/{room['id']}/bids", site.data["buyer"], json={"amount": "100000.00"}
    )
    assert r.status_code == 201, r.text
    page.unroute("**/events?*")
    expect(connection).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("current-price")).to_have_text("¥100,000.00")
    expect(page.get_by_test_id("leader")).to_have_text(room["codes"][0])
    expect(page.get_by_test_id("bid-row")).to_have_count(1)
    assert refused and refused[0].endswith("last_event_id=0")


def test_a_proxy_bids_for_its_holder_alone_to_see(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    room = rooms["proxy"]
    _sign_in(page, site, site.data["maker"], room)
    expect(page.get_by_test_id("my-proxy")).to_have_text("—")
    page.get_by_test_id("proxy-amount").fill("105000.00")
    page.get_by_test_id("proxy-submit").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("¥105,000.00")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("bid-message")).to_have_text("代理出价已设置")
    expect(page.get_by_test_id("my-proxy")).to_have_text("¥105,000.00")
    expect(page.get_by_test_id("leader")).to_have_text("您")
    # The proxy bid the start price at once; the buyer bids the next amount and the proxy answers in the same
    # transaction.
    _sign_in(page, site, site.data["buyer"], room)
    expect(page.get_by_test_id("my-proxy")).to_have_text("—")
    expect(page.get_by_test_id("bid-amount")).to_have_value("101000.00")
    _bid_through_the_dialog(page)
    expect(page.get_by_test_id("bid-message")).to_have_text("出价已受理，但已被代理出价超过")
    expect(page.get_by_test_id("bid-message")).to_have_attribute("role", "status")
    expect(page.get_by_test_id("leader")).to_have_text(room["codes"][1])
    expect(page.get_by_test_id("current-price")).to_have_text("¥102,000.00")
    top = page.get_by_test_id("bid-row").nth(0)
    expect(top).to_contain_text(room["codes"][1])
    expect(top).to_contain_text("代理")
    assert "105,000" not in page.content() and "105000" not in page.content()


def test_a_dutch_accept_race(
    browser: Any, page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    """Both bidders confirm at once: one wins, the other reads 竞价已结束（已被其他竞买人应价）."""
    watch.allow("status of 409")
    room = rooms["dutch-race"]
    other = _second_context(browser, watch)
    try:
        theirs = other.new_page()
        _sign_in(page, site, site.data["buyer"], room)
        _sign_in(theirs, site, site.data["maker"], room)
        for p in (page, theirs):
            p.get_by_test_id("dutch-accept").click()
            expect(p.get_by_test_id("confirm-dialog")).to_contain_text("¥100,000.00")
        page.get_by_test_id("confirm-ok").click()
        theirs.get_by_test_id("confirm-ok").click()
        messages = [p.get_by_test_id("bid-message") for p in (page, theirs)]
        for m in messages:
            expect(m).not_to_have_text("")
        texts = sorted(m.text_content() or "" for m in messages)
        assert texts == ["出价成功", "竞价已结束（已被其他竞买人应价）"], texts
        loser = messages[0] if messages[0].text_content() != "出价成功" else messages[1]
        expect(loser).to_have_attribute("data-code", "auction_closed")
        expect(loser).to_have_attribute("role", "alert")
        for p in (page, theirs):
            expect(p.get_by_test_id("auction-status")).to_contain_text("已成交")
            expect(p.get_by_test_id("dutch-accept")).to_be_disabled()
    finally:
        other.close()


def test_at_zero_the_countdown_waits_for_the_result(
    page: Any, site: Site, watch: Watch, rooms: dict[str, Any]
) -> None:
    """The browser's clock runs an hour and more ahead while no closing event arrives (its stream is held):
    the countdown stops at 00:00:00 with 等待结果… and bidding reads 已结束."""
    room = rooms["zero"]
    page.route("**/events?*", lambda route: None)  # never answered
    page.clock.install()
    sign_in(page, site, site.data["buyer"].email, next_path=f"/auctions/{room['id']}")
    countdown = page.get_by_test_id("countdown")
    expect(countdown).to_have_text(re.compile(r"00:[0-5][0-9]:[0-5][0-9]"))
    # The page arrives with the server's countdown text; the clock may only run ahead once room.js has read
    # the server's time (else it takes the advanced clock as the server's): its ticking shows it has.
    expect(countdown).not_to_have_text(countdown.text_content() or "")
    page.clock.fast_forward("02:00:00")
    expect(countdown).to_have_text("00:00:00")
    expect(page.locator("[data-countdown-note]")).to_have_text("等待结果…")
    expect(page.get_by_test_id("bid-submit")).to_be_disabled()
    expect(page.locator("[data-bid-reason]")).to_have_text("已结束")


def test_reconnect_after_the_connection_is_cut(browser: Any, site: Site, rooms: dict[str, Any]) -> None:
    """SPEC §19.5, §19.7: a TCP relay in front of the server cuts the room's open stream; the room reads
    连接中断，正在重连…; the bids placed meanwhile are replayed when the browser reconnects (with Last-Event-ID,
    or the room's fallback with ?last_event_id=) and the room then shows exactly the server's state, each
    bid with its own time."""
    from tests.web.relay import Relay

    room = rooms["relay"]
    target = urlsplit(site.base)
    relay = Relay((target.hostname or "127.0.0.1", target.port or 80))
    watch = Watch(host=urlsplit(relay.base).netloc)
    watch.allow("ERR_")  # the cut connection's network errors
    ctx = _second_context(browser, watch)
    try:
        page = ctx.new_page()
        page.goto(f"{relay.base}/auctions/{room['id']}")
        connection = page.get_by_test_id("connection")
        expect(connection).to_have_attribute("data-state", "live")
        first = _api(
            site,
            "POST",
            f"/api/v1/auctions/{room['id']}/bids",
            site.data["buyer"],
            json={"amount": "100000.00"},
        )
        assert first.status_code == 201, first.text
        expect(page.get_by_test_id("current-price")).to_have_text("¥100,000.00")  # live, event 1
        before = _api(site, "GET", f"/api/v1/auctions/{room['id']}", site.data["op"]).json()
        seen = before["bid_count"] + before["extensions"]  # a bid event each, an extended event each

        relay.cut()
        expect(connection).to_have_attribute("data-state", "reconnecting")
        expect(connection).to_have_text("连接中断，正在重连…")
        for who, amount in ((site.data["maker"], "101000.00"), (site.data["buyer"], "102000.00")):
            r = _api(site, "POST", f"/api/v1/auctions/{room['id']}/bids", who, json={"amount": amount})
            assert r.status_code == 201, r.text
        expect(page.get_by_test_id("current-price")).to_have_text("¥100,000.00")  # nothing arrives meanwhile
        relay.resume()

        expect(connection).to_have_attribute("data-state", "live")
        expect(connection).to_have_text("实时")
        expect(page.get_by_test_id("current-price")).to_have_text("¥102,000.00")
        # The stream that came back asked for what followed the last event the room had applied.
        streams = [r.decode("latin-1").lower() for r in relay.requests() if b"/events" in r]
        assert len(streams) >= 2, streams
        asked = [[line for line in r.split("\r\n") if "event" in line] for r in streams]
        assert all(f"last-event-id: {seen}\r\n" in r or f"last_event_id={seen} " in r for r in streams[1:]), (
            asked
        )

        # Exactly the server's state: price, leader, end, and every bid with its own time.
        state = _api(site, "GET", f"/api/v1/auctions/{room['id']}", site.data["op"]).json()
        bids = _api(site, "GET", f"/api/v1/auctions/{room['id']}/bids?limit=20", site.data["op"]).json()[
            "items"
        ]
        expect(page.get_by_test_id("leader")).to_have_text(state["leading_bidder_code"])
        assert state["current_price"] == "102000.00" and len(bids) == 3
        ends = datetime.fromisoformat(state["ends_at"]).astimezone(SHANGHAI)
        expect(page.get_by_test_id("ends-at")).to_have_text(ends.strftime("%Y-%m-%d %H:%M:%S"))
        rows = page.get_by_test_id("bid-row")
        expect(rows).to_have_count(3)
        for i, bid in enumerate(bids):  # newest first, like the API
            placed = datetime.fromisoformat(bid["placed_at"]).astimezone(SHANGHAI)
            expect(rows.nth(i)).to_have_attribute("data-id", bid["id"])
            expect(rows.nth(i)).to_contain_text(bid["bidder_code"])
            expect(rows.nth(i)).to_contain_text(money(bid["amount"]))
            expect(rows.nth(i)).to_contain_text(placed.strftime("%Y-%m-%d %H:%M:%S"))
        # Later bids arrive live again.
        r = _api(
            site,
            "POST",
            f"/api/v1/auctions/{room['id']}/bids",
            site.data["maker"],
            json={"amount": "103000.00"},
        )
        assert r.status_code == 201, r.text
        expect(page.get_by_test_id("current-price")).to_have_text("¥103,000.00")
        expect(rows).to_have_count(4)
        placed = datetime.fromisoformat(r.json()["placed_at"]).astimezone(SHANGHAI)
        expect(rows.nth(0)).to_contain_text(placed.strftime("%Y-%m-%d %H:%M:%S"))
    finally:
        ctx.close()
        relay.close()
    watch.check()
