"""The watchlist (SPEC §17.4): an organization's, shared by its members; ``listing_updated`` to its watchers."""

from __future__ import annotations

import uuid

import httpx

from tests import factories as f
from tests import trading as t
from tests.notifications import helpers as h
from tests.world import World

API = "/api/v1"


async def _watch(
    client: httpx.AsyncClient, actor, listing_id: str, expect: int = 201, **headers: str
) -> dict:  # type: ignore[no-untyped-def]
    r = await client.post(f"{API}/watchlist/{listing_id}", headers={**actor.headers, **headers})
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


async def _watchlist(client: httpx.AsyncClient, actor, **params: object) -> dict:  # type: ignore[no-untyped-def]
    r = await client.get(f"{API}/watchlist", params=params, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_members_share_one_watchlist(client: httpx.AsyncClient, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    member = await h.member(client, world.buyer, "watcher@buyer.example.cn")

    watched = await _watch(client, world.buyer, listing["id"])
    assert watched["listing_id"] == listing["id"] and set(watched) == {"listing_id", "created_at"}
    # Already watched (by a colleague): 200, the same body.
    assert await _watch(client, member, listing["id"], expect=200) == watched

    page = await _watchlist(client, member)
    assert page["next_cursor"] is None
    (item,) = page["items"]
    shown = (await client.get(f"{API}/listings/{listing['id']}")).json()
    assert item == {**watched, "listing": shown}
    assert (await _watchlist(client, world.other))["items"] == []  # another organization's: not there

    r = await client.delete(f"{API}/watchlist/{listing['id']}", headers=member.headers)
    assert r.status_code == 204 and r.content == b""
    assert (await _watchlist(client, world.buyer))["items"] == []
    r = await client.delete(f"{API}/watchlist/{listing['id']}", headers=world.buyer.headers)
    assert r.status_code == 204  # watched or not


async def test_a_listing_the_caller_may_not_see_cannot_be_watched(
    client: httpx.AsyncClient, world: World
) -> None:
    published = await t.published_listing(client, world.op, world.seller)
    patent = await f.patent(client, world.seller)
    r = await client.post(
        f"{API}/listings",
        json={
            "title": "草稿",
            "summary": "未发布",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
        },
        headers=world.seller.headers,
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    body = await _watch(client, world.buyer, draft["id"], expect=404)
    assert body["code"] == "not_found"
    await _watch(client, world.buyer, str(uuid.uuid4()), expect=404)
    await _watch(client, world.seller, draft["id"])  # the seller sees its own draft
    assert (await _watchlist(client, world.buyer))["items"] == []

    for method, url in (
        ("POST", f"{API}/watchlist/{published['id']}"),
        ("DELETE", f"{API}/watchlist/{published['id']}"),
        ("GET", f"{API}/watchlist"),
    ):
        r = await client.request(method, url, headers=world.op.headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, url, r.text)
    r = await client.get(f"{API}/watchlist")
    assert r.status_code == 401


async def test_watchers_are_told_of_each_status_change(client: httpx.AsyncClient, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    lid = listing["id"]
    member = await h.member(client, world.buyer, "second@buyer.example.cn")
    await _watch(client, world.buyer, lid)
    await _watch(client, member, lid, expect=200)
    await _watch(client, world.other, lid)

    r = await client.post(
        f"{API}/listings/{lid}/suspend", json={"reason": "核查权属"}, headers=world.op.headers
    )
    assert r.status_code == 200, r.text
    told = await h.received(client, world.orgs, "listing_updated")
    suspended = {"listing_id": lid, "status": "suspended"}
    assert told == {world.buyer.org_id: [suspended], world.other.org_id: [suspended]}
    (note,) = await h.inbox(client, member, "listing_updated")
    assert note["created_at"] == r.json()["updated_at"]  # the business time of the change

    r = await client.delete(f"{API}/watchlist/{lid}", headers=world.other.headers)
    assert r.status_code == 204
    r = await client.post(f"{API}/listings/{lid}/resume", headers=world.op.headers)
    assert r.status_code == 200, r.text
    told = await h.received(client, world.orgs, "listing_updated")
    assert told == {
        world.buyer.org_id: [{"listing_id": lid, "status": "published"}, suspended],
        world.other.org_id: [suspended],
    }


async def test_a_refused_change_tells_nobody(client: httpx.AsyncClient, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    await _watch(client, world.buyer, listing["id"])
    r = await client.post(f"{API}/listings/{listing['id']}/resume", headers=world.op.headers)
    assert r.status_code == 409  # not suspended
    r = await client.post(
        f"{API}/listings/{listing['id']}/suspend", json={"reason": "x"}, headers=world.buyer.headers
    )
    assert r.status_code == 403
    assert await h.inbox(client, world.buyer) == []


async def test_the_watchlist_is_a_cursor_page_most_recent_first(
    client: httpx.AsyncClient, world: World
) -> None:
    ids = [(await t.published_listing(client, world.op, world.seller))["id"] for _ in range(3)]
    for lid in ids:
        await _watch(client, world.buyer, lid)
    first = await _watchlist(client, world.buyer, limit=2)
    assert [i["listing_id"] for i in first["items"]] == [ids[2], ids[1]]
    second = await _watchlist(client, world.buyer, limit=2, cursor=first["next_cursor"])
    assert [i["listing_id"] for i in second["items"]] == [ids[0]] and second["next_cursor"] is None
    r = await client.get(f"{API}/watchlist", params={"cursor": "nonsense"}, headers=world.buyer.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_idempotency_key_replays_the_first_answer(client: httpx.AsyncClient, world: World) -> None:
    listing = await t.published_listing(client, world.op, world.seller)
    first = await _watch(client, world.buyer, listing["id"], **{"Idempotency-Key": "watch-1"})
    r = await client.post(
        f"{API}/watchlist/{listing['id']}", headers={**world.buyer.headers, "Idempotency-Key": "watch-1"}
    )
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true" and r.json() == first
