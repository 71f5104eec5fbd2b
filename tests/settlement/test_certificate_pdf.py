"""SPEC §21 "Documents people can file": the certificate PDF prints amounts with thousands separators and in
capital numerals, every character of the parties' names and patent titles, left-aligned, and the full
verification URL built from ``EXCHANGE_PUBLIC_URL`` — never from the request's ``Host``."""

from __future__ import annotations

import io
import re

import httpx
from fastapi import FastAPI
from pypdf import PdfReader

from app.kit.db import Database
from tests.contracts.test_pdf import assert_left_aligned
from tests.settlement import helpers as h


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def _certificate(client: httpx.AsyncClient, db: Database, *, seller_name: str | None = None) -> str:
    op, seller, buyer, outsider = await h.parties(client, db)
    if seller_name is not None:
        r = await client.patch(
            f"/api/v1/organizations/{seller.org_id}", json={"name": seller_name}, headers=seller.headers
        )
        assert r.status_code == 200, r.text
    case = await h.offer_deal(client, db, price="950000.00", actors=(op, seller, buyer, outsider))
    deal = await h.settled(client, db, case)
    number: str = deal["certificate_number"]
    return number


async def test_amounts_and_the_verification_url(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"public_url": "https://ip.example.cn"})
    number = await _certificate(client, db)
    r = await client.get(f"/api/v1/certificates/{number}/pdf", headers={"Host": "attacker.example"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
    text = _text(r.content)
    compact = re.sub(r"\s", "", text)
    assert "950,000.00" in compact and "人民币玖拾伍万元整" in compact
    assert "950000.00" not in compact
    assert f"https://ip.example.cn/api/v1/certificates/{number}" in text  # whole, on one line
    assert "attacker" not in text
    assert_left_aligned(r.content)


async def test_without_a_public_url_the_path_is_relative(client: httpx.AsyncClient, db: Database) -> None:
    """Development and tests run without ``EXCHANGE_PUBLIC_URL`` (production refuses to start without it)."""
    number = await _certificate(client, db)
    text = _text((await client.get(f"/api/v1/certificates/{number}/pdf")).content)
    assert f"/api/v1/certificates/{number}" in text and "http" not in text


async def test_names_with_cjk_extensions(client: httpx.AsyncClient, db: Database) -> None:
    number = await _certificate(client, db, seller_name="浙江䶮𠮷α研究院")
    r = await client.get(f"/api/v1/certificates/{number}/pdf")
    assert "浙江䶮𠮷α研究院" in re.sub(r"\s", "", _text(r.content))
    assert (await client.get(f"/api/v1/certificates/{number}")).json()["seller"]["name"] == "浙江䶮𠮷α研究院"
