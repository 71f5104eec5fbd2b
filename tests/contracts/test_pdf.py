"""SPEC §21 "Documents people can file": the contract PDF prints every character of the signed text (CJK
Extension A and B from the fallback fonts), left-aligned, and rendering it logs no font-subsetting chatter."""

from __future__ import annotations

import io
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pypdf import PdfReader

from app.contracts.pdf import render_pdf
from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.contracts import helpers as h

SELLER = "浙江䶮𠮷研究院"  # U+4DAE (Extension A), U+20BB7 (Extension B)
BUYER = "Acme（杭州）新材料有限公司"
TITLE = "一种α-淀粉酶的制备方法：pH 6.5，2μm（Ⅱ型）"
TERRITORY = "中国大陆及“一带一路”沿线"
MADE = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)  # a contract's creation


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages)


def _content_streams(pdf: bytes) -> list[str]:
    return [page.get_contents().get_data().decode("latin-1") for page in PdfReader(io.BytesIO(pdf)).pages]


def _base_fonts(pdf: bytes) -> set[str]:
    return {
        str(font.get_object()["/BaseFont"])
        for page in PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[attr-defined]
    }


def assert_left_aligned(pdf: bytes) -> None:
    """No justification: no word spacing (``Tw``) and no ``TJ`` array spreading the pieces of a line apart
    (fpdf2's justified text puts a number between the strings of a ``TJ`` array)."""
    for content in _content_streams(pdf):
        assert not [tw for tw in re.findall(r"(-?[\d.]+) Tw", content) if float(tw) != 0], content[:2000]
        assert re.search(r"\)\s*-?[\d.]+\s*[(<]", content) is None, content[:2000]


async def _deal(client: httpx.AsyncClient, db: Database) -> tuple[dict[str, Any], f.Actor]:
    op = await f.operator(client, db)
    seller = await f.organization(client, verified_by=op, name=SELLER)
    buyer = await f.organization(client, verified_by=op, name=BUYER)
    patent = await f.patent(client, seller, title=TITLE)
    listing = await t.published_listing(
        client,
        op,
        seller,
        patents=0,
        patent_ids=[patent["id"]],
        transaction_kind="exclusive_license",
        license={"term_months": 36, "territory": TERRITORY, "field_of_use": "𠮷祥物、䶮字号"},
        price="1234567.89",
    )
    offer = await h.post(
        client, f"/api/v1/listings/{listing['id']}/offers", buyer, {"price": "1234567.89"}, expect=201
    )
    accepted = await h.post(client, f"/api/v1/offers/{offer['id']}/accept", seller)
    return await h.get(client, f"/api/v1/deals/{accepted['deal_id']}", buyer), buyer


async def test_every_character_of_the_signed_text_is_in_the_pdf(
    client: httpx.AsyncClient, db: Database
) -> None:
    deal, buyer = await _deal(client, db)
    contract = await h.contract(client, buyer, deal["contract_id"])
    for piece in (
        SELLER,
        BUYER,
        TITLE,
        TERRITORY,
        "𠮷祥物、䶮字号",
        "1,234,567.89",
        "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分",
    ):
        assert piece in contract["text"]
    r = await client.get(f"/api/v1/contracts/{deal['contract_id']}/pdf", headers=buyer.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
    extracted = _text(r.content)
    compact = re.sub(r"\s", "", extracted)
    missing = sorted({c for c in contract["text"] if not c.isspace() and c not in compact})
    assert missing == [], missing
    for piece in (SELLER, "𠮷祥物、䶮字号", "1,234,567.89", deal["id"]):
        assert piece in compact, piece  # whole: no line break inside a name, an amount or a number
    fonts = _base_fonts(r.content)
    assert any("WenQuanYi" in name for name in fonts), fonts
    assert any("HanaMinA" in name for name in fonts) and any("HanaMinB" in name for name in fonts), fonts
    assert_left_aligned(r.content)


def test_contract_lines_are_left_aligned_and_wrapped_between_words() -> None:
    line = (
        "甲乙双方经专利交易所公开交易达成一致，依据《中华人民共和国民法典》 Latin words stay whole "
        "人民币 1,000,000.00 元（大写：人民币壹佰万元整），" * 4
    )
    pdf = render_pdf(f"专利权转让合同\n\n{line}\n", "0" * 64, created=MADE)
    assert_left_aligned(pdf)
    text = _text(pdf)
    lines = [x.strip() for x in text.split("\n") if x.strip()]
    assert len(lines) > 4, lines
    # A line never starts with closing punctuation, nor breaks inside an amount or a Latin word.
    assert [x for x in lines if x[0] in "，。、）》："] == [], lines
    for word in ("1,000,000.00", "Latin", "words", "stay", "whole"):
        assert text.count(word) == 4, (word, lines)


def test_an_ordinary_contract_embeds_no_fallback_font() -> None:
    pdf = render_pdf("专利权转让合同\n\n甲方：杭州卖方科技有限公司 Acme 1,000.00\n", "0" * 64, created=MADE)
    assert {name.split("+", 1)[1] for name in _base_fonts(pdf)} == {"WenQuanYiMicroHei"}


async def test_rendering_logs_no_font_subsetting(
    client: httpx.AsyncClient, db: Database, caplog: Any
) -> None:
    """fontTools logs some 34 INFO lines per PDF while subsetting; third-party loggers stay at WARNING (the
    application configures them at start-up, whatever EXCHANGE_LOG_LEVEL says)."""
    deal, buyer = await _deal(client, db)
    caplog.set_level(logging.INFO)
    r = await client.get(f"/api/v1/contracts/{deal['contract_id']}/pdf", headers=buyer.headers)
    assert r.status_code == 200, r.text
    chatter = [
        (rec.name, rec.getMessage()[:80])
        for rec in caplog.records
        if rec.name.startswith(("fontTools", "fpdf")) and rec.levelno < logging.WARNING
    ]
    assert chatter == []


def test_every_fixed_text_of_the_templates_is_printable() -> None:
    """The templates' own wording never meets ``unsupported_character``: only entered text is checked."""
    from datetime import date

    from app.contracts import templates
    from app.kit.printing import unsupported_characters
    from app.settlement.pdf import KIND_NAMES, PRICING_NAMES, _lines

    for kind in templates.TITLES:
        for source in ("offer", "listing", "auction", "open_license"):
            text = templates.render(
                templates.ContractFacts(
                    deal_id="3f1c2a8e-0000-4000-8000-000000000001",
                    transaction_kind=kind,
                    source=source,
                    seller=templates.PartyFacts("甲", "91330000000000002A"),
                    buyer=templates.PartyFacts("乙", "91330000000000003A"),
                    patents=[
                        templates.PatentFacts("201510703489.3", "丙", granted) for granted in (True, False)
                    ],
                    price=123456789,
                    deposit=100,
                    buyer_fee=1,
                    amount_due=10**12,
                    made_on=date(2026, 12, 31),
                    license_terms={"term_months": 12, "territory": "丁", "field_of_use": "戊"},
                )
            )
            assert unsupported_characters(text.replace("\n", "")) == []
    for kind in KIND_NAMES:
        for mode in (*PRICING_NAMES, None):
            content = {
                "transaction_kind": kind,
                "pricing_mode": mode,
                "seller": {"name": "甲", "credit_code": "91330000000000002A"},
                "buyer": {"name": "乙", "credit_code": "91330000000000003A"},
                "price": 123456789,
                "settled_at": "2026-12-31T10:00:00+00:00",
                "patents": [
                    {
                        "application_number": "201510703489.3",
                        "patent_number": "ZL201510703489.3",
                        "title": "丙",
                    },
                    {"application_number": "201510703489.3", "patent_number": None, "title": "丁"},
                ],
                "contract_sha256": "0" * 64,
            }
            lines = _lines("JZ2026-000123-7", content, "https://ip.example.cn")
            assert unsupported_characters("".join(text for _, text in lines)) == []


def test_a_document_renders_to_the_same_bytes_dated_by_itself() -> None:
    """The PDF's creation date is the contract's own (fpdf2 writes the time of rendering otherwise), so two
    downloads of one contract are the same file."""
    text = "专利权转让合同\n\n甲方：杭州卖方科技有限公司\n"
    first = render_pdf(text, "0" * 64, created=MADE)
    time.sleep(1.1)  # the PDF's dates have whole seconds
    assert render_pdf(text, "0" * 64, created=MADE) == first
    assert b"/CreationDate (D:20200102030405Z" in first
