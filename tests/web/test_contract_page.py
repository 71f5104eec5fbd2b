"""The contract page (SPEC §19.4 ``/contracts/{id}``, ``/contracts/{id}/pdf``) over HTTP on both databases: what
each party and an operator see, the 404 page for others and the login redirect signed out, the PDF's bytes
(the API's), signing through the page's form (the SHA-256 shown, the hidden CSRF token, the service's refusals:
a stale hash is ``contract_changed`` and asks for a reload), and the dashboard's link to the contract."""

from __future__ import annotations

import html
import re
from datetime import datetime

import httpx
import pytest

from app.web.templating import money, shanghai
from tests import factories as f
from tests.equity import helpers as e
from tests.settlement import helpers as h
from tests.web import helpers as w
from tests.world import World, org

pytestmark = pytest.mark.world(seller=org(), buyer=org(), outsider=org())

_TEXT = re.compile(r'<pre class="contract-text" data-testid="contract-text">(.*?)</pre>', re.S)
_PDF_STAMPS = re.compile(rb"/CreationDate \(D:[^)]*\)|/ID \[<[0-9A-F]+><[0-9A-F]+>\]")


def _value(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', page)
    assert found, testid
    return found.group(1)


def _signatures(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="signature-row" data-party="(buyer|seller)">(.*?)</tr>', page, re.S)


def _unstamped(pdf: bytes) -> bytes:
    """The PDF without its creation time and the file id made from it (two renders a second apart differ there)."""
    return _PDF_STAMPS.sub(b"", pdf)


async def _page_sign(
    client: httpx.AsyncClient, contract_id: str, sha256: str, token: str | None
) -> httpx.Response:
    data = {"sha256": sha256}
    if token is not None:
        data["csrf_token"] = token
    return await client.post(f"/contracts/{contract_id}/sign", data=data)


async def test_the_contract_page_signing_and_the_pdf(client: httpx.AsyncClient, db, world: World) -> None:
    op, seller, buyer, outsider = world
    # An equity contribution of an enterprise (no public notice): awaiting signatures, its text rendered again
    # when the terms and the valuation are recorded.
    deal = await e.negotiated_deal(client, op, seller, buyer)
    assert deal["status"] == "awaiting_signatures"
    cid = deal["contract_id"]
    path = f"/contracts/{cid}"

    # Signed out: the login page, back here afterwards.
    for target in (path, path + "/pdf"):
        r = await client.get(target)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={target}"

    await w.sign_in(client, buyer.email)
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    api = (await client.get(f"/api/v1/contracts/{cid}", headers=buyer.headers)).json()
    found = _TEXT.search(r.text)
    assert found and html.unescape(found.group(1)) == api["text"]
    assert _value(r.text, "contract-sha256") == api["sha256"]
    assert _value(r.text, "deal-price") == money(deal["price"])
    assert str(shanghai(datetime.fromisoformat(deal["sign_by"]))) in r.text
    assert seller.org is not None and buyer.org is not None
    assert seller.org["name"] in r.text and buyer.org["credit_code"] in r.text
    assert 'data-testid="sign-button"' in r.text and not _signatures(r.text)
    assert f'href="{path}/pdf" data-testid="contract-pdf"' in r.text
    assert ">awaiting_signatures<" not in r.text and ">equity_contribution<" not in r.text
    stale = _value(r.text, "contract-sha256")
    token = w.csrf_of(r.text)

    # The PDF: the API's bytes, with the session's cookie.
    r = await client.get(path + "/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    from_api = await client.get(f"/api/v1/contracts/{cid}/pdf", headers=buyer.headers)
    assert from_api.status_code == 200 and _unstamped(r.content) == _unstamped(from_api.content)

    # The service's refusals, in Chinese with their code; nothing is signed.
    r = await _page_sign(client, cid, stale, token)
    assert r.status_code == 409 and 'data-code="equity_terms_required"' in r.text
    await e.agree(client, seller, buyer, deal)  # terms and a report: the text is rendered again
    current = (await client.get(f"/api/v1/contracts/{cid}", headers=buyer.headers)).json()["sha256"]
    assert current != stale
    r = await _page_sign(client, cid, stale, token)
    assert (
        r.status_code == 409
        and 'role="alert" data-testid="sign-message" data-code="contract_changed"' in r.text
    )
    assert "请刷新页面" in r.text and f'<a href="{path}">刷新页面</a>' in r.text
    assert 'data-testid="sign-button"' not in r.text  # read the new text first
    r = await _page_sign(client, cid, "not-a-hash", token)
    assert r.status_code == 422 and 'data-code="validation_error"' in r.text
    # Without the session's token: the CSRF refusal, and nothing changes.
    r = await _page_sign(client, cid, current, None)
    assert r.status_code == 403 and "页面已过期" in r.text
    r = await _page_sign(client, cid, current, "forged")
    assert r.status_code == 403
    assert (await client.get(f"/api/v1/contracts/{cid}", headers=buyer.headers)).json()["signatures"] == []

    # The page read again shows the new hash, which the buyer signs.
    r = await client.get(path)
    assert _value(r.text, "contract-sha256") == current
    r = await _page_sign(client, cid, current, token)
    assert r.status_code == 303 and r.headers["location"] == f"{path}?signed=1"
    r = await client.get(r.headers["location"])
    assert _value(r.text, "flash") == "签署成功"
    signed = _signatures(r.text)
    assert [party for party, _ in signed] == ["buyer"]
    api = (await client.get(f"/api/v1/contracts/{cid}", headers=buyer.headers)).json()
    (signature,) = api["signatures"]
    assert signature["sha256"] == current
    me = (await client.get("/api/v1/me", headers=buyer.headers)).json()
    assert me["name"] in signed[0][1]
    assert str(shanghai(datetime.fromisoformat(signature["signed_at"]))) in signed[0][1]
    assert 'data-testid="sign-button"' not in r.text  # signed once
    r = await _page_sign(client, cid, current, token)  # a second time: the service's refusal
    assert r.status_code == 409 and 'data-code="invalid_state"' in r.text

    # The dashboard's deal row links to its contract.
    r = await client.get("/dashboard")
    assert f'href="{path}" data-testid="contract-link"' in r.text

    # The seller signs too: awaiting payment, pay_by shown.
    await w.sign_in(client, seller.email)
    r = await client.get(path)
    assert r.status_code == 200 and 'data-testid="sign-button"' in r.text
    r = await _page_sign(client, cid, _value(r.text, "contract-sha256"), w.csrf_of(r.text))
    assert r.status_code == 303
    r = await client.get(path)
    assert sorted(party for party, _ in _signatures(r.text)) == ["buyer", "seller"]
    deal = await h.get(client, op, deal["id"])
    assert deal["status"] == "awaiting_payment"
    assert _value(r.text, "deal-status") == "待付款" and _value(r.text, "contract-status") == "已签署"
    assert str(shanghai(datetime.fromisoformat(deal["pay_by"]))) in r.text
    assert 'data-testid="sign-button"' not in r.text

    # An operator reads it (no sign button); another organization gets the 404 page, as from the API.
    await w.sign_in(client, op.email)
    r = await client.get(path)
    assert r.status_code == 200 and _value(r.text, "contract-sha256") == current
    assert 'data-testid="sign-button"' not in r.text
    await w.sign_in(client, outsider.email)
    for target in (path, path + "/pdf"):
        r = await client.get(target)
        assert r.status_code == 404 and "页面不存在" in r.text
    r = await _page_sign(client, cid, current, w.csrf_of((await client.get("/dashboard")).text))
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/contracts/{cid}", headers=outsider.headers)).status_code == 404


async def test_a_party_whose_deal_is_in_public_notice_has_no_sign_button(
    client: httpx.AsyncClient, db, world: World
) -> None:
    op, _, buyer, _ = world
    university = await f.organization(client, kind="university", verified_by=op)
    case = await h.offer_deal(client, db, actors=(op, university, buyer, world.outsider))
    assert case.deal["status"] == "public_notice"
    await w.sign_in(client, buyer.email)
    r = await client.get(f"/contracts/{case.deal['contract_id']}")
    assert r.status_code == 200 and _value(r.text, "deal-status") == "公示中"
    assert 'data-testid="sign-button"' not in r.text
    r = await _page_sign(client, case.deal["contract_id"], "0" * 64, w.csrf_of(r.text))
    assert r.status_code == 409 and 'data-code="invalid_state"' in r.text
