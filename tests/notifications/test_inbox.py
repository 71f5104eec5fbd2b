"""The inbox (SPEC §17.4): an organization's notifications newest first, its unread count and read state,
shared by its members; another organization's notification is 404, operators have none (403)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests import trading as t
from tests.notifications import helpers as h
from tests.world import World

API = "/api/v1"


async def _four_changes(client: httpx.AsyncClient, world: World) -> str:
    """A listing the buyer watches, suspended and resumed twice: four ``listing_updated`` for the buyer."""
    listing = await t.published_listing(client, world.op, world.seller)
    lid = listing["id"]
    r = await client.post(f"{API}/watchlist/{lid}", headers=world.buyer.headers)
    assert r.status_code == 201, r.text
    for _ in range(2):
        for verb, body in (("suspend", {"reason": "核查"}), ("resume", None)):
            r = await client.post(f"{API}/listings/{lid}/{verb}", json=body, headers=world.op.headers)
            assert r.status_code == 200, r.text
    return str(lid)


async def _read(
    client: httpx.AsyncClient, actor: Any, notification_id: str, expect: int = 200
) -> dict[str, Any]:
    r = await client.post(f"{API}/notifications/{notification_id}/read", headers=actor.headers)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_unread_filter_count_and_shared_read_state(client: httpx.AsyncClient, world: World) -> None:
    lid = await _four_changes(client, world)
    member = await h.member(client, world.buyer, "reader@buyer.example.cn")

    page = await h.inbox_page(client, world.buyer)
    assert page["unread_count"] == 4 and page["next_cursor"] is None
    assert [n["data"] for n in page["items"]] == [
        {"listing_id": lid, "status": s} for s in ("published", "suspended", "published", "suspended")
    ]
    assert all(set(n) == {"id", "kind", "data", "created_at", "read_at"} for n in page["items"])
    assert all(n["kind"] == "listing_updated" and n["read_at"] is None for n in page["items"])
    newest = page["items"][0]

    # One member reads it: read for the whole organization; reading it again keeps the first read_at.
    read = await _read(client, member, newest["id"])
    assert read["id"] == newest["id"] and read["read_at"] is not None
    await t.advance(client, 60)
    again = await _read(client, world.buyer, newest["id"])
    assert again["read_at"] == read["read_at"]
    assert {**again, "read_at": None} == newest

    unread = await h.inbox_page(client, world.buyer, unread=True)
    assert unread["unread_count"] == 3 and len(unread["items"]) == 3
    assert newest["id"] not in {n["id"] for n in unread["items"]}
    already = await h.inbox_page(client, member, unread=False)
    assert [n["id"] for n in already["items"]] == [newest["id"]] and already["unread_count"] == 3
    by_kind = await h.inbox_page(client, member, kind="listing_updated")
    assert len(by_kind["items"]) == 4 and by_kind["unread_count"] == 3
    none = await h.inbox_page(client, member, kind="offer_received")
    assert none["items"] == [] and none["unread_count"] == 0
    bad = await h.inbox_page(client, member, kind="no_such_kind", expect=422)
    assert bad["code"] == "validation_error"

    r = await client.post(f"{API}/notifications/read-all", headers=member.headers)
    assert r.status_code == 200 and r.json() == {"updated": 3}
    r = await client.post(f"{API}/notifications/read-all", headers=world.buyer.headers)
    assert r.status_code == 200 and r.json() == {"updated": 0}
    after = await h.inbox_page(client, world.buyer)
    assert after["unread_count"] == 0 and all(n["read_at"] for n in after["items"])
    assert after["items"][0]["read_at"] == read["read_at"]  # read-all leaves the first read_at


async def test_another_organization_gets_404_and_operators_403(
    client: httpx.AsyncClient, world: World
) -> None:
    await _four_changes(client, world)
    (newest, *_) = await h.inbox(client, world.buyer)
    body = await _read(client, world.other, newest["id"], expect=404)
    assert body["code"] == "not_found"
    await _read(client, world.other, str(uuid.uuid4()), expect=404)
    assert (await h.inbox_page(client, world.other))["items"] == []
    r = await client.post(f"{API}/notifications/read-all", headers=world.other.headers)
    assert r.json() == {"updated": 0}
    assert (await h.inbox_page(client, world.buyer))["unread_count"] == 4  # untouched

    for method, url in (
        ("GET", f"{API}/notifications"),
        ("POST", f"{API}/notifications/{newest['id']}/read"),
        ("POST", f"{API}/notifications/read-all"),
    ):
        r = await client.request(method, url, headers=world.op.headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, url, r.text)
        r = await client.request(method, url)
        assert r.status_code == 401, (method, url, r.text)


async def test_the_inbox_is_a_cursor_page_newest_first(client: httpx.AsyncClient, world: World) -> None:
    await _four_changes(client, world)
    everything = await h.inbox(client, world.buyer)
    times = [n["created_at"] for n in everything]
    assert times == sorted(times, reverse=True) and len(everything) == 4
    first = await h.inbox_page(client, world.buyer, limit=3)
    assert first["items"] == everything[:3] and first["next_cursor"]
    second = await h.inbox_page(client, world.buyer, limit=3, cursor=first["next_cursor"])
    assert second["items"] == everything[3:] and second["next_cursor"] is None
    assert second["unread_count"] == 4
    bad = await h.inbox_page(client, world.buyer, cursor="bm90LWEtY3Vyc29y", expect=422)
    assert bad["code"] == "invalid_cursor"


async def test_idempotency_key_on_reading(client: httpx.AsyncClient, world: World) -> None:
    await _four_changes(client, world)
    headers = {**world.buyer.headers, "Idempotency-Key": "read-all-1"}
    first = await client.post(f"{API}/notifications/read-all", headers=headers)
    assert first.status_code == 200 and first.json() == {"updated": 4}
    replay = await client.post(f"{API}/notifications/read-all", headers=headers)
    assert replay.status_code == 200 and replay.json() == {"updated": 4}
    assert replay.headers["Idempotent-Replayed"] == "true"
