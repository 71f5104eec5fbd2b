"""A listing's search row follows its patents' text (SPEC §5): a patent whose owner may edit it (its listings are
drafts or have ended) is found by its new title and no longer by its old one, after an edit in the registry
(PATCH) and after a CSV re-import; the listing submitted and published then is found publicly by the new text."""

from __future__ import annotations

import httpx

from tests import factories as f
from tests.listings import helpers as h
from tests.listings.test_search import search
from tests.patents.test_import import csv_bytes, row, upload


async def test_an_edited_patent_title_is_what_its_draft_and_then_its_listing_are_found_by(
    client: httpx.AsyncClient, db
) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    patent = await f.patent(client, uni, title="一种石墨烯散热膜", abstract="导热")
    draft = await h.create(client, uni, h.body([patent["id"]], title="散热材料转让", summary=""))
    assert await search(client, uni.headers, q="石墨烯") == [draft["id"]]

    r = await client.patch(
        f"/api/v1/patents/{patent['id']}", json={"title": "一种氮化硼导热垫"}, headers=uni.headers
    )
    assert r.status_code == 200, r.text
    assert await search(client, uni.headers, q="氮化硼") == [draft["id"]]
    assert await search(client, uni.headers, q="石墨烯") == []

    await h.act(client, uni, draft["id"], "submit")
    await h.act(client, op, draft["id"], "approve")
    assert await search(client, q="氮化硼") == [draft["id"]]
    assert await search(client, q="石墨烯") == []


async def test_a_reimported_patent_title_is_what_its_draft_is_found_by(client: httpx.AsyncClient, db) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    r = await upload(client, uni, csv_bytes([row(7, title="一种钙钛矿太阳能电池")]))
    assert r.status_code == 200, r.text
    listed = await client.get("/api/v1/patents", params={"limit": "10"}, headers=uni.headers)
    [patent] = listed.json()["items"]
    draft = await h.create(client, uni, h.body([patent["id"]], title="光伏技术转让", summary=""))
    assert await search(client, uni.headers, q="钙钛矿") == [draft["id"]]

    r = await upload(client, uni, csv_bytes([row(7, title="一种有机光伏薄膜")]))
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    assert await search(client, uni.headers, q="有机光伏") == [draft["id"]]
    assert await search(client, uni.headers, q="钙钛矿") == []
