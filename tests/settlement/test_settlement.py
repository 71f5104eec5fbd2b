"""Settling a paid deal (SPEC §11): escrow to the seller and fee income in one entry, the certificate, the
transfer of ownership or the licence record, the listing sold; settling twice never pays twice."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import httpx
import pytest
from pypdf import PdfReader

from app.settlement import rules
from app.settlement import service as settlement_service
from tests import factories as f
from tests import trading as t
from tests.invariants import assert_invariants
from tests.settlement import helpers as h


async def test_settle_an_assignment_with_a_deposit(client: httpx.AsyncClient, db) -> None:
    case = await h.listed_deal(client, db, price="100000.00", deposit="10000.00", patents=2)
    deal = await h.paid(client, db, case)
    price, buyer_fee, seller_fee = (h.yuan(deal[k]) for k in ("price", "buyer_fee", "seller_fee"))
    assert buyer_fee > 0 and seller_fee > 0

    r = await h.settle(client, case.op, case.id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "settled" and body["settled_at"] is not None
    assert rules.is_valid_certificate_number(body["certificate_number"])
    # Money: the buyer paid amount_due + deposit = price + buyer fee; the seller got price − seller fee.
    assert h.yuan(deal["amount_due"]) + h.yuan("10000.00") == price + buyer_fee
    assert await t.balance(client, case.seller) == {"available": h.money(price - seller_fee), "held": "0.00"}
    assert await t.balance(client, case.buyer) == {"available": "0.00", "held": "0.00"}
    assert await h.fee_income(db) == buyer_fee + seller_fee
    assert await h.escrow_balance(db, case.id) == 0
    # Ownership: every patent is the buyer's now, and a transfer-registration task is recorded.
    for patent_id in case.patent_ids:
        r = await client.get(f"/api/v1/patents/{patent_id}", headers=case.buyer.headers)
        assert r.status_code == 200, r.text
        assert r.json()["owner_org_id"] == case.buyer.org_id
    r = await client.get("/api/v1/transfer-tasks", headers=case.op.headers)
    (task,) = r.json()["items"]
    assert task["deal_id"] == case.id and task["status"] == "pending"
    assert sorted(task["patent_ids"]) == sorted(case.patent_ids)
    assert (task["from_org_id"], task["to_org_id"]) == (case.seller.org_id, case.buyer.org_id)
    for party in (case.seller, case.buyer):
        assert len((await client.get("/api/v1/transfer-tasks", headers=party.headers)).json()["items"]) == 1
    assert (await client.get("/api/v1/transfer-tasks", headers=case.outsider.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/listings/{case.listing['id']}")).json()["status"] == "sold"
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "deal", "entity_id": case.id}, headers=case.op.headers
    )
    assert [e["action"] for e in r.json()["items"]][-2:] == ["paid", "settled"]
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)


async def test_settle_without_a_deposit(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db, price="500000.00")
    deal = await h.settled(client, db, case)
    price, buyer_fee, seller_fee = (h.yuan(deal[k]) for k in ("price", "buyer_fee", "seller_fee"))
    assert await t.balance(client, case.seller) == {"available": h.money(price - seller_fee), "held": "0.00"}
    assert await h.fee_income(db) == buyer_fee + seller_fee
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)


async def test_certificate_is_public_and_its_pdf_names_parties_patents_and_amount(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.offer_deal(client, db, price="1000000.00", patents=2)
    deal = await h.settled(client, db, case)
    number = deal["certificate_number"]

    r = await client.get(f"/api/v1/certificates/{number}")  # no credentials
    assert r.status_code == 200, r.text
    cert = r.json()
    assert cert["number"] == number and cert["deal_id"] == case.id
    assert cert["seller"]["name"] == case.seller.org["name"]
    assert cert["seller"]["credit_code"] == case.seller.org["credit_code"]
    assert cert["buyer"]["credit_code"] == case.buyer.org["credit_code"]
    assert cert["price"] == "1000000.00" and cert["transaction_kind"] == "assignment"
    assert cert["pricing_mode"] == "negotiated"
    assert h.at(cert["settled_at"]) == h.at(deal["settled_at"])
    numbers = sorted(p["application_number"] for p in cert["patents"])
    assert len(numbers) == 2 and all(
        p["patent_number"] == "ZL" + p["application_number"] for p in cert["patents"]
    )
    contract = (
        await client.get(f"/api/v1/contracts/{deal['contract_id']}", headers=case.buyer.headers)
    ).json()
    assert cert["contract_sha256"] == contract["sha256"] and len(contract["sha256"]) == 64

    r = await client.get(f"/api/v1/certificates/{number}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "交易凭证" in text and number in text
    for party in (case.seller, case.buyer):
        assert party.org is not None
        assert party.org["name"] in text and party.org["credit_code"] in text
    for application_number in numbers:
        assert application_number in text
    assert "1,000,000.00" in text and "人民币壹佰万元整" in text and contract["sha256"] in text
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("WenQuanYi" in name or "wqy" in name.lower() for name in fonts), fonts
    font = next(iter(reader.pages[0]["/Resources"]["/Font"].values())).get_object()
    descendant = font["/DescendantFonts"][0].get_object()
    assert "/FontFile2" in descendant["/FontDescriptor"].get_object()  # embedded, not referenced

    for bad in ("JZ2026-999999-0", "nothing"):
        r = await client.get(f"/api/v1/certificates/{bad}")
        assert (r.status_code, h.code_of(r)) == (404, "not_found")
    assert (await client.get("/api/v1/certificates/nothing/pdf")).status_code == 404
    await assert_invariants(db, all_resolved=True)


async def test_certificate_numbers_are_unique_and_sequential(client: httpx.AsyncClient, db) -> None:
    actors = await h.parties(client, db)
    first = await h.settled(client, db, await h.offer_deal(client, db, actors=actors))
    second = await h.settled(client, db, await h.offer_deal(client, db, actors=actors))
    a, b = first["certificate_number"], second["certificate_number"]
    assert a != b
    assert all(rules.is_valid_certificate_number(n) for n in (a, b))
    assert int(b.split("-")[1]) == int(a.split("-")[1]) + 1
    await assert_invariants(db, all_resolved=True)


@pytest.mark.parametrize("kind", ["exclusive_license", "sole_license"])
async def test_exclusive_licence_records_the_licence_and_sells_the_listing(
    client: httpx.AsyncClient, db, kind: str
) -> None:
    case = await h.offer_deal(client, db, kind=kind)
    deal = await h.settled(client, db, case)
    r = await client.get("/api/v1/licences", headers=case.buyer.headers)
    (licence,) = r.json()["items"]
    settled_on = rules.shanghai_date(h.at(deal["settled_at"]))
    assert licence["deal_id"] == case.id and licence["kind"] == kind
    assert (licence["licensor_org_id"], licence["licensee_org_id"]) == (case.seller.org_id, case.buyer.org_id)
    assert licence["patent_ids"] == case.patent_ids
    assert (licence["territory"], licence["field_of_use"], licence["term_months"]) == (
        "中国大陆",
        "动力电池",
        36,
    )
    assert date.fromisoformat(licence["starts_on"]) == settled_on
    assert date.fromisoformat(licence["filing_due"]) == rules.add_months(settled_on, 3)
    assert date.fromisoformat(licence["ends_on"]) <= rules.add_months(settled_on, 36)
    # A licence moves no patent.
    patent = (await client.get(f"/api/v1/patents/{case.patent_ids[0]}", headers=case.seller.headers)).json()
    assert patent["owner_org_id"] == case.seller.org_id
    assert (await client.get("/api/v1/transfer-tasks", headers=case.op.headers)).json()["items"] == []
    assert (await client.get("/api/v1/licences", headers=case.outsider.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/listings/{case.listing['id']}")).json()["status"] == "sold"
    await assert_invariants(db, all_resolved=True)


async def test_nonexclusive_licence_keeps_the_listing_open(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db, kind="nonexclusive_license")
    await h.settled(client, db, case)
    assert (await client.get(f"/api/v1/listings/{case.listing['id']}")).json()["status"] == "published"
    assert len((await client.get("/api/v1/licences", headers=case.op.headers)).json()["items"]) == 1
    await assert_invariants(db, all_resolved=True)


async def test_licence_ends_with_the_patent_term(client: httpx.AsyncClient, db) -> None:
    """A licence is valid only within the patent term (DOMAIN.md): a 36-month term on a patent expiring in a
    year ends the day before the patent expires."""
    op, seller, buyer, outsider = await h.parties(client, db)
    today = (await t.now(client)).date()
    # A utility model filed ten years ago less ~a year expires in about a year.
    patent = await f.patent(
        client,
        seller,
        application_number=f.application_number(990_001, year=today.year - 9, kind_digit="2"),
        filing_date=f"{today.year - 9}-12-31",
        grant_date=f"{today.year - 8}-06-01",
    )
    body = {
        "title": "许可",
        "summary": "普通许可",
        "patent_ids": [patent["id"]],
        "transaction_kind": "nonexclusive_license",
        "pricing_mode": "negotiated",
        "price": "50000.00",
        "license": h.LICENSE,
    }
    r = await client.post("/api/v1/listings", json=body, headers=seller.headers)
    assert r.status_code == 201, r.text
    listing = r.json()
    for who, verb in ((seller, "submit"), (op, "approve")):
        assert (
            await client.post(f"/api/v1/listings/{listing['id']}/{verb}", headers=who.headers)
        ).status_code == 200
    from tests.negotiation import helpers as n

    offer = await n.offer(client, buyer, listing["id"], "50000.00")
    accepted = await n.move(client, seller, offer["id"], "accept")
    case = h.DealCase(op, seller, buyer, outsider, listing, await h.get(client, op, accepted["deal_id"]))
    await h.settled(client, db, case)
    (licence,) = (await client.get("/api/v1/licences", headers=op.headers)).json()["items"]
    expires_on = date.fromisoformat(patent["expires_on"])
    assert date.fromisoformat(licence["ends_on"]) == date.fromordinal(expires_on.toordinal() - 1)
    await assert_invariants(db, all_resolved=True)


async def test_settle_checks_role_state_and_visibility(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    r = await h.settle(client, case.op, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")  # not paid yet
    await h.paid(client, db, case)
    for who in (case.seller, case.buyer):
        r = await h.settle(client, who, case.id)
        assert (r.status_code, h.code_of(r)) == (403, "forbidden")
    r = await client.post(
        "/api/v1/deals/00000000-0000-0000-0000-000000000001/settle", headers=case.op.headers
    )
    assert (r.status_code, h.code_of(r)) == (404, "not_found")
    assert (await h.get(client, case.op, case.id))["status"] == "paid"
    await assert_invariants(db, all_resolved=True)


async def test_settling_twice_pays_once(client: httpx.AsyncClient, db) -> None:
    case = await h.offer_deal(client, db)
    deal = await h.settled(client, db, case)
    seller = await t.balance(client, case.seller)
    fees = await h.fee_income(db)
    r = await h.settle(client, case.op, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "invalid_state")
    assert await t.balance(client, case.seller) == seller and await h.fee_income(db) == fees
    # With an Idempotency-Key a retry replays the first answer instead.
    case2 = await h.offer_deal(client, db, actors=(case.op, case.seller, case.buyer, case.outsider))
    await h.paid(client, db, case2)
    first = await h.settle(client, case.op, case2.id, **{"Idempotency-Key": "settle-1"})
    again = await h.settle(client, case.op, case2.id, **{"Idempotency-Key": "settle-1"})
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert deal["certificate_number"] != first.json()["certificate_number"]
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)


async def test_the_same_deal_settled_by_two_operators_at_once_pays_once(
    client: httpx.AsyncClient, db
) -> None:
    case = await h.listed_deal(client, db)
    deal = await h.paid(client, db, case)
    other_op = await f.operator(client, db)
    results = await asyncio.gather(h.settle(client, case.op, case.id), h.settle(client, other_op, case.id))
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    assert [h.code_of(r) for r in results if r.status_code == 409] == ["invalid_state"]
    price, buyer_fee, seller_fee = (h.yuan(deal[k]) for k in ("price", "buyer_fee", "seller_fee"))
    assert await t.balance(client, case.seller) == {"available": h.money(price - seller_fee), "held": "0.00"}
    assert await h.fee_income(db) == buyer_fee + seller_fee
    r = await client.get("/api/v1/transfer-tasks", headers=case.op.headers)
    assert len(r.json()["items"]) == 1
    await h.settled_escrows_are_zero(db)
    await assert_invariants(db, all_resolved=True)


async def test_a_pledged_patent_blocks_settlement(client: httpx.AsyncClient, db, monkeypatch) -> None:
    """SPEC §14: settlement re-checks pledges; a blocked settlement changes nothing."""
    case = await h.offer_deal(client, db)
    await h.paid(client, db, case)

    async def pledged(session, deal):  # type: ignore[no-untyped-def]
        return ["a pledge"]

    monkeypatch.setattr(settlement_service, "unconsented_pledges", pledged)
    r = await h.settle(client, case.op, case.id)
    assert (r.status_code, h.code_of(r)) == (409, "patent_pledged")
    assert (await h.get(client, case.op, case.id))["status"] == "paid"
    assert await h.fee_income(db) == 0
    assert await h.escrow_balance(db, case.id) == h.yuan(case.deal["amount_due"])
    monkeypatch.undo()
    r = await h.settle(client, case.op, case.id)
    assert r.status_code == 200, r.text
    assert r.json()["certificate_number"].split("-")[1] == "000001"  # the refused attempt used no number
    await assert_invariants(db, all_resolved=True)


async def test_no_pledge_is_made_on_a_patent_of_an_unsettled_deal(client: httpx.AsyncClient, db) -> None:
    """SPEC §14, §20: a pledge made after the deal could never be consented to (consents are for draft listings),
    and settlement would refuse it for good with the buyer's money in escrow: the pledge is refused instead, and
    the deal settles."""
    case = await h.offer_deal(client, db)
    await h.paid(client, db, case)
    bank = await f.organization(client, kind="financial_institution", verified_by=case.op)
    r = await client.post(
        f"/api/v1/patents/{case.patent_ids[0]}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "100000.00", "ends_on": "2035-01-01"},
        headers=case.seller.headers,
    )
    assert (r.status_code, h.code_of(r)) == (409, "patent_locked")
    r = await h.settle(client, case.op, case.id)
    assert r.status_code == 200, r.text
    await assert_invariants(db, all_resolved=True)
