"""The deal dossier (安心屋, SPEC §18.7): every fact of a deal cites the audit event that recorded it, in the
specified order, with a digest of the hashes and the chains' verification; the seller's members and operators
read it (the buyer and anyone else 404); it never names a losing bidder or an objector (SPEC §20)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.audit import guards
from app.kit.db import Database
from app.kit.money import format_fen, parse_yuan
from app.kit.workdays import SHANGHAI
from tests import factories as f
from tests import trading as t
from tests.dossier import helpers as dh
from tests.invariants import assert_invariants
from tests.negotiation import helpers as n
from tests.settlement import helpers as h
from tests.techcontracts import helpers as tc
from tests.world import World, org

API = dh.API

pytestmark = pytest.mark.world(
    uni=org("university", name="浙江安心大学"),
    buyer=org(name="杭州受让科技有限公司"),
    objector=org(name="宁波异议人材料有限公司"),
    outsider=org(),
    company=org(name="杭州卖方科技有限公司"),
)


async def _today(client: httpx.AsyncClient) -> str:
    return (await t.now(client)).astimezone(SHANGHAI).date().isoformat()


def _reward_plan(deal: dict[str, Any]) -> dict[str, Any]:
    """A valid Zhejiang plan: the whole net income, 90% to the main contributor, 10% to transfer staff."""
    net = parse_yuan(deal["price"]) - parse_yuan(deal["seller_fee"])
    main = net * 9 // 10
    return {
        "costs": "0.00",
        "allocations": [
            {"name": "张三", "role": "main_contributor", "amount": format_fen(main)},
            {"name": "李四", "role": "transfer_staff", "amount": format_fen(net - main)},
        ],
    }


def _identities(actor: f.Actor) -> list[str]:
    assert actor.org is not None
    return [str(actor.org_id), actor.org["name"], actor.org["credit_code"], actor.id, actor.email]


async def _noticed_deal(client: httpx.AsyncClient, world: World) -> tuple[h.DealCase, str]:
    """A public-institution seller's negotiated deal in public notice; returns it and the objection filed."""
    listing = await t.published_listing(client, world.op, world.uni, price="1000000.00")
    offer = await n.offer(client, world.buyer, listing["id"], "950000.00")
    accepted = await n.move(client, world.uni, offer["id"], "accept")
    deal = await h.get(client, world.op, accepted["deal_id"])
    assert deal["status"] == "public_notice"
    r = await client.post(
        f"{API}/deals/{deal['id']}/objections",
        json={"reason": "价格明显偏低"},
        headers=world.objector.headers,
    )
    assert r.status_code == 201, r.text
    case = h.DealCase(world.op, world.uni, world.buyer, world.outsider, listing, deal)
    return case, r.json()["id"]


async def test_a_negotiated_deal_with_notice_and_objection_from_listing_to_registration(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    case, objection_id = await _noticed_deal(client, world)
    r = await dh.decide(client, world.uni, case.id, await _today(client))
    assert r.status_code == 201, r.text
    decision = r.json()
    r = await client.post(
        f"{API}/objections/{objection_id}/dismiss", json={"note": "价格经评估合理"}, headers=world.op.headers
    )
    assert r.status_code == 200, r.text
    await t.advance_past(client, case.deal["notice_ends_at"])
    case.deal = await h.get(client, world.op, case.id)
    await h.settled(client, db, case)
    r = await client.post(
        f"{API}/deals/{case.id}/reward-plan", json=_reward_plan(case.deal), headers=world.uni.headers
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    filing = await tc.registered(client, world.op, world.uni, case.id, registration_number="2026330100000777")

    d = await dh.dossier(client, world.uni, case.id)
    assert d["deal_id"] == case.id and d["chain_ok"] is True
    # Ties: the deal's creation states its pricing, then its notice; the buyer's signature and the contract
    # both signed are one instant, the contract's row first.
    assert dh.kinds(d) == [
        "listing",
        "pricing",
        "public_notice",
        "decision_record",
        "objection",
        "signature",
        "contract",
        "signature",
        "payment",
        "certificate",
        "reward_plan",
        "tech_contract_registration",
    ]
    dh.assert_ordered(d)
    await dh.assert_cites_the_trail(client, world.op, d)

    listing = dh.only(d, "listing")
    assert listing["facts"] == {
        "listing_id": case.listing["id"],
        "pricing_mode": "negotiated",
        "transaction_kind": "assignment",
        "price": "1000000.00",
        "published_at": listing["facts"]["published_at"],
        "listing_ends_at": listing["facts"]["listing_ends_at"],
    }
    assert listing["audit"]["entity_type"] == "listing" and listing["at"] == listing["facts"]["published_at"]
    pricing = dh.only(d, "pricing")
    assert pricing["facts"] == {
        "source": "offer",
        "price": "950000.00",
        "offer_id": pricing["facts"]["offer_id"],
    }
    assert pricing["audit"] == {**pricing["audit"], "entity_type": "deal", "entity_id": case.id, "seq": 1}
    notice = dh.only(d, "public_notice")
    assert notice["facts"] == {"starts_at": notice["at"], "ends_at": case.deal["notice_ends_at"]}
    assert dh.only(d, "decision_record")["facts"] == {
        "body": "校长办公会",
        "number": "校办〔2026〕12号",
        "decided_on": decision["decided_on"],
        "document_sha256": "ab" * 32,
    }
    objection = dh.only(d, "objection")
    assert objection["facts"] == {
        "objection_id": objection_id,
        "reason": "价格明显偏低",
        "status": "dismissed",
    }
    assert objection["audit"]["entity_type"] == "objection" and objection["audit"]["seq"] == 2
    contract = await h.get(client, world.op, case.id)
    sha = (await client.get(f"{API}/contracts/{contract['contract_id']}", headers=world.uni.headers)).json()[
        "sha256"
    ]
    assert dh.only(d, "contract")["facts"] == {"contract_id": contract["contract_id"], "sha256": sha}
    seller_sig, buyer_sig = (i for i in d["items"] if i["kind"] == "signature")
    assert seller_sig["facts"] == {
        "party": "seller",
        "organization_id": world.uni.org_id,
        "sha256": sha,
        "signed_at": seller_sig["at"],
    }
    assert (buyer_sig["facts"]["party"], buyer_sig["facts"]["organization_id"]) == (
        "buyer",
        world.buyer.org_id,
    )
    assert dh.only(d, "payment")["facts"] == {"amount_due": case.deal["amount_due"]}
    assert dh.only(d, "certificate")["facts"] == {
        "number": case.deal["certificate_number"],
        "settled_at": case.deal["settled_at"],
    }
    assert dh.only(d, "certificate")["at"] == case.deal["settled_at"]
    assert dh.only(d, "reward_plan")["facts"] == {
        "form": "cash",
        "version": 1,
        "pool": plan["pool"],
        "status": "draft",
    }
    assert dh.only(d, "tech_contract_registration")["facts"] == {
        "category": "technology_transfer",
        "status": "registered",
        "registration_number": "2026330100000777",
    }
    assert dh.only(d, "tech_contract_registration")["audit"]["entity_id"] == filing["id"]

    # SPEC §20: the objector is never named to the seller, nor by the dossier to operators.
    for reader in (world.uni, world.op):
        r = await client.get(f"{API}/deals/{case.id}/dossier", headers=reader.headers)
        assert r.status_code == 200
        for identity in _identities(world.objector):
            assert identity not in r.text, identity
    # Operators read the same items; the buyer, the objector and outsiders get 404.
    assert (await dh.dossier(client, world.op, case.id))["items"] == d["items"]
    for reader in (world.buyer, world.objector, world.outsider):
        for path in ("dossier", "dossier/pdf"):
            r = await client.get(f"{API}/deals/{case.id}/{path}", headers=reader.headers)
            assert (r.status_code, r.json()["code"]) == (404, "not_found"), path
    assert (await client.get(f"{API}/deals/{case.id}/dossier")).status_code == 401
    r = await client.get(f"{API}/deals/{uuid.uuid4()}/dossier", headers=world.op.headers)
    assert r.status_code == 404

    # The PDF: the same items with their hashes and the digest, in Chinese, the fonts embedded.
    r = await client.get(f"{API}/deals/{case.id}/dossier/pdf", headers=world.uni.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    dh.assert_fonts_embedded(r.content)
    printed = dh.pdf_text(r.content)
    assert "交易档案（安心屋）" in printed and "集体决策" in printed and "异议" in printed
    assert d["digest"] in printed
    for item in d["items"]:
        assert item["audit"]["hash"] in printed
    for identity in _identities(world.objector):
        assert identity.replace(" ", "") not in printed
    await assert_invariants(db)


async def test_the_chain_is_checked_and_a_tampered_event_shows(
    client: httpx.AsyncClient, db: Database, backend: Any, world: World
) -> None:
    actors = (world.op, world.company, world.buyer, world.outsider)
    case = await tc.settled_deal(client, db, actors=actors)
    before = await dh.dossier(client, world.company, case.id)
    assert before["chain_ok"] is True
    assert dh.kinds(before) == [
        "listing",
        "pricing",
        "signature",
        "contract",
        "signature",
        "payment",
        "certificate",
    ]
    await dh.assert_cites_the_trail(client, world.op, before)
    # Someone with full database rights rewrites the payment's event: the stored hash no longer matches.
    paid_seq = dh.only(before, "payment")["audit"]["seq"]
    statement = (
        "UPDATE audit_events SET actor = 'someone-else' "
        f"WHERE entity_type = 'deal' AND entity_id = '{case.id}' AND seq = {paid_seq}"
    )
    async with backend.db.write_engine.begin() as conn:
        if backend.name == "postgresql":
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(statement))
        else:
            for ddl in guards.SQLITE_DROP:
                await conn.execute(text(ddl))
            await conn.execute(text(statement))
            for ddl in guards.SQLITE_CREATE:
                await conn.execute(text(ddl))
    after = await dh.dossier(client, world.company, case.id)
    assert after["chain_ok"] is False
    assert after["items"] == before["items"] and after["digest"] == before["digest"]
    r = await client.get(f"{API}/deals/{case.id}/dossier/pdf", headers=world.op.headers)
    assert "未通过" in dh.pdf_text(r.content)


async def test_decision_records_append_and_are_audited_on_the_deal(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    case, _ = await _noticed_deal(client, world)
    today = await _today(client)
    first = await dh.decide(client, world.uni, case.id, today, headers={"Idempotency-Key": "decision-1"})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body == {
        "id": body["id"],
        "deal_id": case.id,
        "body": "校长办公会",
        "number": "校办〔2026〕12号",
        "decided_on": today,
        "document_sha256": "ab" * 32,
        "recorded_at": body["recorded_at"],
        "recorded_by": world.uni.id,
    }
    replay = await dh.decide(client, world.uni, case.id, today, headers={"Idempotency-Key": "decision-1"})
    assert replay.status_code == 201 and replay.json() == body
    assert replay.headers.get("Idempotent-Replayed") == "true"
    second = await dh.decide(
        client, world.uni, case.id, today, number="校办〔2026〕13号", document_sha256="CD" * 32
    )
    assert second.status_code == 201, second.text
    assert second.json()["document_sha256"] == "cd" * 32

    r = await client.get(
        f"{API}/audit-events", params={"entity_type": "deal", "entity_id": case.id}, headers=world.uni.headers
    )
    decided = [e for e in r.json()["items"] if e["action"] == "decision_recorded"]
    assert [e["data"]["number"] for e in decided] == ["校办〔2026〕12号", "校办〔2026〕13号"]
    assert decided[0]["data"] == {
        "decision_record_id": body["id"],
        "body": "校长办公会",
        "number": "校办〔2026〕12号",
        "decided_on": today,
        "document_sha256": "ab" * 32,
    }
    d = await dh.dossier(client, world.uni, case.id)
    assert [i["facts"]["number"] for i in d["items"] if i["kind"] == "decision_record"] == [
        "校办〔2026〕12号",
        "校办〔2026〕13号",
    ]
    # In public notice: no contract signed yet, so the contract item is the text made with the deal.
    assert dh.only(d, "contract")["audit"]["seq"] == 1
    # A pending objection is cited by its filing, without the objector.
    assert dh.only(d, "objection")["facts"]["status"] == "pending"
    for identity in _identities(world.objector):
        assert identity not in str(d)
    await dh.assert_cites_the_trail(client, world.op, d)

    # Who may record: the seller's members only (operators and the buyer 403, others 404).
    for actor, status in ((world.op, 403), (world.buyer, 403), (world.outsider, 404), (world.objector, 404)):
        r = await dh.decide(client, actor, case.id, today)
        assert r.status_code == status, (actor.email, r.text)
    assert (await dh.decide(client, world.uni, str(uuid.uuid4()), today)).status_code == 404
    # Bad input: 422.
    for fields in (
        {"document_sha256": "ab" * 31},
        {"document_sha256": "zz" * 32},
        {"body": ""},
        {"number": "x" * 65},
        {"decided_on": "2026-02-30"},
        {"extra": 1},
    ):
        r = await dh.decide(client, world.uni, case.id, today, **fields)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), (fields, r.text)
    r = await dh.decide(client, world.uni, case.id, "2199-12-31")
    assert (r.status_code, r.json()["errors"][0]["loc"]) == (422, ["body", "decided_on"])
    # Not in a cancelled or defaulted deal.
    for status in ("cancelled", "defaulted"):
        await tc.set_deal_status(db, case.id, status)
        r = await dh.decide(client, world.uni, case.id, today)
        assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    d = await dh.dossier(client, world.uni, case.id)
    assert len([i for i in d["items"] if i["kind"] == "decision_record"]) == 2


async def test_the_latest_filing_is_cited_and_a_refiling_replaces_a_rejection(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    actors = (world.op, world.company, world.buyer, world.outsider)
    case = await tc.settled_deal(client, db, actors=actors)
    first = await tc.filed(client, world.company, case.id)
    assert (await tc.reject(client, world.op, first["id"])).status_code == 200
    d = await dh.dossier(client, world.company, case.id)
    item = dh.only(d, "tech_contract_registration")
    assert item["facts"] == {
        "category": "technology_transfer",
        "status": "rejected",
        "registration_number": None,
    }
    assert (item["audit"]["entity_id"], item["audit"]["seq"]) == (first["id"], 2)
    second = await tc.filed(client, world.company, case.id)
    d = await dh.dossier(client, world.company, case.id)
    item = dh.only(d, "tech_contract_registration")
    assert (item["facts"]["status"], item["audit"]["entity_id"], item["audit"]["seq"]) == (
        "filed",
        second["id"],
        1,
    )
    await dh.assert_cites_the_trail(client, world.op, d)


async def test_text_no_font_has_is_printed_as_a_question_mark_not_a_failure(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """An objection's reason is free text, never printed before the dossier: a character no shipped font has
    (an emoji) is shown as ``?`` on the PDF and kept as written in the JSON."""
    listing = await t.published_listing(client, world.op, world.uni, price="1000000.00")
    offer = await n.offer(client, world.buyer, listing["id"], "950000.00")
    deal_id = (await n.move(client, world.uni, offer["id"], "accept"))["deal_id"]
    reason = "价格明显偏低😀"
    r = await client.post(
        f"{API}/deals/{deal_id}/objections", json={"reason": reason}, headers=world.objector.headers
    )
    assert r.status_code == 201, r.text
    assert dh.only(await dh.dossier(client, world.uni, deal_id), "objection")["facts"]["reason"] == reason
    r = await client.get(f"{API}/deals/{deal_id}/dossier/pdf", headers=world.uni.headers)
    assert r.status_code == 200, r.text
    assert "价格明显偏低?" in dh.pdf_text(r.content)
