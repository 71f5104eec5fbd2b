"""SPEC §21 "Documents people can file": every text a contract or certificate prints is checked when it is
entered; a character no shipped font has is a 422 ``unsupported_character`` naming it (an import fails that
row), so a deal made later by the sweeper or an auction close never meets it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.kit.printing import describe, unsupported_characters
from tests import factories as f
from tests import trading as t
from tests.patents.test_import import csv_bytes, row, upload

PRIVATE_USE = "\U0010fffd"  # plane 16 private use: no font has it
EMOJI = "\U0001f600"  # 😀
# Ordinary Chinese, Latin, digits, full-width punctuation, CJK Extension A (䶮) and B (𠮷), Greek and the
# other letters patent titles use (α-淀粉酶, β-内酰胺, 2μm, ℃, Ⅱ型), a chemical element name added to Unicode
# after the primary font was made (鿏, U+9FCF), Latin Extended (pinyin ǎ, Łódź).
PRINTABLE = "浙江䶮𠮷科技（集团）有限公司 Acme-2 Ltd.，“甲”：α-淀粉酶β 2μm 25℃ Ⅱ型 鿏 ǎ Łódź №1"


def test_shipped_fonts_cover_ordinary_text_and_cjk_extensions_a_and_b() -> None:
    assert unsupported_characters(PRINTABLE) == []
    assert unsupported_characters("") == []
    # Every character of Extension A and B but the 19 that Unicode 13 and 14 appended to them, after the
    # fallback font was made (app/data/fonts/README.md).
    late = [chr(c) for c in (*range(0x4DB6, 0x4DC0), *range(0x2A6D7, 0x2A6E0))]
    every = "".join(map(chr, (*range(0x3400, 0x4DC0), *range(0x20000, 0x2A6E0))))
    assert unsupported_characters(every) == late


def test_characters_no_font_has_are_named_once_in_order() -> None:
    text = f"一{EMOJI}二{PRIVATE_USE}三{EMOJI}\n"
    assert unsupported_characters(text) == [EMOJI, PRIVATE_USE, "\n"]
    # A control character or a lone surrogate is named by code point only (a JSON body cannot carry one).
    assert describe([EMOJI, PRIVATE_USE, "\n", "\ud800"]) == (
        f"U+1F600 {EMOJI}, U+10FFFD {PRIVATE_USE}, U+000A, U+D800"
    )


def _assert_unsupported(r: httpx.Response, *characters: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "unsupported_character", body
    message = " ".join(e["msg"] for e in body["errors"])
    for c in characters:
        assert f"U+{ord(c):04X} {c}" in message, message


async def test_organization_names(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op, name="北京䶮𠮷科技有限公司")
    assert org.org and org.org["name"] == "北京䶮𠮷科技有限公司"
    body = {
        "name": f"坏{PRIVATE_USE}名字{EMOJI}",
        "kind": "enterprise",
        "credit_code": f.credit_code(990_001),
        "admin": {"email": "admin@bad-name.example.cn", "password": f.PASSWORD, "name": "管理员"},
    }
    _assert_unsupported(await client.post("/api/v1/organizations", json=body), PRIVATE_USE, EMOJI)
    # A lone surrogate (valid JSON, no character) is a 422 as well, never a 500.
    raw = json.dumps({**body, "name": "坏\ud800"})
    r = await client.post("/api/v1/organizations", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    url = f"/api/v1/organizations/{org.org_id}"
    _assert_unsupported(await client.patch(url, json={"name": f"改名{EMOJI}"}, headers=org.headers), EMOJI)
    r = await client.patch(url, json={"name": "改名𠮷"}, headers=org.headers)
    assert r.status_code == 200 and r.json()["name"] == "改名𠮷", r.text
    # Names nothing prints are not checked: a user's name may hold an emoji.
    r = await client.post(
        f"/api/v1/organizations/{org.org_id}/members",
        json={"email": "member@emoji.example.cn", "password": f.PASSWORD, "name": f"小王{EMOJI}"},
        headers=org.headers,
    )
    assert r.status_code == 201, r.text


async def test_patent_titles_through_the_api(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    patent = await f.patent(client, org, title="一种α-淀粉酶䶮的制备方法")
    body: dict[str, Any] = {
        "application_number": f.application_number(990_002),
        "title": f"一种{PRIVATE_USE}方法",
        "filing_date": "2020-03-15",
    }
    _assert_unsupported(await client.post("/api/v1/patents", json=body, headers=org.headers), PRIVATE_USE)
    r = await client.patch(
        f"/api/v1/patents/{patent['id']}", json={"title": f"改{EMOJI}"}, headers=org.headers
    )
    _assert_unsupported(r, EMOJI)
    # The abstract is not printed: it is not checked.
    r = await client.patch(
        f"/api/v1/patents/{patent['id']}", json={"abstract": f"摘要{EMOJI}"}, headers=org.headers
    )
    assert r.status_code == 200, r.text


async def test_patent_titles_in_an_import_fail_their_row(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [
        row(1, title="一种䶮𠮷导热材料"),  # 1 ok
        row(2, title=f"一种{PRIVATE_USE}材料"),  # 2
        row(3, title=f"一种材料{EMOJI}", abstract="摘要"),  # 3
        row(4, abstract=f"摘要不打印{EMOJI}"),  # 4 ok: the abstract is not printed
    ]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 2
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (2, "unsupported_character"),
        (3, "unsupported_character"),
    ]
    assert f"U+10FFFD {PRIVATE_USE}" in result["failed"][0]["detail"]
    assert f"U+1F600 {EMOJI}" in result["failed"][1]["detail"]


@pytest.mark.parametrize("field", ["territory", "field_of_use"])
async def test_licence_terms(client: httpx.AsyncClient, db: Database, field: str) -> None:
    op = await f.operator(client, db)
    seller = await f.organization(client, verified_by=op)
    patent = await f.patent(client, seller)
    terms = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池", field: f"区域{EMOJI}"}
    body = {
        "title": "许可",
        "summary": "",
        "patent_ids": [patent["id"]],
        "transaction_kind": "exclusive_license",
        "pricing_mode": "negotiated",
        "price": "100000.00",
        "license": terms,
    }
    _assert_unsupported(await client.post("/api/v1/listings", json=body, headers=seller.headers), EMOJI)
    listing = await t.published_listing(
        client,
        op,
        seller,
        patents=0,
        patent_ids=[patent["id"]],
        transaction_kind="exclusive_license",
        license={**terms, field: "浙江省䶮𠮷"},
    )
    assert listing["license"][field] == "浙江省䶮𠮷"
    r = await client.patch(
        f"/api/v1/listings/{listing['id']}",
        json={"license": {**terms, field: f"{PRIVATE_USE}"}},
        headers=seller.headers,
    )
    _assert_unsupported(r, PRIVATE_USE)
