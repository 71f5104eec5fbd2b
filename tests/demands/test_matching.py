"""Matching demands and listings, one formula both ways (SPEC §17.6), on both databases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.demands import helpers as h
from tests.world import World, org

NEUTRAL = {"summary": "适用于动力车辆", "patent_title": "一种装置", "abstract": "本发明公开了一种装置。"}
# 寻求 求锂 锂电 电池 池隔 隔膜 膜技 技术: eight terms
TITLE = "寻求锂电池隔膜技术"


pytestmark = pytest.mark.world(buyer=org(), seller=org("university"))


async def _listing(client: httpx.AsyncClient, db: Database, w: World, **fields: Any) -> dict[str, Any]:
    listing = await h.listing(client, db, w["op"], w["seller"], **{**NEUTRAL, **fields})
    await t.advance(client, 1)  # distinct published_at
    return listing


def scored(page: dict[str, Any], kind: str) -> list[tuple[str, float, str, float]]:
    return [(i[kind]["id"], i["score"], i["ipc_match"], i["text_score"]) for i in page["items"]]


async def test_a_demand_ranks_the_published_listings(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    l1 = await _listing(client, db, world, title="一种锂电池隔膜的制备方法", ipc=("H01M 10/0562",))  # 4/8
    l2 = await _listing(client, db, world, title="一种锂电池隔膜的制备方法", ipc=("H01M 4/36",))
    # 6/8 from a patent's abstract, no IPC match
    l3 = await _listing(
        client, db, world, title="转让一项专利", abstract="锂电池隔膜技术", ipc=("A01K 61/00",)
    )
    await _listing(client, db, world, title="海参养殖设备", ipc=("A01K 61/00",))  # nothing in common
    await _listing(client, db, world, title="电池隔膜", ipc=("A01K 61/00",))  # 3/8 = 0.38: left out
    l6 = await _listing(client, db, world, title="一种锂电池隔膜的制备方法", ipc=("H01M 10/0562",))
    pid = await h.listings.patent(db, world["seller"], ipc=("H01M 10/0525",))  # a draft: never ranked
    await h.listings.create(client, world["seller"], h.listings.body([pid], title=TITLE))
    demand = await h.published(client, world["buyer"], world["op"], title=TITLE, ipc_codes=["H01M 10/0525"])
    page = await h.get(client, None, f"/demands/{demand['id']}/matches")
    assert scored(page, "listing") == [
        (l6["id"], 2.5, "group", 0.5),  # equal scores: the newest first
        (l1["id"], 2.5, "group", 0.5),
        (l2["id"], 1.5, "subclass", 0.5),
        (l3["id"], 0.75, "none", 0.75),
    ]
    assert page["next_cursor"] is None
    # ``listing`` is the listing resource of §5
    assert page["items"][0]["listing"] == await h.get(client, None, f"/listings/{l6['id']}")
    # Pages
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        got = await h.get(client, None, f"/demands/{demand['id']}/matches", **params)
        seen += [i["listing"]["id"] for i in got["items"]]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert seen == [l6["id"], l1["id"], l2["id"], l3["id"]]
    r = await client.get(f"/api/v1/demands/{demand['id']}/matches", params={"cursor": "WzEsMiwzXQ"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
    # A subclass-only demand code matches at subclass at most
    broad = await h.published(client, world["buyer"], world["op"], title="寻求合作", ipc_codes=["H01M"])
    page = await h.get(client, None, f"/demands/{broad['id']}/matches")
    assert {(i["ipc_match"], i["score"]) for i in page["items"]} == {("subclass", 1.0)}
    assert [i["listing"]["id"] for i in page["items"]] == [l6["id"], l2["id"], l1["id"]]  # newest first


async def test_a_listing_ranks_the_published_demands_by_the_same_formula(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, buyer = world["op"], world["buyer"]
    listing = await _listing(client, db, world, title="一种锂电池隔膜的制备方法", ipc=("H01M 10/0562",))
    d1 = await h.published(client, buyer, op, title=TITLE, ipc_codes=["H01M 10/0525"])  # 2 + 4/8
    await t.advance(client, 1)
    # 寻求 求动 动力 力车 车辆 辆技 技术: 3/7 of them in the summary, and the subclass
    d2 = await h.published(client, buyer, op, title="寻求动力车辆技术", ipc_codes=["H01M", "G06F 16/30"])
    await t.advance(client, 1)
    d3 = await h.published(client, buyer, op, title="锂电池隔膜", ipc_codes=["H01M 10/0525"], anonymous=True)
    await h.published(client, buyer, op, title="海参", ipc_codes=["A01K"])  # no match
    await h.create(client, buyer, title=TITLE, ipc_codes=["H01M 10/0525"])  # a draft: never ranked
    closed = await h.published(client, buyer, op, title=TITLE, ipc_codes=["H01M 10/0525"])
    await h.act(client, buyer, closed["id"], "close")
    page = await h.get(client, None, f"/listings/{listing['id']}/matching-demands")
    assert scored(page, "demand") == [
        (d3["id"], 3.0, "group", 1.0),
        (d1["id"], 2.5, "group", 0.5),
        (d2["id"], 1.43, "subclass", 0.43),
    ]
    assert page["items"][2]["demand"] == await h.get(client, None, f"/demands/{d2['id']}")
    # The same pair scores the same from the demand's side
    from_demand = await h.get(client, None, f"/demands/{d1['id']}/matches")
    assert scored(from_demand, "listing") == [(listing["id"], 2.5, "group", 0.5)]


async def test_who_may_ask_for_matches(client: httpx.AsyncClient, db: Database, world: World) -> None:
    op, buyer, seller = world["op"], world["buyer"], world["seller"]
    other = await f.organization(client, verified_by=op)
    draft = await h.create(client, buyer, title=TITLE, ipc_codes=["H01M 10/0525"])
    for who, expect in ((buyer, 200), (op, 200), (other, 404), (None, 404)):
        await h.get(client, who, f"/demands/{draft['id']}/matches", expect=expect)
    pid = await h.listings.patent(db, seller)
    listing = await h.listings.create(client, seller, h.listings.body([pid]))
    for who, expect in ((seller, 200), (op, 200), (other, 404), (None, 404)):
        await h.get(client, who, f"/listings/{listing['id']}/matching-demands", expect=expect)
    await h.get(client, None, "/listings/00000000-0000-4000-8000-000000000000/matching-demands", expect=404)


async def test_the_listing_routes_and_matching_demands_do_not_shadow_each_other(
    client: httpx.AsyncClient, db: Database, world: World, app: Any
) -> None:
    listing = await _listing(client, db, world, title="一种锂电池隔膜的制备方法")
    assert (await h.get(client, None, f"/listings/{listing['id']}"))["id"] == listing["id"]
    assert (await h.get(client, None, f"/listings/{listing['id']}/matching-demands")) == {
        "items": [],
        "next_cursor": None,
    }
    offers = await client.get(f"/api/v1/listings/{listing['id']}/offers", headers=world["seller"].headers)
    assert offers.status_code == 200 and "items" in offers.json()
    r = await client.get("/api/v1/listings/matching-demands")  # not a listing id
    assert r.status_code in (404, 422)
    # Exactly one route serves each path
    for path, name in (
        (f"/api/v1/listings/{listing['id']}", "get_listing"),
        (f"/api/v1/listings/{listing['id']}/matching-demands", "list_listing_matching_demands"),
    ):
        serving = [
            getattr(rc.original_route, "name", None)
            for rc in iter_route_contexts(app.routes)
            if rc.path and "GET" in (rc.methods or ()) and compile_path(rc.path)[0].match(path)
        ]
        assert serving == [name], (path, serving)


async def test_a_lone_chinese_character_and_latin_words_of_a_title(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """A lone character counts when the listing's text contains it (in a longer run too); a Latin word when the
    text has it as a word."""
    pump = await _listing(client, db, world, title="一种水泵系统", ipc=("A01K 61/00",))
    await _listing(client, db, world, title="Pumping station", ipc=("A01K 61/00",))  # "pumping" is not "pump"
    valve = await _listing(client, db, world, title="Smart VALVE controller", ipc=("A01K 61/00",))
    demand = await h.published(client, world["buyer"], world["op"], title="泵 pump", ipc_codes=[])
    assert scored(await h.get(client, None, f"/demands/{demand['id']}/matches"), "listing") == [
        (pump["id"], 0.5, "none", 0.5)
    ]
    demand = await h.published(client, world["buyer"], world["op"], title="valve 阀门", ipc_codes=[])
    assert scored(await h.get(client, None, f"/demands/{demand['id']}/matches"), "listing") == [
        (valve["id"], 0.5, "none", 0.5)
    ]


# Words of listing and demand titles: common ones (in most listings) and rare ones.
VOCABULARY = [
    "一种",
    "制备方法",
    "锂电池",
    "隔膜",
    "海参",
    "养殖",
    "设备",
    "水泵",
    "阀门",
    "传感器",
    "battery",
    "pump",
]


async def test_the_ranking_equals_the_formula_applied_to_every_published_listing(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """The candidates looked up by the rarest terms and the codes' subclasses lose nothing: the ranking is the
    formula applied to every published listing, for titles of many shapes."""
    from sqlalchemy import select

    from app.demands import rules
    from app.models.listings import ListingSearch

    codes = [("H01M 10/0525",), ("H01M 4/36",), ("A01K 61/00",), ("F04B 1/00",)]
    listings = []
    for i in range(14):
        words = [VOCABULARY[(i * 7 + j * 5) % len(VOCABULARY)] for j in range(1 + i % 4)]
        title = ("一种" if i % 2 else "") + "".join(words) + ("制备方法" if i % 3 else "")
        listings.append(await _listing(client, db, world, title=title, ipc=codes[i % len(codes)]))
    async with db.read() as session:
        rows = {str(r.listing_id): r for r in await session.scalars(select(ListingSearch))}
    titles = [
        "一种锂电池隔膜的制备方法",
        "寻求海参养殖设备",
        "泵 pump battery",
        "一种制备方法",
        "阀门传感器 一种",
    ]
    for title, demand_codes in zip(titles, [["H01M 10/0525"], ["A01K"], [], [], ["F04B 2/00"]], strict=True):
        demand = await h.published(client, world["buyer"], world["op"], title=title, ipc_codes=demand_codes)
        terms = rules.title_terms(title)
        expected = []
        for listing, listing_codes in zip(listings, [codes[i % len(codes)] for i in range(14)], strict=True):
            row = rows[listing["id"]]
            m = rules.match(demand_codes, terms, listing_codes, frozenset(row.terms.split()), row.body)
            if m.included:
                key = rules.ranking_key(m.score, h.parse(listing["published_at"]), listing["id"])
                expected.append((key, (listing["id"], float(m.score))))
        page = await h.get(client, None, f"/demands/{demand['id']}/matches", limit="100")
        assert [(i["listing"]["id"], i["score"]) for i in page["items"]] == [
            e for _, e in sorted(expected)
        ], title
