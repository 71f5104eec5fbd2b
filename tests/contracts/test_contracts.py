"""Contracts (SPEC §11): the text per transaction kind, its hash, signing, visibility and the PDF."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime

import httpx
import pytest
from pypdf import PdfReader

from app.kit.workdays import WorkdayCalendar
from tests import trading as t
from tests.contracts import helpers as h
from tests.contracts.helpers import LICENSE, World
from tests.invariants import assert_invariants

CAL = WorkdayCalendar()
TITLES = {
    "assignment": "专利权转让合同",
    "exclusive_license": "专利实施许可合同（独占）",
    "sole_license": "专利实施许可合同（排他）",
    "nonexclusive_license": "专利实施许可合同（普通）",
}


async def _patents(client: httpx.AsyncClient, listing: dict) -> list[dict]:  # type: ignore[type-arg]
    return list((await h.get(client, f"/api/v1/listings/{listing['id']}"))["patents"])


@pytest.mark.parametrize("kind", list(TITLES))
async def test_contract_text_per_transaction_kind(
    client: httpx.AsyncClient, db, world: World, kind: str
) -> None:
    extra = {"license": LICENSE} if kind != "assignment" else {}
    listing, deal = await h.offer_deal(
        client, world, world.company, price="1005.00", patents=2, transaction_kind=kind, **extra
    )
    contract = await h.contract(client, world.buyer, deal["contract_id"])
    text = contract["text"]
    assert contract["id"] == deal["contract_id"] and contract["deal_id"] == deal["id"]
    assert contract["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert contract["status"] == "awaiting_signatures" and contract["signatures"] == []
    assert text.startswith(TITLES[kind])
    for org in (world.company, world.buyer):
        assert org.org is not None
        assert org.org["name"] in text and org.org["credit_code"] in text
    patents = await _patents(client, listing)
    assert len(patents) == 2
    for patent in patents:
        assert f"ZL{patent['application_number']}" in text and patent["title"] in text
    assert "人民币 1,005.00 元" in text and "人民币壹仟零伍元整" in text
    assert "见证方" in text and "5 个工作日" in text and "交易结算账户" in text
    if kind == "assignment":
        assert "转让方（甲方）" in text and "受让方（乙方）" in text and "许可期限" not in text
    else:
        assert "许可方（甲方）" in text and "被许可方（乙方）" in text
        assert "36 个月" in text and "中国大陆" in text and "动力电池" in text
    await assert_invariants(db)


async def test_contract_of_a_listed_deal_applies_the_deposit(
    client: httpx.AsyncClient, db, world: World
) -> None:
    _, deal = await h.listed_deal(client, world)
    text = (await h.contract(client, world.company, deal["contract_id"]))["text"]
    assert "交易保证金人民币 10,000.00 元（大写：人民币壹万元整）" in text
    assert f"乙方应付金额为人民币 {float(deal['amount_due']):,.2f} 元" in text
    await assert_invariants(db)


async def test_signing(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.offer_deal(client, world, world.company)
    cid = deal["contract_id"]
    await h.sign(client, world.buyer, cid, "0" * 64, expect=409, code="contract_changed")
    await h.sign(client, world.buyer, cid, "not-a-hash", expect=422)
    await h.sign(client, world.op, cid, "0" * 64, expect=403, code="forbidden")
    await h.sign(client, world.outsider, cid, "0" * 64, expect=404, code="not_found")

    signed = await h.sign(client, world.buyer, cid)
    assert [s["party"] for s in signed["signatures"]] == ["buyer"]
    assert signed["signatures"][0]["organization_id"] == world.buyer.org_id
    assert signed["signatures"][0]["sha256"] == signed["sha256"] and signed["status"] == "awaiting_signatures"
    await h.sign(client, world.buyer, cid, expect=409, code="invalid_state")  # twice
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))[
        "status"
    ] == "awaiting_signatures"

    done = await h.sign(client, world.company, cid)
    assert done["status"] == "signed"
    assert {s["party"] for s in done["signatures"]} == {"buyer", "seller"}
    second_at = datetime.fromisoformat(
        next(s for s in done["signatures"] if s["party"] == "seller")["signed_at"]
    )
    paying = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert paying["status"] == "awaiting_payment"
    assert datetime.fromisoformat(paying["pay_by"]) == CAL.add_working_days(second_at, 5)
    await h.sign(client, world.company, cid, expect=409, code="invalid_state")
    assert await h.listing_status(client, listing["id"]) == "under_contract"
    await assert_invariants(db)


async def test_signing_is_idempotent_with_a_key(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.company)
    sha = (await h.contract(client, world.buyer, deal["contract_id"]))["sha256"]
    headers = {**world.buyer.headers, "Idempotency-Key": "sign-1"}
    url = f"/api/v1/contracts/{deal['contract_id']}/sign"
    first = await client.post(url, json={"sha256": sha}, headers=headers)
    again = await client.post(url, json={"sha256": sha}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    await assert_invariants(db)


async def test_no_signing_during_the_public_notice(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    await h.sign(client, world.buyer, deal["contract_id"], expect=409, code="invalid_state")
    await h.sign(client, world.uni, deal["contract_id"], expect=409, code="invalid_state")
    await t.advance_past(client, deal["notice_ends_at"])
    await h.sign(client, world.buyer, deal["contract_id"])
    await h.sign(client, world.uni, deal["contract_id"])
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.uni))["status"] == "awaiting_payment"
    await assert_invariants(db)


async def test_contract_visibility(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.company)
    cid = deal["contract_id"]
    for actor in (world.buyer, world.company, world.op):
        assert (await h.contract(client, actor, cid))["id"] == cid
    await h.get(client, f"/api/v1/contracts/{cid}", world.outsider, expect=404)
    await h.get(client, f"/api/v1/contracts/{cid}/pdf", world.outsider, expect=404)
    await h.get(client, f"/api/v1/contracts/{cid}", expect=401)
    await h.get(client, "/api/v1/contracts/00000000-0000-0000-0000-000000000000", world.op, expect=404)
    await assert_invariants(db)


async def test_contract_pdf_embeds_the_text(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.offer_deal(client, world, world.company, patents=2)
    r = await client.get(f"/api/v1/contracts/{deal['contract_id']}/pdf", headers=world.buyer.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(r.content))
    text = "".join(page.extract_text() for page in reader.pages)
    compact = text.replace("\n", "").replace(" ", "")
    for name in ("杭州卖方科技有限公司", "宁波买方新能源有限公司"):
        assert name in compact
    for patent in await _patents(client, listing):
        assert f"ZL{patent['application_number']}" in compact
    assert "1,000,000.00" in compact and "人民币壹佰万元整" in compact
    fonts = {
        str(f["/BaseFont"])
        for page in reader.pages
        for f in page["/Resources"]["/Font"].get_object().values()  # type: ignore[index]
    }
    assert any("WenQuanYi" in name or "wqy" in name.lower() for name in fonts), fonts
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].get_object().values():  # type: ignore[index]
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            assert "/FontFile2" in descendant["/FontDescriptor"].get_object()  # embedded
    await assert_invariants(db)
