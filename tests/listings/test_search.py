"""Public search (SPEC §5): Chinese and Latin full text, filters, sorting, keyset pagination."""

from __future__ import annotations

import httpx
import pytest

from app.listings import repository
from tests import factories as f
from tests.listings import helpers as h

LIC = {"term_months": 12, "territory": "全国", "field_of_use": "通用"}


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, db):  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    lab = await f.organization(client, kind="research_institute", verified_by=op)
    specs = [
        # (seller, title, patent title, patent abstract, overrides, ipc)
        (
            uni,
            "一种锂电池隔膜的制备方法",
            "锂电池隔膜",
            "提高电池安全性",
            {"price": "300000.00"},
            ("H01M 10/0525",),
        ),
        (
            uni,
            "高性能芯片散热结构",
            "芯片散热器",
            "用于服务器",
            {
                "pricing_mode": "auction",
                "price": "800000.00",
                "deposit": "80000.00",
                "auction": dict(h.AUCTION),
            },
            ("H01L 23/367",),
        ),
        (
            lab,
            "柔性压力传感器",
            "传感器",
            "Flexible pressure sensor for wearable devices",
            {"pricing_mode": "listed", "price": "150000.00", "deposit": "10000.00"},
            ("G01L 1/18",),
        ),
        (
            lab,
            "固态电解质材料",
            "电解质",
            "A solid-state battery electrolyte",
            {"price": None},
            ("H01M 10/056",),
        ),
        (
            uni,
            "一种图像识别方法",
            "图像识别",
            "深度学习模型",
            {"transaction_kind": "nonexclusive_license", "license": LIC, "price": "50000.00"},
            ("G06V 10/82",),
        ),
    ]
    ids = []
    for seller, title, ptitle, abstract, overrides, ipc in specs:
        p = await h.patent(db, seller, title=ptitle, abstract=abstract, ipc=ipc)
        listing = await h.published(
            client, seller, op, h.body([p], title=title, summary="", **{k: v for k, v in overrides.items()})
        )
        ids.append(listing["id"])
    draft_patent = await h.patent(db, uni, title="电池草稿")
    await h.create(client, uni, h.body([draft_patent], title="电池草稿（未发布）"))
    return {"op": op, "uni": uni, "lab": lab, "ids": ids}


async def search(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: object
) -> list[str]:
    r = await client.get("/api/v1/listings", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


async def test_chinese_substrings(client: httpx.AsyncClient, db, catalogue) -> None:
    ids = catalogue["ids"]
    assert await search(client, q="锂电池") == [ids[0]]
    assert await search(client, q="一种锂电池隔膜的制备方法") == [ids[0]]
    assert await search(client, q="芯片") == [ids[1]]
    # 电池 is in listing 0's title and listing 3's? No: 3 says "battery" in English only; 0's abstract has 电池.
    assert await search(client, q="电池") == [ids[0]]
    assert await search(client, q="隔膜制备") == []  # not a substring
    assert await search(client, q="电解质") == [ids[3]]
    assert await search(client, q="散热 芯片") == [ids[1]]  # both runs must occur
    assert await search(client, q="锂") == [ids[0]]  # one character: substring fallback
    assert await search(client, q="ＣＨＩＰ") == []


async def test_latin_words_and_case(client: httpx.AsyncClient, db, catalogue) -> None:
    ids = catalogue["ids"]
    assert await search(client, q="battery") == [ids[3]]
    assert await search(client, q="Flexible SENSOR") == [ids[2]]
    assert await search(client, q="sensor wearable") == [ids[2]]
    assert await search(client, q="sensor battery") == []


@pytest.mark.parametrize(
    "q",
    [
        "%",
        "_",
        '"',
        "*",
        "OR",
        '" OR "',
        "a OR b",
        "电池 OR 芯片",
        "'; DROP TABLE listings; --",
        "<script>alert(1)</script>",
        "NEAR(电池 芯片)",
        "电池*",
        "\\",
        "%电%",
    ],
)
async def test_hostile_queries_neither_fail_nor_match_everything(
    client: httpx.AsyncClient, db, catalogue, q
) -> None:
    found = await search(client, q=q)
    assert len(found) <= 2, (q, found)  # "%电%" finds the two texts with 电; nothing finds all five
    assert len(await search(client)) == 5


async def test_relevance_title_first_then_recency(client: httpx.AsyncClient, db, catalogue) -> None:
    op, uni = catalogue["op"], catalogue["uni"]
    ids = catalogue["ids"]
    # A newer listing that mentions 锂电池 only in its summary ranks after the title match.
    p = await h.patent(db, uni, title="其他", abstract="无")
    newer = await h.published(client, uni, op, h.body([p], title="储能系统", summary="兼容锂电池"))
    assert await search(client, q="锂电池") == [ids[0], newer["id"]]
    assert await search(client, q="锂电池", sort="-published_at") == [newer["id"], ids[0]]
    # Relevance pages with a cursor too.
    r = await client.get("/api/v1/listings", params={"q": "锂电池", "limit": 1})
    first = r.json()
    assert [x["id"] for x in first["items"]] == [ids[0]] and first["next_cursor"]
    r = await client.get(
        "/api/v1/listings", params={"q": "锂电池", "limit": 1, "cursor": first["next_cursor"]}
    )
    assert [x["id"] for x in r.json()["items"]] == [newer["id"]] and r.json()["next_cursor"] is None


async def test_filters(client: httpx.AsyncClient, db, catalogue) -> None:
    ids, lab = catalogue["ids"], catalogue["lab"]
    assert await search(client, pricing_mode="auction") == [ids[1]]
    assert await search(client, transaction_kind="nonexclusive_license") == [ids[4]]
    assert set(await search(client, ipc="H01M")) == {ids[0], ids[3]}
    assert await search(client, ipc="h01m10/05") == [ids[3], ids[0]] or set(
        await search(client, ipc="H01M 10/05")
    ) == {ids[0], ids[3]}
    assert await search(client, ipc="H01M 10/0525") == [ids[0]]
    assert await search(client, ipc="%") == []
    assert set(await search(client, seller_org_id=lab.org_id)) == {ids[2], ids[3]}
    assert set(await search(client, min_price="150000.00", max_price="800000.00")) == {ids[0], ids[1], ids[2]}
    assert await search(client, q="电池", pricing_mode="auction") == []
    assert await search(client, status="draft") == []
    assert len(await search(client, catalogue["uni"].headers, status="draft")) == 1
    r = await client.get("/api/v1/listings", params={"min_price": "1.234"})
    assert r.status_code == 422
    r = await client.get("/api/v1/listings", params={"sort": "title"})
    assert r.status_code == 422
    r = await client.get("/api/v1/listings", params={"cursor": "garbage"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_sorting(client: httpx.AsyncClient, db, catalogue) -> None:
    ids = catalogue["ids"]
    assert await search(client) == list(reversed(ids))  # newest first
    # Unpriced listings come last in both price orders.
    assert await search(client, sort="price") == [ids[4], ids[2], ids[0], ids[1], ids[3]]
    assert await search(client, sort="-price") == [ids[1], ids[0], ids[2], ids[4], ids[3]]
    assert await search(client, sort="listing_ends_at") == ids  # published in order, same listing_days


@pytest.mark.parametrize("sort", [None, "price", "-price", "listing_ends_at"])
async def test_pagination_without_duplicates_or_gaps(client: httpx.AsyncClient, db, catalogue, sort) -> None:
    op, uni = catalogue["op"], catalogue["uni"]
    for i in range(7):
        p = await h.patent(db, uni, title=f"电池{i}")
        price = None if i % 3 == 0 else "100000.00"  # ties and NULLs
        await h.published(client, uni, op, h.body([p], title=f"一种电池结构{i}", price=price))
    for q in (None, "电池"):
        params: dict[str, object] = {"limit": 2}
        if sort:
            params["sort"] = sort
        if q:
            params["q"] = q
        everything = await search(client, **{**params, "limit": 100})
        seen: list[str] = []
        cursor = None
        while True:
            r = await client.get(
                "/api/v1/listings", params={**params, **({"cursor": cursor} if cursor else {})}
            )
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [x["id"] for x in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything and len(set(seen)) == len(seen)
        assert len(seen) == (12 if q is None else 8)


async def test_search_sees_own_drafts_when_signed_in(client: httpx.AsyncClient, db, catalogue) -> None:
    uni, op = catalogue["uni"], catalogue["op"]
    assert len(await search(client, q="草稿")) == 0
    assert len(await search(client, uni.headers, q="草稿")) == 1
    assert len(await search(client, op.headers, q="草稿")) == 1
    assert len(await search(client, catalogue["lab"].headers, q="草稿")) == 0


@pytest.fixture(params=["index", "walk"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of answering the relevance order: from the index hits (few), and walking the listings
    newest first (many: here from the first hit)."""
    if request.param == "walk":
        monkeypatch.setattr(repository, "WALK_FROM_HITS", 1)
    return str(request.param)


async def test_relevance_is_the_same_whichever_plan(client: httpx.AsyncClient, db, catalogue, plan) -> None:
    op, uni = catalogue["op"], catalogue["uni"]
    ids = catalogue["ids"]
    made = []
    # Title matches and text-only matches, interleaved in time; a Latin word counts for the title as a
    # substring ("sensors" contains "sensor") although it matches the text as a word.
    for i, (title, summary) in enumerate(
        [
            ("电池管理系统", ""),
            ("储能装置", "含电池模组"),
            ("一种电池壳体", ""),
            ("Wearable sensors 电池", "sensor array"),
            ("电，池", "电池"),  # 电池 only in the summary: the title has 电 and 池 apart
        ]
    ):
        p = await h.patent(db, uni, title=f"专利{i}", abstract="无")
        made.append((await h.published(client, uni, op, h.body([p], title=title, summary=summary)))["id"])
    title_first = [made[3], made[2], made[0], ids[0]]
    rest = [made[4], made[1]]
    assert await search(client, q="电池") == title_first + rest
    assert await search(client, q="电池", pricing_mode="negotiated") == title_first + rest
    assert await search(client, q="电池", pricing_mode="auction") == []
    assert await search(client, q="电池", min_price="400000.00") == [
        made[3],
        made[2],
        made[0],
        made[4],
        made[1],
    ]
    assert await search(client, q="sensor") == [made[3], ids[2]]
    assert await search(client, q="sensor 电池") == [made[3]]
    # One-character runs: the substring fallback, ranked the same way ("电，池" has both in its title).
    assert await search(client, q="电 池") == [made[4], made[3], made[2], made[0], ids[0], made[1]]
    # Every page size walks the same order, across the boundary between the two ranks.
    for limit in (1, 2, 3, 4):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {
                "q": "电池",
                "limit": limit,
                **({"cursor": cursor} if cursor else {}),
            }
            r = await client.get("/api/v1/listings", params=params)
            assert r.status_code == 200, r.text
            seen += [x["id"] for x in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == title_first + rest, limit


async def test_relevance_cursor_rank_values(client: httpx.AsyncClient, db, catalogue) -> None:
    from app.kit.pagination import encode_cursor

    ids = catalogue["ids"]
    r = await client.get("/api/v1/listings", params={"q": "电池", "limit": 1})
    assert r.json()["next_cursor"] is None and [x["id"] for x in r.json()["items"]] == [ids[0]]
    far = encode_cursor([9, "2000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"])
    assert await search(client, q="电池", cursor=far) == []
    before = encode_cursor([-1, "2000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"])
    assert await search(client, q="电池", cursor=before) == [ids[0]]
    bad = encode_cursor(["x", "2000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"])
    r = await client.get("/api/v1/listings", params={"q": "电池", "cursor": bad})
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
