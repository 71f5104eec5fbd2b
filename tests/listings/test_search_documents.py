"""A listing's search row follows its patents' text (SPEC §5): a patent whose owner may edit it (its listings are
drafts or have ended) is found by its new title and no longer by its old one, after an edit in the registry
(PATCH) and after a CSV re-import; the listing submitted and published then is found publicly by the new text."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from app.models.patents import Patent
from app.patents.importer import CHUNK_ROWS
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


async def test_a_reimport_in_several_chunks_refreshes_with_each_chunk_s_text(
    client: httpx.AsyncClient, db
) -> None:
    """A draft offers the first and the last patent of a re-import spanning two chunks: the first chunk's
    refresh reads both, and the second chunk's still writes the last one's new title (not the one read then)."""
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    last = CHUNK_ROWS + 1
    r = await upload(client, uni, csv_bytes([row(n, title=f"一种导热材料{n}") for n in range(1, last + 1)]))
    assert r.status_code == 200 and r.json()["created"] == last, r.text
    numbers = [f.application_number(n, year=2019) for n in (1, last)]
    async with db.read() as session:
        ids = dict(
            (
                await session.execute(
                    select(Patent.application_number, Patent.id).where(Patent.application_number.in_(numbers))
                )
            ).all()
        )
    draft = await h.create(
        client, uni, h.body([str(ids[n]) for n in numbers], title="导热材料组合", summary="")
    )

    renamed = {1: "一种石墨烯导热膜", last: "一种氮化硼导热垫"}
    rows = [row(n, title=renamed.get(n, f"一种导热材料{n}")) for n in range(1, last + 1)]
    r = await upload(client, uni, csv_bytes(rows))
    assert r.status_code == 200 and r.json()["updated"] == 2, r.text
    assert await search(client, uni.headers, q="石墨烯") == [draft["id"]]
    assert await search(client, uni.headers, q="氮化硼") == [draft["id"]]
