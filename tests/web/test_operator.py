"""The operator's desks (SPEC §19.4 ``/operator``, ``/operator/payments``, ``/operator/deals``,
``/operator/ledger``, ``/operator/audit``) over HTTP on both databases: each desk's rows, their order,
``?q=`` and paging by 50; each action (a plain form with the session's CSRF field) and its effect through the
API, its refusal shown on the desk with the problem's status; operators only (members get the 403 page,
signed-out visitors the sign-in page)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.web import operator_queries
from app.web.templating import money
from tests import factories as f
from tests import trading as t
from tests.settlement import helpers as s
from tests.web import helpers as w

DESKS = ("/operator", "/operator/payments", "/operator/deals", "/operator/ledger", "/operator/audit")


def _ids(html: str, testid: str) -> list[str]:
    return re.findall(rf'<tr data-testid="{testid}" data-id="([^"]+)"', html)


def _queue(html: str) -> list[str]:
    """Every row of the review queue in page order (organization, listing, registration and objection)."""
    return re.findall(
        r'<tr data-testid="(?:review-org-row|review-listing-row|review-registration-row|objection-row)"'
        r' data-id="([^"]+)"',
        html,
    )


def _row(html: str, testid: str, row_id: str) -> str:
    found = re.search(rf'<tr data-testid="{testid}" data-id="{row_id}"(.*?)</tr>', html, re.S)
    assert found, (testid, row_id)
    return found.group(1)


def _refusal(html: str) -> str | None:
    found = re.search(r'data-testid="operator-message" data-code="([^"]+)"', html)
    return found.group(1) if found else None


async def _post(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    token = await w.csrf_token(client, "/operator/audit")
    return await client.post(path, data={"csrf_token": token, **data})


async def _draft(client: httpx.AsyncClient, seller: f.Actor, title: str) -> dict[str, Any]:
    """A listing of ``seller`` submitted for review: ``pending_review``."""
    patent = await f.patent(client, seller)
    body = {
        "title": title,
        "summary": "待审核的项目。",
        "patent_ids": [patent["id"]],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "800000.00",
    }
    r = await client.post("/api/v1/listings", json=body, headers=seller.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/listings/{r.json()['id']}/submit", headers=seller.headers)
    assert r.status_code == 200, r.text
    listing: dict[str, Any] = r.json()
    return listing


async def _api(client: httpx.AsyncClient, who: f.Actor, path: str) -> dict[str, Any]:
    """What the API says (with a token, the page's session cookie is ignored)."""
    r = await client.get(path, headers=who.headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_the_review_queue(client: httpx.AsyncClient, db, monkeypatch: pytest.MonkeyPatch) -> None:
    op = await f.operator(client, db)
    university = await f.organization(client, kind="university", verified_by=op, name="西湖示范大学")
    buyer = await f.organization(client, verified_by=op, name="杭州储能科技有限公司")
    objectors = [await f.organization(client, verified_by=op) for _ in range(2)]
    # Waiting, oldest first: an organization, a listing, a registration, two objections, a second listing.
    pending_org = await f.organization(client, name="宁波待审新材料有限公司")
    listing = await _draft(client, university, "固态电解质专利转让")
    review = await t.published_listing(
        client,
        op,
        university,
        title="氢燃料电池双极板",
        pricing_mode="listed",
        price="200000.00",
        deposit="20000.00",
        requires_qualification_review=True,
    )
    await t.fund(client, op, buyer, "20000.00")
    r = await client.post(f"/api/v1/listings/{review['id']}/registrations", headers=buyer.headers)
    assert r.status_code == 201 and r.json()["status"] == "pending_review", r.text
    registration = r.json()
    # A public institution's negotiated deal is in public notice: two objections to it.
    talks = await t.published_listing(client, op, university, title="高效光伏组件封装")
    r = await client.post(
        f"/api/v1/listings/{talks['id']}/offers", json={"price": "500000.00"}, headers=buyer.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/offers/{r.json()['id']}/accept", headers=university.headers)
    deal_id = r.json()["deal_id"]
    objections = []
    for who in objectors:
        r = await client.post(
            f"/api/v1/deals/{deal_id}/objections", json={"reason": "价格明显偏低"}, headers=who.headers
        )
        assert r.status_code == 201, r.text
        objections.append(r.json())
    second = await _draft(client, university, "钠离子电池正极材料")
    order = [
        pending_org.org_id,
        listing["id"],
        registration["id"],
        *[o["id"] for o in objections],
        second["id"],
    ]

    await w.sign_in(client, op.email)
    r = await client.get("/operator")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert _queue(r.text) == order
    org_row = _row(r.text, "review-org-row", str(pending_org.org_id))
    assert "宁波待审新材料有限公司" in org_row and pending_org.org["credit_code"] in org_row
    assert 'data-testid="verify-button"' in org_row
    row = _row(r.text, "review-listing-row", listing["id"])
    assert "固态电解质专利转让" in row and "西湖示范大学" in row and money("800000.00") in row
    assert 'data-testid="approve-button"' in row and 'data-testid="reject-button"' in row
    row = _row(r.text, "review-registration-row", registration["id"])
    assert "杭州储能科技有限公司" in row and registration["bidder_code"] in row and money("20000.00") in row
    assert 'data-testid="qualify-button"' in row and 'data-testid="disqualify-button"' in row
    row = _row(r.text, "objection-row", objections[0]["id"])
    assert "高效光伏组件封装" in row and "价格明显偏低" in row and objectors[0].org["name"] in row
    for raw in (">pending_review<", ">university<", ">enterprise<", ">negotiated<"):
        assert raw not in r.text

    # ?q= keeps the rows whose id, name, credit code or title contains it.
    r = await client.get("/operator", params={"q": "固态电解质"})
    assert _queue(r.text) == [listing["id"]]
    r = await client.get("/operator", params={"q": pending_org.org["credit_code"].lower()})
    assert _queue(r.text) == [pending_org.org_id]
    r = await client.get("/operator", params={"q": registration["id"][-12:]})
    assert _queue(r.text) == [registration["id"]]
    r = await client.get("/operator", params={"q": registration["id"].replace("-", "")[:20].upper()})
    assert _queue(r.text) == [registration["id"]]
    r = await client.get("/operator", params={"q": "杭州储能"})  # the registrant's name
    assert _queue(r.text) == [registration["id"]]
    r = await client.get("/operator", params={"q": "100%_"})
    assert r.status_code == 200 and _queue(r.text) == []
    r = await client.get("/operator", params={"q": "x" * 101})
    assert r.status_code == 422 and _refusal(r.text) == "invalid_query"

    # Paged (50 rows a page; here 4): the next page follows the last row.
    assert operator_queries.PAGE_ROWS == 50
    monkeypatch.setattr(operator_queries, "PAGE_ROWS", 4)
    r = await client.get("/operator")
    assert _queue(r.text) == order[:4]
    found = re.search(r'href="([^"]+)" data-testid="next-page"', r.text)
    assert found
    r = await client.get(found.group(1).replace("&amp;", "&"))
    assert _queue(r.text) == order[4:] and 'data-testid="next-page"' not in r.text
    r = await client.get("/operator", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert r.status_code == 422 and _refusal(r.text) == "invalid_cursor"
    monkeypatch.undo()

    # Actions. A rejection needs a reason: without one, 422 on the desk and nothing changes.
    r = await _post(client, f"/operator/listings/{listing['id']}/reject", reason="  ")
    assert r.status_code == 422 and _refusal(r.text) == "reason_required"
    assert (await _api(client, university, f"/api/v1/listings/{listing['id']}"))["status"] == "pending_review"
    r = await _post(client, f"/operator/listings/{listing['id']}/reject", reason="专利权属证明不全")
    assert r.status_code == 303 and r.headers["location"].startswith("/operator?")
    after = await _api(client, university, f"/api/v1/listings/{listing['id']}")
    assert after["status"] == "draft" and after["rejection_reason"] == "专利权属证明不全"
    r = await client.get(r.headers["location"])
    assert 'data-testid="flash"' in r.text and "已退回该项目" in r.text
    assert listing["id"] not in _queue(r.text)
    # The same row again: the service's refusal, with its status.
    r = await _post(client, f"/operator/listings/{listing['id']}/approve")
    assert r.status_code == 409 and _refusal(r.text) == "invalid_state"

    r = await _post(client, f"/operator/listings/{second['id']}/approve", q="钠离子")
    assert r.status_code == 303
    assert (await _api(client, university, f"/api/v1/listings/{second['id']}"))["status"] == "published"

    r = await _post(client, f"/operator/organizations/{pending_org.org_id}/verify")
    assert r.status_code == 303
    assert (await _api(client, pending_org, f"/api/v1/organizations/{pending_org.org_id}"))[
        "status"
    ] == "verified"
    r = await _post(client, f"/operator/organizations/{pending_org.org_id}/verify")
    assert r.status_code == 409 and _refusal(r.text) == "invalid_state"

    r = await _post(client, f"/operator/registrations/{registration['id']}/disqualify")
    assert r.status_code == 422 and _refusal(r.text) == "reason_required"
    r = await _post(client, f"/operator/registrations/{registration['id']}/qualify")
    assert r.status_code == 303
    mine = await _api(client, buyer, f"/api/v1/registrations/{registration['id']}")
    assert mine["status"] == "qualified"

    r = await _post(client, f"/operator/objections/{objections[0]['id']}/dismiss")
    assert r.status_code == 303
    r = await _post(client, f"/operator/objections/{objections[1]['id']}/uphold")
    assert r.status_code == 303
    assert (await _api(client, op, f"/api/v1/objections/{objections[0]['id']}"))["status"] == "dismissed"
    assert (await _api(client, op, f"/api/v1/objections/{objections[1]['id']}"))["status"] == "upheld"
    assert (await _api(client, op, f"/api/v1/deals/{deal_id}"))["status"] == "cancelled"
    r = await _post(client, f"/operator/objections/{objections[1]['id']}/dismiss")
    assert r.status_code == 409 and _refusal(r.text) == "invalid_state"
    r = await _post(client, f"/operator/objections/{objections[1]['id']}/overrule")
    assert r.status_code == 404

    r = await client.get("/operator")
    assert _queue(r.text) == [] and 'data-testid="queue-empty"' in r.text

    # A form without the session's token changes nothing.
    third = await _draft(client, university, "柔性电路板")
    r = await client.post(f"/operator/listings/{third['id']}/approve", data={"csrf_token": "forged"})
    assert r.status_code == 403 and "页面已过期" in r.text
    assert (await _api(client, university, f"/api/v1/listings/{third['id']}"))["status"] == "pending_review"


async def test_operators_only(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    member = await f.organization(client, verified_by=op)
    pending = await f.organization(client)
    for desk in DESKS:
        r = await client.get(desk)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={desk}", desk
    r = await client.post(f"/operator/organizations/{pending.org_id}/verify")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/operator"
    await w.sign_in(client, member.email)
    for desk in DESKS:
        r = await client.get(desk)
        assert r.status_code == 403 and "无权访问" in r.text, desk
    token = await w.csrf_token(client, "/dashboard")
    r = await client.post(f"/operator/organizations/{pending.org_id}/verify", data={"csrf_token": token})
    assert r.status_code == 403
    r = await client.post("/operator/audit", data={"csrf_token": token})
    assert r.status_code == 403
    assert (await _api(client, op, f"/api/v1/organizations/{pending.org_id}"))["status"] == "pending"


async def test_recording_bank_payments(
    client: httpx.AsyncClient, db, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = await f.operator(client, db)
    payer = await f.organization(client, verified_by=op, name="绍兴纺织机械有限公司")
    twins = [await f.organization(client, verified_by=op, name="同名科技有限公司") for _ in range(2)]
    await w.sign_in(client, op.email)
    r = await client.get("/operator/payments")
    assert r.status_code == 200 and 'data-testid="payment-form"' in r.text

    # By credit code (any letter case), the amount as a person types it.
    code = payer.org["credit_code"]
    r = await _post(
        client,
        "/operator/payments",
        organization=code.lower(),
        amount="¥1,250,000",
        bank_reference="ICBC-001",
    )
    assert r.status_code == 303 and "done=payment" in r.headers["location"]
    assert (await t.balance(client, payer))["available"] == "1250000.00"
    # By name; the same bank reference with the same terms credits once.
    r = await _post(
        client,
        "/operator/payments",
        organization="绍兴纺织机械有限公司",
        amount="300.5",
        bank_reference="ICBC-002",
    )
    assert r.status_code == 303
    r = await _post(
        client, "/operator/payments", organization=code, amount="300.50", bank_reference="ICBC-002"
    )
    assert r.status_code == 303 and "done=payment_replayed" in r.headers["location"]
    r = await client.get(r.headers["location"])
    assert "该银行流水号此前已登记，未重复入账" in r.text
    assert (await t.balance(client, payer))["available"] == "1250300.50"
    # The API's idempotency by bank reference is the same one: its replay is the page's payment.
    r = await client.post(
        "/api/v1/ledger/payments",
        json={"organization_id": payer.org_id, "amount": "300.50", "bank_reference": "ICBC-002"},
        headers=op.headers,
    )
    assert r.status_code == 200

    # Refusals, shown on the desk with what was typed; nothing is credited.
    refusals = [
        ({"organization": code, "amount": "999.00", "bank_reference": "ICBC-002"}, 409, "payment_conflict"),
        (
            {"organization": "没有这家公司", "amount": "1.00", "bank_reference": "X-1"},
            422,
            "organization_unknown",
        ),
        (
            {"organization": "同名科技有限公司", "amount": "1.00", "bank_reference": "X-2"},
            422,
            "organization_ambiguous",
        ),
        ({"organization": code, "amount": "0", "bank_reference": "X-3"}, 422, "invalid_amount"),
        ({"organization": code, "amount": "1.234", "bank_reference": "X-4"}, 422, "invalid_amount"),
        ({"organization": code, "amount": "一百", "bank_reference": "X-5"}, 422, "invalid_amount"),
        ({"organization": code, "amount": "1.00", "bank_reference": "  "}, 422, "invalid_reference"),
        ({"organization": code, "amount": "1.00", "bank_reference": "R" * 101}, 422, "invalid_reference"),
    ]
    for data, status, code_ in refusals:
        r = await _post(client, "/operator/payments", **data)
        assert (r.status_code, _refusal(r.text)) == (status, code_), data
        assert f'value="{data["organization"]}"' in r.text
    assert (await t.balance(client, payer))["available"] == "1250300.50"
    r = await _post(
        client,
        "/operator/payments",
        organization=twins[1].org["credit_code"],
        amount="10.00",
        bank_reference="ICBC-003",
    )
    assert r.status_code == 303 and (await t.balance(client, twins[1]))["available"] == "10.00"

    # Recent payments, newest first; ?q= by bank reference, name or credit code; paged.
    r = await client.get("/operator/payments")
    rows = _ids(r.text, "payment-row")
    assert len(rows) == 3
    first = _row(r.text, "payment-row", rows[0])
    assert "ICBC-003" in first and "同名科技有限公司" in first and money("10.00") in first
    assert "ICBC-001" in _row(r.text, "payment-row", rows[2]) and money("1250000.00") in r.text
    r = await client.get("/operator/payments", params={"q": "icbc-002"})
    assert _ids(r.text, "payment-row") == [rows[1]]
    r = await client.get("/operator/payments", params={"q": "绍兴纺织"})
    assert _ids(r.text, "payment-row") == rows[1:]
    monkeypatch.setattr(operator_queries, "PAGE_ROWS", 2)
    r = await client.get("/operator/payments")
    assert _ids(r.text, "payment-row") == rows[:2]
    found = re.search(r'href="([^"]+)" data-testid="next-page"', r.text)
    assert found
    r = await client.get(found.group(1).replace("&amp;", "&"))
    assert _ids(r.text, "payment-row") == rows[2:]


async def test_settling_deals(client: httpx.AsyncClient, db, monkeypatch: pytest.MonkeyPatch) -> None:
    first = await s.offer_deal(client, db, price="400000.00")
    actors = (first.op, first.seller, first.buyer, first.outsider)
    second = await s.offer_deal(client, db, price="600000.00", actors=actors)
    waiting = await s.offer_deal(client, db, price="700000.00", actors=actors)
    await s.paid(client, db, first)
    await s.paid(client, db, second)  # paid after the first: listed before it
    op = first.op
    await w.sign_in(client, op.email)
    r = await client.get("/operator/deals")
    assert r.status_code == 200
    rows = _ids(r.text, "settle-row")
    assert rows[:3] == [second.id, first.id, waiting.id]
    row = _row(r.text, "settle-row", second.id)
    assert 'data-testid="settle-button"' in row and "已付款" in row and money("600000.00") in row
    assert 'data-testid="settle-button"' not in _row(r.text, "settle-row", waiting.id)
    assert "待签约" in _row(r.text, "settle-row", waiting.id)
    r = await client.get("/operator/deals", params={"status": "awaiting_signatures"})
    assert _ids(r.text, "settle-row") == [waiting.id]
    r = await client.get("/operator/deals", params={"status": "nonsense"})
    assert r.status_code == 422 and _refusal(r.text) == "invalid_status"
    monkeypatch.setattr(operator_queries, "PAGE_ROWS", 2)
    r = await client.get("/operator/deals")
    assert _ids(r.text, "settle-row") == [second.id, first.id]
    found = re.search(r'href="([^"]+)" data-testid="next-page"', r.text)
    assert found
    r = await client.get(found.group(1).replace("&amp;", "&"))
    assert _ids(r.text, "settle-row") == [waiting.id]
    monkeypatch.undo()

    # Settle: the certificate number in its row, the same number the API and the certificate page show.
    income = await s.fee_income(db)
    r = await _post(client, f"/operator/deals/{second.id}/settle")
    assert r.status_code == 303 and "done=settled" in r.headers["location"]
    deal = await _api(client, op, f"/api/v1/deals/{second.id}")
    number = deal["certificate_number"]
    assert deal["status"] == "settled" and number
    r = await client.get(r.headers["location"])
    assert f"已结算，交易凭证编号 {number}" in r.text
    row = _row(r.text, "settle-row", second.id)
    assert f'data-testid="certificate-number">{number}<' in row and 'data-testid="settle-button"' not in row
    assert (await client.get(f"/certificates/{number}")).status_code == 200
    r = await client.get("/operator/deals", params={"q": number})
    assert _ids(r.text, "settle-row") == [second.id]
    # Settling again pays nothing twice; a deal not paid is refused on the desk.
    settled_income = await s.fee_income(db)
    assert settled_income > income
    await _post(client, f"/operator/deals/{second.id}/settle")
    assert await s.fee_income(db) == settled_income
    r = await _post(client, f"/operator/deals/{waiting.id}/settle")
    assert r.status_code == 409 and _refusal(r.text) == "invalid_state"
    assert (await _api(client, op, f"/api/v1/deals/{waiting.id}"))["status"] == "awaiting_signatures"


async def test_trial_balance_and_audit_verification(client: httpx.AsyncClient, db) -> None:
    case = await s.offer_deal(client, db)
    await s.settled(client, db, case)
    await w.sign_in(client, case.op.email)
    r = await client.get("/operator/ledger")
    assert r.status_code == 200
    assert re.search(r'data-testid="trial-balance" data-balanced="true"', r.text)
    assert 'data-testid="trial-total">¥0.00<' in r.text and "服务费收入" in r.text
    r = await client.get("/operator/audit")
    assert 'data-testid="audit-verify-button"' in r.text and 'data-testid="audit-result"' not in r.text
    r = await _post(client, "/operator/audit")
    assert r.status_code == 200
    assert 'data-testid="audit-result" data-ok="true"' in r.text
    count = int(re.search(r'data-testid="audit-count">(\d+)<', r.text).group(1))  # type: ignore[union-attr]
    assert count > 10
