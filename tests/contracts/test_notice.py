"""Public notice of a public institution's negotiated deal, objections and the ``notice_end`` deadline
(SPEC §8; 浙江条例 art. 17). Every scenario ends with the invariants."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from app.kit.workdays import WorkdayCalendar
from tests import trading as t
from tests.contracts import helpers as h
from tests.contracts.helpers import World
from tests.invariants import assert_invariants

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
