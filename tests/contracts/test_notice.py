"""Public notice of a public institution's negotiated deal, objections and the ``notice_end`` deadline
(SPEC §8; 浙江条例 art. 17). Every scenario ends with the invariants."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import httpx

from app.kit.workdays import WorkdayCalendar
from tests import trading as t
from tests.contracts import helpers as h
from tests.invariants import assert_invariants
from tests.world import World

CAL = WorkdayCalendar()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def object_(client: httpx.AsyncClient, actor, deal_id: str, **kw) -> dict:  # type: ignore[no-untyped-def]
    return await h.post(  # type: ignore[no-any-return]
        client, f"/api/v1/deals/{deal_id}/objections", actor, {"reason": "价格明显偏低"}, **kw
    )


async def test_a_public_institution_deal_is_published_for_15_days(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing, deal = await h.offer_deal(client, world, world.uni, summary="高孔隙率隔膜")
    assert deal["status"] == "public_notice" and deal["sign_by"] is None
    assert at(deal["notice_ends_at"]) - at(deal["created_at"]) == timedelta(days=15)
    assert deal["contract_id"]

    page = await h.get(client, "/api/v1/notices")  # public: no sign-in
    (notice,) = [n for n in page["items"] if n["deal_id"] == deal["id"]]
    assert notice == await h.get(client, f"/api/v1/notices/{deal['id']}")
    assert notice["title"] == listing["title"] and notice["summary"] == "高孔隙率隔膜"
    assert notice["transaction_kind"] == "assignment" and notice["price"] == "1000000.00"
    assert notice["seller_name"] == "浙江测试大学" and notice["seller_org_id"] == world.uni.org_id
    assert notice["related_party"] is False and notice["status"] == "in_notice"
    assert notice["pending_objections"] == 0
    assert at(notice["notice_ends_at"]) == at(deal["notice_ends_at"])
    assert "buyer_org_id" not in notice
    in_notice = await h.get(client, "/api/v1/notices?in_notice=true&limit=1")
    assert [n["deal_id"] for n in in_notice["items"]] == [deal["id"]]

    # An enterprise seller's deal has no notice.
    _, other = await h.offer_deal(client, world, world.company)
    assert other["status"] == "awaiting_signatures" and other["notice_ends_at"] is None
    await h.get(client, f"/api/v1/notices/{other['id']}", expect=404)
    await assert_invariants(db)


async def test_the_seller_flags_a_related_buyer(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    url = f"/api/v1/deals/{deal['id']}/related-party"
    notice = await h.post(client, url, world.uni, {"related_party": True})
    assert notice["related_party"] is True
    assert (await h.get(client, f"/api/v1/notices/{deal['id']}"))["related_party"] is True
    await h.post(client, url, world.buyer, {"related_party": False}, expect=403, code="forbidden")
    await h.post(client, url, world.uni, {"related_party": "yes"}, expect=422)
    await h.post(client, url, world.uni, {}, expect=422)
    await t.advance_past(client, deal["notice_ends_at"])
    await h.post(client, url, world.uni, {"related_party": False}, expect=409, code="invalid_state")
    await assert_invariants(db)


async def test_objections_by_verified_organizations_during_the_notice(
    client: httpx.AsyncClient, db, world: World
) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    objection = await object_(client, world.outsider, deal["id"], expect=201)
    assert objection["status"] == "pending" and objection["deal_id"] == deal["id"]
    assert objection["reason"] == "价格明显偏低" and objection["created_at"]
    assert (await h.get(client, f"/api/v1/notices/{deal['id']}"))["pending_objections"] == 1

    await object_(client, world.unverified, deal["id"], expect=403, code="organization_not_verified")
    await object_(client, world.op, deal["id"], expect=403, code="forbidden")
    r = await client.post(f"/api/v1/deals/{deal['id']}/objections", json={"reason": "x"})
    assert r.status_code == 401
    await h.post(client, f"/api/v1/deals/{deal['id']}/objections", world.outsider, {"reason": ""}, expect=422)
    await object_(client, world.outsider, "00000000-0000-0000-0000-000000000000", expect=404)
    # A deal that never had a notice is private: 404 for outsiders, 409 for its parties.
    _, private = await h.offer_deal(client, world, world.company)
    await object_(client, world.outsider, private["id"], expect=404, code="not_found")
    await object_(client, world.buyer, private["id"], expect=409, code="invalid_state")

    # Who sees the objection: the objector, the parties, operators; not others.
    url = f"/api/v1/objections/{objection['id']}"
    for actor in (world.outsider, world.uni, world.buyer, world.op):
        assert (await h.get(client, url, actor))["id"] == objection["id"]
    stranger = await h.f.organization(client, verified_by=world.op)
    await h.get(client, url, stranger, expect=404)
    pending = await h.get(client, "/api/v1/objections?status=pending", world.op)
    assert [o["id"] for o in pending["items"]] == [objection["id"]]
    await assert_invariants(db)


async def test_no_objection_after_the_notice(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    await t.advance_past(client, deal["notice_ends_at"])
    await object_(client, world.outsider, deal["id"], expect=409, code="invalid_state")
    await assert_invariants(db)


async def test_notice_end_moves_the_deal_to_signing(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.offer_deal(client, world, world.uni)
    await t.advance_past(client, deal["notice_ends_at"])
    moved = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert moved["status"] == "awaiting_signatures"
    assert at(moved["sign_by"]) == CAL.add_working_days(at(deal["notice_ends_at"]), 5)
    notice = await h.get(client, f"/api/v1/notices/{deal['id']}")
    assert notice["status"] == "ended"
    assert await h.listing_status(client, listing["id"]) == "under_contract"
    await assert_invariants(db)


async def test_upheld_objection_cancels_the_deal_and_reopens_the_listing(
    client: httpx.AsyncClient, db, world: World
) -> None:
    listing, deal = await h.offer_deal(client, world, world.uni)
    assert await h.listing_status(client, listing["id"]) == "under_contract"
    first = await object_(client, world.outsider, deal["id"], expect=201)
    second = await object_(client, world.company, deal["id"], expect=201)

    await h.post(client, f"/api/v1/objections/{first['id']}/uphold", world.uni, expect=403, code="forbidden")
    upheld = await h.post(
        client, f"/api/v1/objections/{first['id']}/uphold", world.op, {"note": "价格评估不充分"}
    )
    assert upheld["status"] == "upheld" and upheld["resolution_note"] == "价格评估不充分"
    assert upheld["resolved_at"]
    cancelled = await h.get(client, f"/api/v1/deals/{deal['id']}", world.uni)
    assert cancelled["status"] == "cancelled"
    assert await h.listing_status(client, listing["id"]) == "published"
    assert (await h.contract(client, world.buyer, deal["contract_id"]))["status"] == "void"
    assert (await h.get(client, f"/api/v1/objections/{second['id']}", world.op))["status"] == "closed"
    assert (await h.get(client, f"/api/v1/notices/{deal['id']}"))["status"] == "cancelled"
    # Resolved once.
    await h.post(
        client, f"/api/v1/objections/{first['id']}/dismiss", world.op, expect=409, code="invalid_state"
    )

    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "deal", "entity_id": deal["id"]},
        headers=world.op.headers,
    )
    actions = [e["action"] for e in r.json()["items"]]
    assert actions == [
        "created",
        "objection_filed",
        "objection_filed",
        "objection_upheld",
        "objection_closed",
        "cancelled",
    ]
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "objection", "entity_id": first["id"]},
        headers=world.outsider.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["filed", "upheld"]
    await assert_invariants(db)


async def test_dismissed_objection_lets_the_deal_proceed(client: httpx.AsyncClient, db, world: World) -> None:
    listing, deal = await h.offer_deal(client, world, world.uni)
    objection = await object_(client, world.outsider, deal["id"], expect=201)
    dismissed = await h.post(client, f"/api/v1/objections/{objection['id']}/dismiss", world.op)
    assert dismissed["status"] == "dismissed"
    # Dismissed inside the 15 days: the notice runs on to its end, then signing starts.
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))["status"] == "public_notice"
    await t.advance_past(client, deal["notice_ends_at"])
    moved = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert moved["status"] == "awaiting_signatures"
    assert at(moved["sign_by"]) == CAL.add_working_days(at(deal["notice_ends_at"]), 5)
    assert await h.listing_status(client, listing["id"]) == "under_contract"
    await assert_invariants(db)


async def test_a_pending_objection_holds_the_deal_past_15_days(
    client: httpx.AsyncClient, db, world: World
) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    first = await object_(client, world.outsider, deal["id"], expect=201)
    second = await object_(client, world.company, deal["id"], expect=201)
    await t.advance_past(client, at(deal["notice_ends_at"]) + timedelta(days=10))
    held = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert held["status"] == "public_notice" and held["sign_by"] is None
    assert (await h.get(client, f"/api/v1/notices/{deal['id']}"))["status"] == "in_notice"
    # No new objections, though: the notice period is over.
    await object_(client, world.outsider, deal["id"], expect=409, code="invalid_state")

    await h.post(client, f"/api/v1/objections/{first['id']}/dismiss", world.op)
    assert (await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer))["status"] == "public_notice"
    dismissed_at = await t.now(client)
    await h.post(client, f"/api/v1/objections/{second['id']}/dismiss", world.op)
    moved = await h.get(client, f"/api/v1/deals/{deal['id']}", world.buyer)
    assert moved["status"] == "awaiting_signatures"
    sign_by = at(moved["sign_by"])
    expected = CAL.add_working_days(dismissed_at, 5)
    assert timedelta(0) <= sign_by - expected < timedelta(seconds=30)
    await assert_invariants(db)


# --- SPEC §20: one pending objection per organization; the objector stays hidden ---------------------------


async def _objector(client: httpx.AsyncClient, world: World) -> tuple[h.f.Actor, list[str]]:
    """A verified organization with distinctive names, and every identity of it the deal's parties may not
    learn: organization id, name and credit code; its user's id, email and name."""
    mark = uuid.uuid4().hex[:8]
    name, user_name, email = f"异议方{mark}有限公司", f"异议人{mark}", f"objector-{mark}@example.cn"
    code = h.f.credit_code(800_000_000 + int(mark[:6], 16))
    body = {
        "name": name,
        "kind": "enterprise",
        "credit_code": code,
        "admin": {"email": email, "password": h.f.PASSWORD, "name": user_name},
    }
    r = await client.post("/api/v1/organizations", json=body)
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    await h.post(client, f"/api/v1/organizations/{org_id}/verify", world.op)
    headers = await h.f.login(client, email)
    user_id = (await client.get("/api/v1/me", headers=headers)).json()["id"]
    actor = h.f.Actor(id=user_id, email=email, org_id=org_id, headers=headers)
    return actor, [org_id, name, code, user_id, email, user_name]


def _named(r: httpx.Response, identities: list[str]) -> list[str]:
    text = (r.text + json.dumps(dict(r.headers))).lower()
    return [i for i in identities if i.lower() in text or json.dumps(i)[1:-1].lower() in text]


async def test_one_pending_objection_per_organization(client: httpx.AsyncClient, db, world: World) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    first = await object_(client, world.outsider, deal["id"], expect=201)
    await object_(client, world.outsider, deal["id"], expect=409, code="objection_exists")
    # Another organization may object too; and once the first is resolved, the same organization again.
    await object_(client, world.company, deal["id"], expect=201)
    await h.post(client, f"/api/v1/objections/{first['id']}/dismiss", world.op)
    await object_(client, world.outsider, deal["id"], expect=201)
    await object_(client, world.outsider, deal["id"], expect=409, code="objection_exists")
    pending = await h.get(client, f"/api/v1/objections?deal_id={deal['id']}&status=pending", world.op)
    assert sorted(o["organization_id"] for o in pending["items"]) == sorted(
        [world.outsider.org_id, world.company.org_id]
    )
    await assert_invariants(db)


async def test_parallel_objections_of_one_organization_make_one(
    client: httpx.AsyncClient, db, world: World
) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    url = f"/api/v1/deals/{deal['id']}/objections"
    responses = await asyncio.gather(
        *(client.post(url, json={"reason": f"理由{i}"}, headers=world.outsider.headers) for i in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"objection_exists"}
    everything = await h.get(client, f"/api/v1/objections?deal_id={deal['id']}", world.op)
    assert len(everything["items"]) == 1
    assert (await h.get(client, f"/api/v1/notices/{deal['id']}"))["pending_objections"] == 1
    await assert_invariants(db)


async def test_the_objector_is_known_to_operators_and_itself_only(
    client: httpx.AsyncClient, db, world: World
) -> None:
    _, deal = await h.offer_deal(client, world, world.uni)
    objector, identities = await _objector(client, world)
    filed = await object_(client, objector, deal["id"], expect=201)
    url = f"/api/v1/objections/{filed['id']}"
    assert filed["organization_id"] == objector.org_id
    assert (await h.get(client, url, objector))["organization_id"] == objector.org_id
    assert (await h.get(client, url, world.op))["organization_id"] == objector.org_id
    await h.post(client, f"/api/v1/objections/{filed['id']}/dismiss", world.op, {"note": "理由不成立"})

    audit = "/api/v1/audit-events"
    for party in (world.uni, world.buyer):
        seen = await h.get(client, url, party)
        assert seen["organization_id"] is None
        assert (seen["id"], seen["status"], seen["reason"]) == (filed["id"], "dismissed", "价格明显偏低")
        assert seen["created_at"] and seen["resolved_at"]
        listed = await h.get(client, f"/api/v1/objections?deal_id={deal['id']}", party)
        assert [o["organization_id"] for o in listed["items"]] == [None]
        chain = await h.get(client, f"{audit}?entity_type=objection&entity_id={filed['id']}", party)
        assert [e["action"] for e in chain["items"]] == ["dismissed"]
        deal_chain = await h.get(client, f"{audit}?entity_type=deal&entity_id={deal['id']}", party)
        assert "objection_filed" not in [e["action"] for e in deal_chain["items"]]
        assert "objection_dismissed" in [e["action"] for e in deal_chain["items"]]
        for path in (
            url,
            f"/api/v1/objections?deal_id={deal['id']}",
            "/api/v1/objections",
            f"/api/v1/notices/{deal['id']}",
            f"/api/v1/deals/{deal['id']}",
            f"{audit}?entity_type=objection&entity_id={filed['id']}",
            f"{audit}?entity_type=deal&entity_id={deal['id']}",
        ):
            r = await client.get(path, headers=party.headers)
            assert r.status_code == 200, r.text
            assert _named(r, identities) == [], path

    # The objector and operators read the whole chain, the filing included.
    for reader in (objector, world.op):
        chain = await h.get(client, f"{audit}?entity_type=objection&entity_id={filed['id']}", reader)
        assert [e["action"] for e in chain["items"]] == ["filed", "dismissed"]
    deal_chain = await h.get(client, f"{audit}?entity_type=deal&entity_id={deal['id']}", world.op)
    assert "objection_filed" in [e["action"] for e in deal_chain["items"]]
    await assert_invariants(db)
