"""Saved searches (SPEC §17.4): the filters of the public search; ``listing_matched`` when a listing of another
organization is first published and meets them, once per listing and search, one per organization."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import factories as f
from tests import trading as t
from tests.notifications import helpers as h
from tests.world import World

API = "/api/v1"


async def _save(
    client: httpx.AsyncClient, actor: f.Actor, expect: int = 201, **criteria: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/saved-searches", json={"name": "我的搜索", **criteria}, headers=actor.headers
    )
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_create_list_and_delete(client: httpx.AsyncClient, world: World) -> None:
    member = await h.member(client, world.buyer, "searcher@buyer.example.cn")
    first = await _save(client, world.buyer, q=" 锂电池 ", ipc="H01M", min_price="100000.00")
    assert first == {
        "id": first["id"],
        "name": "我的搜索",
        "q": "锂电池",
        "pricing_mode": None,
        "transaction_kind": None,
        "ipc": "H01M",
        "min_price": "100000.00",
        "max_price": None,
        "created_at": first["created_at"],
    }
    second = await _save(
        client, member, pricing_mode="listed", transaction_kind="assignment", max_price="9.50"
    )
    r = await client.get(f"{API}/saved-searches", headers=world.buyer.headers)
    assert r.status_code == 200 and r.json() == {"items": [second, first], "next_cursor": None}
    r = await client.get(f"{API}/saved-searches", params={"limit": 1}, headers=member.headers)
    assert r.json()["items"] == [second]
    r = await client.get(
        f"{API}/saved-searches", params={"cursor": r.json()["next_cursor"]}, headers=member.headers
    )
    assert r.json() == {"items": [first], "next_cursor": None}
    r = await client.get(f"{API}/saved-searches", headers=world.other.headers)
    assert r.json()["items"] == []

    r = await client.delete(f"{API}/saved-searches/{first['id']}", headers=world.other.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.delete(f"{API}/saved-searches/{first['id']}", headers=member.headers)
    assert r.status_code == 204
    r = await client.delete(f"{API}/saved-searches/{first['id']}", headers=member.headers)
    assert r.status_code == 404
    r = await client.get(f"{API}/saved-searches", headers=world.buyer.headers)
    assert r.json()["items"] == [second]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "空"},
        {"name": "空白", "q": "   ", "ipc": " "},
        {"name": "空值", "q": None, "min_price": None},
        {"name": "", "q": "电池"},
        {"name": "价格", "min_price": "1.5"},
        {"name": "价格", "max_price": 100},
        {"name": "方式", "pricing_mode": "barter"},
        {"name": "种类", "transaction_kind": "gift"},
        {"name": "长", "q": "电" * 201},
        {"name": "长", "ipc": "H" * 33},
        {"name": "多余", "q": "电池", "status": "published"},
    ],
)
async def test_criteria_are_validated_like_the_search(
    client: httpx.AsyncClient, world: World, body: dict[str, Any]
) -> None:
    r = await client.post(f"{API}/saved-searches", json=body, headers=world.buyer.headers)
    assert r.status_code == 422, r.text
    r = await client.get(f"{API}/saved-searches", headers=world.buyer.headers)
    assert r.json()["items"] == []


async def test_operators_have_none(client: httpx.AsyncClient, world: World) -> None:
    for method, url, body in (
        ("POST", f"{API}/saved-searches", {"name": "x", "q": "电池"}),
        ("GET", f"{API}/saved-searches", None),
        ("DELETE", f"{API}/saved-searches/{uuid.uuid4()}", None),
    ):
        r = await client.request(method, url, json=body, headers=world.op.headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, r.text)


async def test_a_published_listing_is_announced_to_the_searches_it_meets(
    client: httpx.AsyncClient, world: World
) -> None:
    text = await _save(client, world.other, q="锂电池")  # Chinese full text, as the search: a substring
    ipc_and_price = await _save(client, world.outsider, ipc="h01m", max_price="600000.00")
    await _save(client, world.buyer, q="电池", pricing_mode="listed")  # the mode differs
    await _save(client, world.buyer, q="海参")
    await _save(client, world.buyer, min_price="500000.01")
    await _save(client, world.seller, q="锂电池")  # never its own listings

    listing = await t.published_listing(client, world.op, world.seller, price="500000.00")
    title = listing["title"]
    assert "锂电池" in title
    told = await h.received(client, world.orgs, "listing_matched")
    assert told == {
        world.other.org_id: [{"listing_id": listing["id"], "saved_search_id": text["id"], "title": title}],
        world.outsider.org_id: [
            {"listing_id": listing["id"], "saved_search_id": ipc_and_price["id"], "title": title}
        ],
    }
    (note,) = await h.inbox(client, world.other, "listing_matched")
    assert note["created_at"] == listing["updated_at"]  # the business time of the publication

    # Published again after a suspension: not announced again.
    for verb, body in (("suspend", {"reason": "核查"}), ("resume", None)):
        r = await client.post(f"{API}/listings/{listing['id']}/{verb}", json=body, headers=world.op.headers)
        assert r.status_code == 200, r.text
    assert await h.received(client, world.orgs, "listing_matched") == told


async def test_one_notification_per_organization_however_many_searches_match(
    client: httpx.AsyncClient, world: World
) -> None:
    older = await _save(client, world.buyer, q="隔膜")
    await _save(client, world.buyer, transaction_kind="assignment")
    member = await h.member(client, world.buyer, "second@buyer.example.cn")
    await _save(client, member, q="制备方法 锂电池")
    listing = await t.published_listing(client, world.op, world.seller)
    told = await h.received(client, world.orgs, "listing_matched")
    assert told == {
        world.buyer.org_id: [
            {"listing_id": listing["id"], "saved_search_id": older["id"], "title": listing["title"]}
        ]
    }


async def test_a_search_saved_after_the_publication_is_not_told_of_it(
    client: httpx.AsyncClient, world: World
) -> None:
    await t.published_listing(client, world.op, world.seller)
    await _save(client, world.buyer, q="锂电池")
    assert await h.inbox(client, world.buyer) == []
