"""Reading demands (SPEC §17.6): who sees which, the filters, the orders and the pages, on both databases."""

from __future__ import annotations

import httpx
import pytest

from tests import trading as t
from tests.demands import helpers as h
from tests.world import World, org

pytestmark = pytest.mark.world(owner=org(), other=org())


def ids(page: dict[str, object]) -> list[str]:
    return [item["id"] for item in page["items"]]  # type: ignore[attr-defined, index]


async def test_who_sees_which_demand(client: httpx.AsyncClient, world: World) -> None:
    owner, other, op = world["owner"], world["other"], world["op"]
    draft = await h.create(client, owner, title="草稿需求")
    pending = await h.create(client, owner, title="待审需求")
    await h.act(client, owner, pending["id"], "submit")
    public = await h.published(client, owner, op, title="公开需求")
    closed = await h.published(client, owner, op, title="关闭需求")
    await h.act(client, owner, closed["id"], "close")
    everyone = [draft, pending, public, closed]
    # The public, and a signed-in organization without mine=true: published ones only
    for who in (None, other, owner):
        assert ids(await h.get(client, who, "/demands")) == [public["id"]]
    # mine=true: the caller's own in every state (newest first); none for another organization
    assert set(ids(await h.get(client, owner, "/demands", mine="true"))) == {d["id"] for d in everyone}
    assert ids(await h.get(client, other, "/demands", mine="true")) == []
    assert ids(await h.get(client, owner, "/demands", mine="true", status="closed")) == [closed["id"]]
    r = await client.get("/api/v1/demands", params={"mine": "true"})
    assert r.status_code == 401
    r = await client.get("/api/v1/demands", params={"mine": "true"}, headers=op.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    # Operators: any status
    assert set(ids(await h.get(client, op, "/demands"))) == {d["id"] for d in everyone}
    assert ids(await h.get(client, op, "/demands", status="pending_review")) == [pending["id"]]
    assert ids(await h.get(client, None, "/demands", status="draft")) == []  # the public never sees drafts
    # One demand: published to anyone, the others to the owner and operators only (else 404)
    for demand in everyone:
        path = f"/demands/{demand['id']}"
        assert (await h.get(client, owner, path))["id"] == demand["id"]
        assert (await h.get(client, op, path))["id"] == demand["id"]
        expect = 200 if demand is public else 404
        await h.get(client, other, path, expect=expect)
        await h.get(client, None, path, expect=expect)
    await h.get(client, None, "/demands/00000000-0000-4000-8000-000000000000", expect=404)


async def test_full_text_finds_chinese_and_latin_on_both_databases(
    client: httpx.AsyncClient, world: World
) -> None:
    owner, op = world["owner"], world["op"]
    sea = await h.published(client, owner, op, title="寻求海参养殖设备技术", description="近海养殖")
    battery = await h.published(
        client, owner, op, title="Lithium battery separator", description="需要高孔隙率隔膜，用于动力电池"
    )
    assert ids(await h.get(client, None, "/demands", q="海参养殖")) == [sea["id"]]
    assert ids(await h.get(client, None, "/demands", q="养殖设备")) == [sea["id"]]
    assert ids(await h.get(client, None, "/demands", q="海")) == [sea["id"]]  # one character
    assert ids(await h.get(client, None, "/demands", q="动力电池")) == [battery["id"]]  # the description
    assert ids(await h.get(client, None, "/demands", q="BATTERY")) == [battery["id"]]
    assert ids(await h.get(client, None, "/demands", q="batt")) == []  # words are whole words
    assert ids(await h.get(client, None, "/demands", q="电池 lithium")) == [battery["id"]]  # every part
    assert ids(await h.get(client, None, "/demands", q="海参电池")) == []  # a run is a substring, not bigrams
    assert ids(await h.get(client, None, "/demands", q="%")) == []
    assert ids(await h.get(client, None, "/demands", q="_")) == []
    assert set(ids(await h.get(client, None, "/demands", q="  "))) == {sea["id"], battery["id"]}


async def test_ipc_is_a_prefix_over_the_demand_codes(client: httpx.AsyncClient, world: World) -> None:
    owner, op = world["owner"], world["op"]
    full = await h.published(client, owner, op, ipc_codes=["H01M 10/0525"])
    subclass = await h.published(client, owner, op, ipc_codes=["H01M"])
    other = await h.published(client, owner, op, ipc_codes=["A01K 61/00", "G06F 16/30"])
    assert set(ids(await h.get(client, None, "/demands", ipc="H01M"))) == {full["id"], subclass["id"]}
    assert ids(await h.get(client, None, "/demands", ipc="h01m10/05")) == [full["id"]]
    assert ids(await h.get(client, None, "/demands", ipc="H01M 10")) == [full["id"]]
    assert ids(await h.get(client, None, "/demands", ipc="H01M 1")) == []  # group 1 exactly, as for patents
    assert ids(await h.get(client, None, "/demands", ipc="G06")) == [other["id"]]
    assert ids(await h.get(client, None, "/demands", ipc="H01L")) == []
    r = await client.get("/api/v1/demands", params={"ipc": "H0M"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_ipc_code")


async def test_orders_and_pages(client: httpx.AsyncClient, world: World) -> None:
    owner, op = world["owner"], world["op"]
    made = []
    for days in (40, 10, 300, 10, 20):
        made.append(await h.published(client, owner, op, days=days))
        await t.advance(client, 1)
    newest_first = [d["id"] for d in reversed(made)]
    assert ids(await h.get(client, None, "/demands")) == newest_first
    assert ids(await h.get(client, None, "/demands", sort="-published_at")) == newest_first
    by_deadline = [d["id"] for d in sorted(made, key=lambda d: (d["deadline"], d["id"]))]
    assert ids(await h.get(client, None, "/demands", sort="deadline")) == by_deadline
    for sort, expected in (("-published_at", newest_first), ("deadline", by_deadline)):
        seen: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = await h.get(client, None, "/demands", **params)
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
    r = await client.get("/api/v1/demands", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    r = await client.get("/api/v1/demands", params={"sort": "price"})
    assert r.status_code == 422
