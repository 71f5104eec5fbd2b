"""The company dashboard (SPEC §19.4 ``/dashboard``) over HTTP on both databases: the account with its held
deposits, registrations, own offer threads (one row per thread, by its latest move) and deals as buyer with
the pay button, read through the API's services; the pay the page's script makes (cookie, CSRF header,
Idempotency-Key) and the page after it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx

from app.web.labels import label
from app.web.templating import money, shanghai
from tests import trading as t
from tests.negotiation import helpers as n
from tests.settlement import helpers as s
from tests.web import helpers as w


def _rows(html: str, testid: str) -> dict[str, str]:
    """data-id → the row's HTML, for every row of ``testid``."""
    found = re.findall(rf'<tr data-testid="{testid}" data-id="([^"]+)"(.*?)</tr>', html, re.S)
    return {row_id: body for row_id, body in found}


def _value(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1)


async def test_dashboard_rows_and_paying_a_deal(client: httpx.AsyncClient, db) -> None:
    case = await s.offer_deal(client, db)
    op, seller, buyer, outsider = case.op, case.seller, case.buyer, case.outsider
    deal = await s.awaiting_payment(client, db, case)
    await s.fund_amount_due(client, case)
    # A registration with its deposit held.
    await t.fund(client, op, buyer, "20000.00")
    listed = await t.published_listing(
        client,
        op,
        seller,
        title="储能电池管理系统",
        pricing_mode="listed",
        price="300000.00",
        deposit="20000.00",
    )
    r = await client.post(f"/api/v1/listings/{listed['id']}/registrations", headers=buyer.headers)
    assert r.status_code == 201, r.text
    registration = r.json()
    # A thread the seller countered: one row, its latest move.
    talks = await t.published_listing(client, op, seller, title="柔性显示基板")
    first = await n.offer(client, buyer, talks["id"], "400000.00")
    expires = (await t.now(client) + timedelta(days=3)).isoformat()
    counter = await n.move(
        client, seller, first["id"], "counter", {"price": "450000.00", "expires_at": expires}
    )

    await w.sign_in(client, buyer.email)
    r = await client.get("/dashboard")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    account = await t.balance(client, buyer)
    assert _value(r.text, "account-available") == money(account["available"])
    assert _value(r.text, "account-held") == money("20000.00") == money(account["held"])
    assert f'data-testid="held-deposit" data-listing-id="{listed["id"]}"' in r.text

    regs = _rows(r.text, "registration-row")
    assert list(regs) == [registration["id"]]
    row = regs[registration["id"]]
    assert f'data-listing-id="{listed["id"]}"' in row and "储能电池管理系统" in row
    assert (
        f">{registration['bidder_code']}<" in row
        and label(registration["status"], "registration_status") in row
        and "¥20,000.00" in row
    )

    assert (
        f'data-testid="withdraw-button" data-registration-id="{registration["id"]}" data-deposit="20000.00"'
        in row
    )

    offers = _rows(r.text, "offer-row")
    assert len(offers) == 2
    assert counter["id"] in offers and first["id"] not in offers
    countered = offers[counter["id"]]
    assert "¥450,000.00" in countered and "待答复" in countered and "出让方" in countered
    assert str(shanghai(datetime.fromisoformat(counter["expires_at"]))) in countered
    assert 'data-testid="offer-accept"' in countered and 'data-testid="offer-reject"' in countered
    assert 'data-testid="offer-withdraw"' not in countered
    assert any("已接受" in body and "¥500,000.00" in body for body in offers.values())
    assert all('data-testid="offer-' not in body for key, body in offers.items() if key != counter["id"])

    deals = _rows(r.text, "deal-row")
    assert list(deals) == [deal["id"]]
    row = deals[deal["id"]]
    assert "待付款" in row and "专利权转让" in row and "¥500,000.00" in row
    assert money(deal["amount_due"]) in row
    assert str(shanghai(datetime.fromisoformat(deal["pay_by"]))) in row
    assert str(shanghai(datetime.fromisoformat(deal["sign_by"]))) in row
    assert (
        f'data-testid="pay-button" data-deal-id="{deal["id"]}" data-amount-due="{deal["amount_due"]}"' in row
    )
    assert (
        f'<a href="/contracts/{deal["contract_id"]}" data-testid="contract-link">' in row
    )  # open the contract
    for raw in (">awaiting_payment<", ">pending_review<", ">open<", ">assignment<", ">held<"):
        assert raw not in r.text

    # The script's request: the session cookie, the page's token as X-CSRF-Token, an Idempotency-Key.
    token = w.csrf_of(r.text)
    paid = await client.post(
        f"/api/v1/deals/{deal['id']}/pay", headers={"X-CSRF-Token": token, "Idempotency-Key": "dash-pay-1"}
    )
    assert paid.status_code == 200, paid.text
    again = await client.post(
        f"/api/v1/deals/{deal['id']}/pay", headers={"X-CSRF-Token": token, "Idempotency-Key": "dash-pay-1"}
    )
    assert again.status_code == 200 and again.json() == paid.json()
    r = await client.get("/dashboard")
    row = _rows(r.text, "deal-row")[deal["id"]]
    assert "已付款" in row and 'data-testid="pay-button"' not in row
    assert _value(r.text, "account-available") == money((await t.balance(client, buyer))["available"])

    # Withdrawing the registration (the script's request again): the row says so, the deposit is no longer held.
    r = await client.post(
        f"/api/v1/registrations/{registration['id']}/withdraw",
        headers={"X-CSRF-Token": token, "Idempotency-Key": "dash-withdraw-1"},
    )
    assert r.status_code == 200, r.text
    r = await client.get("/dashboard")
    row = _rows(r.text, "registration-row")[registration["id"]]
    assert "已撤回" in row and "已退还" in row and 'data-testid="withdraw-button"' not in row
    assert 'data-testid="held-deposit"' not in r.text and _value(r.text, "account-held") == money(0)
    # After the listing period nothing can be withdrawn: no button.
    other = await t.published_listing(
        client, op, seller, title="空调压缩机", pricing_mode="listed", price="100000.00", deposit="1000.00"
    )
    await t.fund(client, op, buyer, "1000.00")
    late = await client.post(f"/api/v1/listings/{other['id']}/registrations", headers=buyer.headers)
    assert late.status_code == 201, late.text
    r = await client.get("/dashboard")
    assert 'data-testid="withdraw-button" data-registration-id="' + late.json()["id"] in r.text
    client.cookies.clear()  # the sandbox clock is moved with an operator's token, not this session
    await t.advance_past(client, other["listing_ends_at"])
    await w.sign_in(client, buyer.email)
    r = await client.get("/dashboard")
    assert 'data-testid="withdraw-button"' not in _rows(r.text, "registration-row")[late.json()["id"]]

    # Others see their own desk only; operators have theirs.
    await w.sign_in(client, outsider.email)
    r = await client.get("/dashboard")
    assert r.status_code == 200
    assert not _rows(r.text, "registration-row") and not _rows(r.text, "offer-row")
    assert not _rows(r.text, "deal-row")
    await w.sign_in(client, seller.email)
    r = await client.get("/dashboard")
    assert not _rows(r.text, "deal-row")  # deals as buyer only
    assert (await client.get("/api/v1/deals", headers=seller.headers)).json()["items"]


async def test_answering_offers_with_the_pages_requests(client: httpx.AsyncClient, db) -> None:
    """The dashboard's offer actions are the API's, called with the session cookie and the page's token: a
    counter to the seller's counter, its withdrawal, a rejection; refused without the token, and another
    organization's thread is not found."""
    op, seller, buyer, outsider = await s.parties(client, db)
    talks = await t.published_listing(client, op, seller, title="柔性显示基板")
    other = await t.published_listing(client, op, seller, title="柔性电路板")
    first = await n.offer(client, buyer, talks["id"], "400000.00")
    theirs = await n.move(client, seller, first["id"], "counter", {"price": "450000.00"})
    second = await n.offer(client, buyer, other["id"], "300000.00")
    to_reject = await n.move(client, seller, second["id"], "counter", {"price": "350000.00"})

    await w.sign_in(client, buyer.email)
    token = w.csrf_of((await client.get("/dashboard")).text)
    r = await client.post(f"/api/v1/offers/{theirs['id']}/counter", json={"price": "420000.00"})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    headers = {"X-CSRF-Token": token, "Idempotency-Key": "dash-counter-1"}
    r = await client.post(
        f"/api/v1/offers/{theirs['id']}/counter", json={"price": "420000.00"}, headers=headers
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    page = await client.get("/dashboard")
    offers = _rows(page.text, "offer-row")
    assert theirs["id"] not in offers and mine["id"] in offers
    assert "¥420,000.00" in offers[mine["id"]] and "我方" in offers[mine["id"]]
    assert 'data-testid="offer-withdraw"' in offers[mine["id"]]
    assert 'data-testid="offer-accept"' not in offers[mine["id"]]
    headers = {"X-CSRF-Token": token, "Idempotency-Key": "dash-withdraw-offer-1"}
    r = await client.post(f"/api/v1/offers/{mine['id']}/withdraw", headers=headers)
    assert r.status_code == 200, r.text
    headers = {"X-CSRF-Token": token, "Idempotency-Key": "dash-reject-1"}
    r = await client.post(f"/api/v1/offers/{to_reject['id']}/reject", headers=headers)
    assert r.status_code == 200, r.text
    offers = _rows((await client.get("/dashboard")).text, "offer-row")
    assert "已撤回" in offers[mine["id"]] and "已拒绝" in offers[to_reject["id"]]
    assert all('data-testid="offer-' not in body for body in offers.values())
    # Another organization's session cannot answer the buyer's thread.
    await w.sign_in(client, outsider.email)
    token = w.csrf_of((await client.get("/dashboard")).text)
    r = await client.post(
        f"/api/v1/offers/{to_reject['id']}/accept", headers={"X-CSRF-Token": token, "Idempotency-Key": "x-1"}
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"
