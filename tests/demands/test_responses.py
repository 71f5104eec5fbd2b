"""Sellers' responses to demands, their acceptance and their notifications (SPEC §17.6, §17.4)."""

from __future__ import annotations

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.demands import helpers as h
from tests.world import World, build, org


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database) -> World:
    w = await build(client, db, buyer=org(), seller=org("university"), rival=org("research_institute"))
    return w.add(
        demand=await h.published(client, w.buyer, w.op), listing=await h.listing(client, db, w.op, w.seller)
    )


async def test_a_seller_responds_and_the_owner_is_told(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    buyer, seller, demand, listing = world["buyer"], world["seller"], world["demand"], world["listing"]
    now = await t.now(client)
    response = await h.respond(client, seller, demand["id"], listing["id"], "我方专利可满足贵方需求。")
    assert response["status"] == "pending" and h.parse(response["created_at"]) >= now
    assert {k: response[k] for k in ("demand_id", "listing_id", "seller_org_id", "message")} == {
        "demand_id": demand["id"],
        "listing_id": listing["id"],
        "seller_org_id": seller.org_id,
        "message": "我方专利可满足贵方需求。",
    }
    [note] = await h.notifications(db, buyer)
    assert note.kind == "demand_response_received"
    assert note.data == {
        "demand_id": demand["id"],
        "response_id": response["id"],
        "listing_id": listing["id"],
    }
    assert note.created_at == h.parse(response["created_at"])
    assert await h.notifications(db, seller) == []
    # One response per demand and listing; another listing of the seller may respond too
    before = len(await h.all_notifications(db))
    await h.respond(client, seller, demand["id"], listing["id"], expect=409, code="already_responded")
    assert len(await h.all_notifications(db)) == before  # a refused request leaves no notification
    second = await h.listing(client, db, world["op"], seller, title="另一项专利")
    await h.respond(client, seller, demand["id"], second["id"])


async def test_refusals(client: httpx.AsyncClient, db: Database, world: World) -> None:
    op, buyer, seller, rival = world["op"], world["buyer"], world["seller"], world["rival"]
    demand, listing = world["demand"], world["listing"]
    # Someone else's listing, one's own demand, an operator: 403
    await h.respond(client, rival, demand["id"], listing["id"], expect=403, code="forbidden")
    own = await h.listing(client, db, op, buyer, title="买方自有专利")
    await h.respond(client, buyer, demand["id"], own["id"], expect=403, code="forbidden")
    await h.respond(client, op, demand["id"], listing["id"], expect=403, code="forbidden")
    unverified = await f.organization(client)
    await h.respond(
        client, unverified, demand["id"], listing["id"], expect=403, code="organization_not_verified"
    )
    # A listing that is not published: 409; one the caller cannot see: 404; no such demand: 404
    pid = await h.listings.patent(db, seller)
    draft = await h.listings.create(client, seller, h.listings.body([pid]))
    await h.respond(client, seller, demand["id"], draft["id"], expect=409, code="invalid_state")
    await h.respond(client, rival, demand["id"], draft["id"], expect=404, code="not_found")
    await h.respond(client, seller, demand["id"], "00000000-0000-4000-8000-000000000000", expect=404)
    await h.respond(client, seller, "00000000-0000-4000-8000-000000000000", listing["id"], expect=404)
    # The demand not published: 409; one never published is not even known to others (404)
    unpublished = await h.create(client, buyer)
    await h.respond(client, seller, unpublished["id"], listing["id"], expect=404, code="not_found")
    await h.act(client, buyer, unpublished["id"], "submit")
    await h.respond(client, seller, unpublished["id"], listing["id"], expect=404, code="not_found")
    closed = await h.published(client, buyer, op)
    await h.act(client, buyer, closed["id"], "close")
    await h.respond(client, seller, closed["id"], listing["id"], expect=409, code="invalid_state")
    # Validation
    r = await client.post(
        f"/api/v1/demands/{demand['id']}/responses",
        json={"listing_id": listing["id"], "message": ""},
        headers=seller.headers,
    )
    assert r.status_code == 422
    # Nothing was written by any of these
    assert (await h.get(client, buyer, f"/demands/{demand['id']}/responses"))["items"] == []
    assert await h.notifications(db, buyer) == []


async def test_a_response_to_a_demand_past_its_expiry_is_refused(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    demand = await h.published(client, world["buyer"], world["op"], days=1)
    await t.advance_past(client, demand["expires_at"])
    await h.respond(
        client, world["seller"], demand["id"], world["listing"]["id"], expect=409, code="invalid_state"
    )


async def test_who_reads_the_responses(client: httpx.AsyncClient, db: Database, world: World) -> None:
    op, buyer, seller, rival, demand = (
        world["op"],
        world["buyer"],
        world["seller"],
        world["rival"],
        world["demand"],
    )
    mine = await h.respond(client, seller, demand["id"], world["listing"]["id"])
    await t.advance(client, 1)
    theirs = await h.respond(client, rival, demand["id"], (await h.listing(client, db, op, rival))["id"])
    path = f"/demands/{demand['id']}/responses"
    assert [r["id"] for r in (await h.get(client, buyer, path))["items"]] == [theirs["id"], mine["id"]]
    assert [r["id"] for r in (await h.get(client, op, path))["items"]] == [theirs["id"], mine["id"]]
    assert [r["id"] for r in (await h.get(client, seller, path))["items"]] == [mine["id"]]
    assert [r["id"] for r in (await h.get(client, rival, path))["items"]] == [theirs["id"]]
    outsider = await f.organization(client, verified_by=op)
    assert (await h.get(client, outsider, path))["items"] == []
    await h.get(client, None, path, expect=401)
    page = await h.get(client, buyer, path, limit="1")
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await h.get(client, buyer, path, limit="1", cursor=page["next_cursor"])
    assert [r["id"] for r in rest["items"]] == [mine["id"]]
    # Once the demand is closed, a seller still reads its own responses; an outsider gets 404
    await h.act(client, buyer, demand["id"], "close")
    assert [r["id"] for r in (await h.get(client, seller, path))["items"]] == [mine["id"]]
    await h.get(client, outsider, path, expect=404)
    assert len((await h.get(client, buyer, path))["items"]) == 2


async def test_the_owner_accepts_or_declines_pending_responses(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, buyer, seller, rival, demand = (
        world["op"],
        world["buyer"],
        world["seller"],
        world["rival"],
        world["demand"],
    )
    first = await h.respond(client, seller, demand["id"], world["listing"]["id"])
    second = await h.respond(client, seller, demand["id"], (await h.listing(client, db, op, seller))["id"])
    third = await h.respond(client, rival, demand["id"], (await h.listing(client, db, op, rival))["id"])
    # Only the owner decides: the seller and operators 403, others 404
    await h.decide(client, seller, first["id"], "accept", expect=403)
    await h.decide(client, op, first["id"], "accept", expect=403)
    await h.decide(client, rival, first["id"], "accept", expect=404)
    await h.decide(client, buyer, "00000000-0000-4000-8000-000000000000", "accept", expect=404)
    accepted = await h.decide(client, buyer, first["id"], "accept")
    assert accepted["status"] == "accepted"
    [note] = await h.notifications(db, seller, "demand_response_accepted")
    assert note.data == {
        "demand_id": demand["id"],
        "response_id": first["id"],
        "listing_id": world["listing"]["id"],
        "organization_id": buyer.org_id,
    }
    assert (await h.decide(client, buyer, second["id"], "accept"))["status"] == "accepted"  # several may be
    assert (await h.decide(client, buyer, third["id"], "decline"))["status"] == "declined"
    for response in (first, third):
        for verb in ("accept", "decline"):
            r = await client.post(f"/api/v1/demand-responses/{response['id']}/{verb}", headers=buyer.headers)
            assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    assert await h.notifications(db, rival, "demand_response_accepted") == []  # declined: not told
    # No offer is made by accepting
    offers = await client.get(f"/api/v1/listings/{world['listing']['id']}/offers", headers=seller.headers)
    assert offers.json()["items"] == []
    # Idempotency-Key on the decision
    fourth = await h.respond(client, rival, demand["id"], (await h.listing(client, db, op, rival))["id"])
    key = {**buyer.headers, "Idempotency-Key": "accept-4"}
    one = await client.post(f"/api/v1/demand-responses/{fourth['id']}/accept", headers=key)
    two = await client.post(f"/api/v1/demand-responses/{fourth['id']}/accept", headers=key)
    assert (one.status_code, two.status_code) == (200, 200) and two.headers.get(
        "Idempotent-Replayed"
    ) == "true"
    assert len(await h.notifications(db, rival, "demand_response_accepted")) == 1
    # The owner's trail has every response and decision; the sellers read none of it
    events = await h.get(client, buyer, "/audit-events", entity_type="demand_response", entity_id=first["id"])
    assert [e["action"] for e in events["items"]] == ["created", "accepted"]
    for who in (seller, rival):
        await h.get(
            client, who, "/audit-events", entity_type="demand_response", entity_id=first["id"], expect=404
        )
        await h.get(client, who, "/audit-events", entity_type="demand", entity_id=demand["id"], expect=404)
