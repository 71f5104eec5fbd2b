"""The first pages of the web client (SPEC §19.1, §19.4) over HTTP on both databases: the home redirect, the
search with the API's parameters, the listing detail, certificate lookup, the error pages, the headers, the
static files and the display rules (amounts, Shanghai time, Chinese labels)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import httpx
import pytest

from app.web.security import CSP
from app.web.templating import money, shanghai
from tests import factories as f
from tests.listings import helpers as h
from tests.settlement import helpers as s
from tests.web import helpers as w


def _cards(html: str) -> list[str]:
    return re.findall(r'data-testid="listing-card" data-id="([^"]+)"', html)


def _assert_page_headers(r: httpx.Response) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "cookie" in r.headers["vary"].lower()  # the page shows who is signed in
    assert '<html lang="zh-CN">' in r.text and '<meta charset="utf-8">' in r.text


def test_money_and_time_filters() -> None:
    assert money(125000000) == "¥1,250,000.00"
    assert money("1250000.00") == "¥1,250,000.00"
    assert money(5) == "¥0.05" and money(None) == "—"
    instant = datetime(2026, 12, 31, 16, 5, 9, tzinfo=UTC)  # New Year's Day in Shanghai
    assert str(shanghai(instant)) == '<time datetime="2026-12-31T16:05:09Z">2027-01-01 00:05</time>'
    assert str(shanghai(instant, seconds=True)).endswith(">2027-01-01 00:05:09</time>")


async def test_home_unknown_paths_and_the_api_404(client: httpx.AsyncClient, db) -> None:
    r = await client.get("/")
    assert r.status_code == 302 and r.headers["location"] == "/listings"
    r = await client.get("/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "页面不存在" in r.text
    _assert_page_headers(r)
    r = await client.get("/api/v1/no/such/thing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
    r = await client.delete("/api/v1/listings")  # the API's 405 is still the API's
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")


async def test_static_files_have_versioned_names_and_are_cached_for_a_year(
    client: httpx.AsyncClient, db
) -> None:
    r = await client.get("/listings")
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', r.text)
    assert any(u.startswith("/static/vendor/htmx-2.0.11.min.js") for u in urls)
    assert any(re.fullmatch(r"/static/app\.[0-9a-f]{12}\.css", u) for u in urls)
    assert any(re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", u) for u in urls)
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff" and "vary" not in asset.headers
    assert (await client.get("/static/app.css")).status_code == 404  # only the versioned name
    assert (await client.get("/static/vendor/SHA256SUMS")).status_code == 404
    assert (await client.get("/favicon.ico")).status_code == 200
    assert (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles":false,"allowEval":false}\'>' in r.text
    )


@pytest.fixture
async def market(client: httpx.AsyncClient, db):  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    seller = await f.organization(client, kind="university", verified_by=op, name="浙江示范大学")
    buyer = await f.organization(client, verified_by=op)
    battery = await h.published(
        client,
        seller,
        op,
        h.body(
            [await h.patent(db, seller, title="一种锂电池隔膜")],
            title="锂电池隔膜专利转让",
            pricing_mode="listed",
            price="1250000.00",
            deposit="50000.00",
        ),
    )
    chip = await h.published(
        client,
        seller,
        op,
        h.body(
            [await h.patent(db, seller, title="芯片散热器", abstract="用于服务器的散热器。")],
            title="高性能芯片散热结构",
            summary="服务器芯片的散热结构。",
            price="300000.00",
        ),
    )
    draft = await h.create(client, seller, h.body([await h.patent(db, seller)], title="未公开的草稿"))
    return {"op": op, "seller": seller, "buyer": buyer, "battery": battery, "chip": chip, "draft": draft}


async def test_search_with_a_two_character_chinese_word(client: httpx.AsyncClient, db, market) -> None:
    r = await client.get("/listings", params={"q": "隔膜"})
    assert r.status_code == 200
    _assert_page_headers(r)
    assert "cache-control" not in r.headers  # signed out: cacheable like any public page
    assert _cards(r.text) == [market["battery"]["id"]]
    assert 'data-testid="listing-title">锂电池隔膜专利转让</a>' in r.text
    assert 'data-testid="listing-price">¥1,250,000.00<' in r.text
    for chinese in ("挂牌交易", "专利权转让", "挂牌中", "浙江示范大学", "¥50,000.00"):
        assert chinese in r.text
    assert ">listed<" not in r.text and ">published<" not in r.text  # labels, never raw values
    assert 'value="隔膜"' in r.text  # the form keeps the query
    # The API's parameters and meaning: filters, amounts typed with ¥ and commas, sorting.
    r = await client.get("/listings", params={"min_price": "¥500,000", "sort": "price"})
    assert _cards(r.text) == [market["battery"]["id"]]
    r = await client.get("/listings", params={"pricing_mode": "negotiated"})
    assert _cards(r.text) == [market["chip"]["id"]]
    r = await client.get("/listings", params={"sort": "-price"})
    assert _cards(r.text) == [market["battery"]["id"], market["chip"]["id"]]
    r = await client.get("/listings", params={"q": "没有这种东西"})
    assert _cards(r.text) == [] and 'data-testid="no-results"' in r.text
    # Bad input is a 422 page naming the field, never a 500.
    for params in (
        {"min_price": "abc"},
        {"pricing_mode": "barter"},
        {"sort": "x"},
        {"cursor": "!!"},
        {"q": "x" * 201},
    ):
        r = await client.get("/listings", params=params)
        assert r.status_code == 422 and 'role="alert"' in r.text, params
    # The draft is nobody's result but its seller's.
    r = await client.get("/listings", params={"q": "草稿"})
    assert _cards(r.text) == []


async def test_twenty_cards_a_page_and_the_next_page_link(client: httpx.AsyncClient, db, market) -> None:
    seller, op = market["seller"], market["op"]
    for i in range(19):
        await h.published(client, seller, op, h.body([await h.patent(db, seller)], title=f"批量专利{i}"))
    r = await client.get("/listings")
    first = _cards(r.text)
    assert len(first) == 20
    link = re.search(r'<a href="([^"]+)" data-testid="next-page"[^>]*>下一页</a>', r.text)
    assert link
    r = await client.get(link.group(1).replace("&amp;", "&"))
    second = _cards(r.text)
    assert len(second) == 1 and not set(first) & set(second)
    assert 'data-testid="next-page"' not in r.text


async def test_listing_detail_and_its_register_states(client: httpx.AsyncClient, db, market) -> None:
    battery = market["battery"]
    url = f"/listings/{battery['id']}"
    r = await client.get(url)
    assert r.status_code == 200
    _assert_page_headers(r)
    assert 'data-testid="listing-title">锂电池隔膜专利转让<' in r.text
    assert 'data-testid="listing-status">挂牌中<' in r.text
    assert 'data-testid="listing-deposit">¥50,000.00<' in r.text
    assert len(re.findall(r'data-testid="patent-row" data-id="', r.text)) == 1
    ends = datetime.fromisoformat(battery["listing_ends_at"])
    assert f'data-testid="listing-ends-at">{shanghai(ends)}<' in r.text
    assert 'data-testid="register-login"' in r.text and f"/login?next=/listings/{battery['id']}" in r.text
    assert 'data-testid="register-button"' not in r.text
    # A verified buyer may register; the seller may not.
    await w.sign_in(client, market["buyer"].email)
    r = await client.get(url)
    assert 'data-testid="register-button"' in r.text and 'data-testid="register-login"' not in r.text
    assert r.headers["cache-control"] == "no-store"
    paid_in = {"organization_id": market["buyer"].org_id, "amount": "100000.00", "bank_reference": "WEB-1"}
    r = await client.post("/api/v1/ledger/payments", json=paid_in, headers=market["op"].headers)
    assert r.status_code in (200, 201), r.text
    reg = await client.post(
        f"/api/v1/listings/{battery['id']}/registrations", headers=market["buyer"].headers
    )
    assert reg.status_code == 201, reg.text
    r = await client.get(url)
    assert f'data-testid="bidder-code">{reg.json()["bidder_code"]}<' in r.text
    assert 'data-testid="registration-status">' in r.text and 'data-testid="register-button"' not in r.text
    await w.sign_in(client, market["seller"].email)
    r = await client.get(url)
    assert 'data-testid="register-button"' not in r.text and 'data-testid="bidder-code"' not in r.text


async def test_a_never_published_listing_is_the_sellers_only(client: httpx.AsyncClient, db, market) -> None:
    url = f"/listings/{market['draft']['id']}"
    r = await client.get(url)
    assert r.status_code == 404 and "页面不存在" in r.text
    await w.sign_in(client, market["buyer"].email)
    assert (await client.get(url)).status_code == 404
    await w.sign_in(client, market["seller"].email)
    r = await client.get(url)
    assert r.status_code == 200 and 'data-testid="listing-status">草稿<' in r.text
    assert (await client.get("/listings/not-a-uuid")).status_code == 404


async def test_certificate_lookup_found_and_not_found(client: httpx.AsyncClient, db) -> None:
    case = await s.offer_deal(client, db)
    await s.settled(client, db, case)
    number = case.deal["certificate_number"]
    r = await client.get("/certificates")
    assert r.status_code == 200 and 'data-testid="certificate-input"' in r.text
    r = await client.get("/certificates", params={"number": f" {number} "})
    assert r.status_code == 303 and r.headers["location"] == f"/certificates/{number}"
    r = await client.get(f"/certificates/{number}")
    assert r.status_code == 200 and 'data-testid="certificate-result"' in r.text
    assert "¥500,000.00" in r.text and case.seller.org["name"] in r.text and case.buyer.org["name"] in r.text
    api = (await client.get(f"/api/v1/certificates/{number}")).json()
    assert api["contract_sha256"] in r.text
    for missing in ("JZ2026-999999-9", "x" * 40, "%E4%B8%AD"):
        r = await client.get(f"/certificates/{missing}")
        assert r.status_code == 404 and 'data-testid="certificate-not-found">未找到该交易凭证<' in r.text


async def test_a_5xx_page_shows_the_request_id_and_is_logged_once(  # type: ignore[no-untyped-def]
    app, client: httpx.AsyncClient, db, caplog: pytest.LogCaptureFixture
) -> None:
    from app.web import PageMount

    web = next(route.app.web for route in app.routes if isinstance(route, PageMount))

    async def broken() -> None:
        raise RuntimeError("secret internals")

    web.add_api_route("/broken-for-this-test", broken)
    with caplog.at_level(logging.ERROR):
        r = await client.get("/broken-for-this-test")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "服务器出错了" in r.text and "secret internals" not in r.text and "Traceback" not in r.text
    assert f'data-testid="request-id">{r.headers["x-request-id"]}<' in r.text
    _assert_page_headers(r)
    # One error with its traceback, not one by the pages and another by the application around them.
    logged = [rec for rec in caplog.records if rec.exc_info and "secret internals" in str(rec.exc_info[1])]
    assert len(logged) == 1, [(rec.name, rec.getMessage()) for rec in logged]


async def test_an_auction_listing_shows_its_schedule_and_the_room_link(client: httpx.AsyncClient, db) -> None:
    from tests.auctions import helpers as a

    case = await a.open_auction(client, db)
    auction = (await client.get(case.url)).json()
    r = await client.get(f"/listings/{case.listing['id']}")
    assert r.status_code == 200
    assert f'<a href="/auctions/{case.id}" data-testid="auction-link">' in r.text
    assert str(shanghai(datetime.fromisoformat(auction["ends_at"]), seconds=True)) in r.text
    assert "竞价中" in r.text


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, db, market) -> None:
    for path in (
        "/listings",
        f"/listings/{market['battery']['id']}",
        "/certificates",
        "/login",
        "/favicon.ico",
    ):
        got, head = await client.get(path), await client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == got.headers["content-length"], path
    assert (await client.head("/listings")).headers["content-security-policy"] == CSP
    assert (await client.head("/no/such/page")).status_code == 404
    r = await client.head("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/dashboard"
    assert (await client.head("/")).status_code == 302
    # The API's routes are the API's business: HEAD there is unchanged.
    assert (await client.head("/api/v1/listings")).status_code == 405
