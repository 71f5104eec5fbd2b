"""The listing page's actions (SPEC §19.4 ``/listings/{id}``) over HTTP on both databases: register (a verified
non-seller organization's member, during the listing period; the dialog's deposit and available balance),
an offer on a negotiated listing, an objection to a deal in public notice. Each is a page form posted with
the hidden CSRF token to the API's service; success goes back to the page with a flash, a refusal shows the
page again with the Chinese message and the code and keeps nothing."""

from __future__ import annotations

import html
import json
import re

import httpx

from app.web.templating import money
from tests import factories as f
from tests import trading as t
from tests.settlement import helpers as s
from tests.web import helpers as w


def _refusal(page: str) -> tuple[str, str]:
    found = re.search(r'data-testid="action-error" data-code="([^"]+)">([^<]*)<', page)
    assert found, "no refusal on the page"
    return found.group(1), found.group(2)


async def _post(client: httpx.AsyncClient, url: str, **fields: str) -> httpx.Response:
    token = await w.csrf_token(client, url.rsplit("/", 1)[0])
    return await client.post(url, data={"csrf_token": token, **fields})


async def test_registering_from_the_listing_page(client: httpx.AsyncClient, db) -> None:
    op, seller, buyer, _ = await s.parties(client, db)
    listing = await t.published_listing(
        client, op, seller, pricing_mode="listed", price="300000.00", deposit="20000.00"
    )
    page_url = f"/listings/{listing['id']}"
    url = f"{page_url}/register"
    # Signed out: a login link, and the form's target sends to the login page back to the listing.
    r = await client.get(page_url)
    assert 'data-testid="register-login"' in r.text and 'data-testid="register-button"' not in r.text
    r = await client.post(url)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={page_url}"

    await w.sign_in(client, buyer.email)
    await t.fund(client, op, buyer, "5000.00")
    r = await client.get(page_url)
    assert 'data-testid="register-button"' in r.text
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*data-confirm-lines="([^"]+)"', r.text, re.S)
    assert form and form.group(1) == url
    lines = json.loads(html.unescape(form.group(2)))
    assert "保证金：¥20,000.00" in lines and "账户可用余额：¥5,000.00" in lines  # what the dialog shows
    # Without the page's token nothing happens.
    assert (await client.post(url, data={"csrf_token": "forged"})).status_code == 403
    # The account cannot hold the deposit: refused in Chinese with the code, nothing kept.
    r = await _post(client, url)
    assert r.status_code == 409 and _refusal(r.text) == (
        "insufficient_funds",
        "账户可用余额不足（insufficient_funds）",
    )
    assert 'role="alert"' in r.text and 'data-testid="register-button"' in r.text
    mine = await client.get(f"/api/v1/listings/{listing['id']}/registrations", headers=buyer.headers)
    assert mine.json()["items"] == []
    assert (await t.balance(client, buyer))["held"] == "0.00"

    await t.fund(client, op, buyer, "15000.00")
    r = await _post(client, url)
    assert r.status_code == 303 and r.headers["location"] == f"{page_url}?done=registered"
    registration = (
        await client.get(f"/api/v1/listings/{listing['id']}/registrations", headers=buyer.headers)
    ).json()["items"][0]
    assert (await t.balance(client, buyer))["held"] == "20000.00"
    r = await client.get(r.headers["location"])
    assert 'data-testid="flash">报名成功，保证金已冻结<' in r.text
    assert f'data-testid="bidder-code">{registration["bidder_code"]}<' in r.text
    assert 'data-testid="registration-status">已取得资格<' in r.text
    assert 'data-testid="register-button"' not in r.text
    # Once is enough; the seller may not register; an operator has no organization to register.
    r = await _post(client, url)
    assert r.status_code == 409 and _refusal(r.text)[0] == "already_registered"
    await w.sign_in(client, seller.email)
    r = await _post(client, url)
    assert r.status_code == 403 and _refusal(r.text)[0] == "forbidden"
    assert (await t.balance(client, seller))["held"] == "0.00"


async def test_offering_from_the_listing_page(client: httpx.AsyncClient, db) -> None:
    op, seller, buyer, _ = await s.parties(client, db)
    unverified = await f.organization(client)
    listing = await t.published_listing(client, op, seller, price="500000.00")
    page_url = f"/listings/{listing['id']}"
    url = f"{page_url}/offers"
    r = await client.get(page_url)
    assert 'data-testid="register-login">登录后报价<' in r.text and 'data-testid="offer-form"' not in r.text

    await w.sign_in(client, buyer.email)
    r = await client.get(page_url)
    assert (
        'data-testid="offer-form"' in r.text and '<label for="offer-price">报价金额（元）</label>' in r.text
    )
    r = await _post(client, url, price="abc")
    assert r.status_code == 422 and _refusal(r.text)[0] == "validation_error"
    assert 'value="abc"' in r.text  # the form keeps what was typed
    r = await _post(client, url, price="¥450,000", message="可分期付款吗？")
    assert r.status_code == 303 and r.headers["location"] == f"{page_url}?done=offered"
    offers = (await client.get(f"/api/v1/listings/{listing['id']}/offers", headers=buyer.headers)).json()
    [offer] = offers["items"]
    assert (offer["price"], offer["status"], offer["made_by"]) == ("450000.00", "open", "buyer")
    assert offer["message"] == "可分期付款吗？"
    r = await client.get(r.headers["location"])
    assert 'data-testid="flash">报价已提交，等待出让方答复<' in r.text
    # One open offer per thread: the API's refusal, in Chinese.
    r = await _post(client, url, price="460000")
    assert r.status_code == 409
    assert _refusal(r.text) == (
        "offer_already_open",
        "您已有一个待答复的报价，请等待答复或先撤回（offer_already_open）",
    )
    assert 'value="460000"' in r.text
    # Neither the seller nor an unverified organization may offer.
    for who, code in ((seller, "forbidden"), (unverified, "organization_not_verified")):
        await w.sign_in(client, who.email)
        assert 'data-testid="offer-form"' not in (await client.get(page_url)).text
        r = await _post(client, url, price="470000")
        assert r.status_code == 403 and _refusal(r.text)[0] == code
    offers = (await client.get(f"/api/v1/listings/{listing['id']}/offers", headers=seller.headers)).json()
    assert len(offers["items"]) == 1


async def test_objecting_to_a_deal_in_public_notice(client: httpx.AsyncClient, db) -> None:
    actors = await s.parties(client, db, seller_kind="university")
    case = await s.offer_deal(client, db, actors=actors)
    assert case.deal["status"] == "public_notice", case.deal
    page_url = f"/listings/{case.listing['id']}"
    url = f"{page_url}/objections"
    r = await client.get(page_url)
    assert f'data-testid="public-notice" data-id="{case.id}"' in r.text
    assert 'data-testid="objection-form"' not in r.text

    await w.sign_in(client, case.outsider.email)
    r = await client.get(page_url)
    assert 'data-testid="objection-form"' in r.text and '<label for="objection-' in r.text
    r = await _post(client, url, deal_id=case.id, reason="  ")
    assert r.status_code == 422 and _refusal(r.text)[0] == "validation_error"
    other = await s.offer_deal(client, db, actors=actors)  # a deal of another listing: not this page's
    r = await _post(client, url, deal_id=other.id, reason="价格过低")
    assert r.status_code == 404
    r = await _post(client, url, deal_id=case.id, reason="成交价明显低于评估价。")
    assert r.status_code == 303 and r.headers["location"] == f"{page_url}?done=objected"
    filed = (await client.get("/api/v1/objections", headers=case.outsider.headers)).json()["items"]
    assert [(o["deal_id"], o["reason"], o["status"]) for o in filed] == [
        (case.id, "成交价明显低于评估价。", "pending")
    ]
    r = await client.get(r.headers["location"])
    assert 'data-testid="flash">异议已提交，交易所将审核处理<' in r.text
    r = await _post(client, url, deal_id=case.id, reason="再次提出")
    assert r.status_code == 409 and _refusal(r.text)[0] == "objection_exists"
    # Operators resolve objections, they do not file them; after the notice the form is gone.
    await w.sign_in(client, case.op.email)
    assert 'data-testid="objection-form"' not in (await client.get(page_url)).text
    r = await _post(client, url, deal_id=case.id, reason="运营人员")
    assert r.status_code == 403 and _refusal(r.text)[0] == "forbidden"
    client.cookies.clear()
    await t.advance_past(client, case.deal["notice_ends_at"])
    await w.sign_in(client, case.outsider.email)
    assert 'data-testid="objection-form"' not in (await client.get(page_url)).text
    assert money("500000.00") in (await client.get(page_url)).text
