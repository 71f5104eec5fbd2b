"""The operators' CSV exports over HTTP (SPEC §18.7): ``GET /exports/deals.csv`` and ``/exports/patents.csv`` —
operators only (others 403), UTF-8 with the byte order mark, a header row in the spec's order, CRLF, RFC 4180
quoting, formula cells escaped, the filters, streamed page after page with no row limit, and no cell that
starts like a formula anywhere (SPEC §18.8)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from app.exports import rules
from app.exports import service as exports
from app.kit.db import Database
from app.kit.errors import DatabaseUnavailable
from app.kit.workdays import SHANGHAI
from app.models.patents import Patent
from tests import factories as f
from tests import trading as t
from tests.licensing import helpers as licensing
from tests.negotiation import helpers as n
from tests.settlement import helpers as h
from tests.techcontracts import helpers as tc

API = "/api/v1"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _table(r: httpx.Response) -> list[dict[str, str]]:
    """The rows of a CSV response by column, after checking what every export must be."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8")[1:]
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    header, body = parsed[0], parsed[1:]
    for line in body:
        assert len(line) == len(header)
        for value in line:
            assert not value.startswith(FORMULA_STARTS), value
    return [dict(zip(header, line, strict=True)) for line in body]


async def _today(client: httpx.AsyncClient) -> str:
    return (await t.now(client)).astimezone(SHANGHAI).date().isoformat()


def _instant(value: str | None) -> str:
    return "" if value is None else rules.instant(datetime.fromisoformat(value))


async def _set_title(db: Database, patent_id: str, title: str) -> None:
    """A title the API would refuse (control characters), as an old import may have left one."""
    async with db.transaction() as session:
        patent = await session.get(Patent, uuid.UUID(patent_id))
        assert patent is not None
        patent.title = title


async def test_deals_csv_has_the_columns_formats_and_escaping(
    client: httpx.AsyncClient, db: Database
) -> None:
    actors = await h.parties(client, db)
    op, seller, buyer, _ = actors
    title = '=HYPERLINK("http://evil.example","点击"),含逗号'
    listing = await t.published_listing(client, op, seller, patents=2, price="500000.00", title=title)
    case = await h.offer_deal(client, db, actors=actors)  # another deal, left awaiting signatures
    offer = await n.offer(client, buyer, listing["id"], "480000.00")
    accepted = await n.move(client, seller, offer["id"], "accept")
    deal = h.DealCase(op, seller, buyer, actors[3], listing, await h.get(client, op, accepted["deal_id"]))
    await h.settled(client, db, deal)
    await tc.registered(client, op, seller, deal.id, registration_number="2026330100000123")

    r = await client.get(f"{API}/exports/deals.csv", headers=op.headers)
    today = (await _today(client)).replace("-", "")
    assert r.headers["content-disposition"] == f'attachment; filename="deals-{today}.csv"'
    assert r.content.decode("utf-8").split("\r\n")[0] == "\ufeff" + ",".join(rules.DEALS_COLUMNS)
    # RFC 4180: the title's quotes doubled inside a quoted cell, after the leading quote against formulas.
    assert '"\'=HYPERLINK(""http://evil.example"",""点击""),含逗号"' in r.content.decode("utf-8")
    rows = {row["deal_id"]: row for row in _table(r)}
    assert set(rows) == {deal.id, case.id}

    d = deal.deal
    numbers = [f"ZL{p['application_number']}" for p in listing["patents"]]
    assert rows[deal.id] == {
        "deal_id": deal.id,
        "certificate_number": d["certificate_number"],
        "status": "settled",
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "source": "offer",
        "listing_title": "'" + title,
        "seller_name": seller.org["name"],  # type: ignore[index]
        "seller_credit_code": seller.org["credit_code"],  # type: ignore[index]
        "buyer_name": buyer.org["name"],  # type: ignore[index]
        "buyer_credit_code": buyer.org["credit_code"],  # type: ignore[index]
        "patent_numbers": ";".join(numbers),
        "price": "480000.00",
        "cash_price": "480000.00",
        "buyer_fee": d["buyer_fee"],
        "seller_fee": d["seller_fee"],
        "created_at": _instant(d["created_at"]),
        "settled_at": _instant(d["settled_at"]),
        "tech_contract_registration_number": "2026330100000123",
    }
    assert rows[deal.id]["settled_at"].endswith("Z") and rows[deal.id]["created_at"].endswith("Z")
    other = rows[case.id]
    assert (other["status"], other["certificate_number"], other["settled_at"]) == (
        "awaiting_signatures",
        "",
        "",
    )
    assert other["tech_contract_registration_number"] == ""


async def test_deals_csv_filters(client: httpx.AsyncClient, db: Database) -> None:
    actors = await h.parties(client, db)
    op, seller, buyer, outsider = actors
    old = await tc.settled_deal(client, db, actors=actors)
    await t.advance(client, 2 * 86400)
    today = await _today(client)
    signing = await h.offer_deal(client, db, actors=actors)
    other_seller = await f.organization(client, verified_by=op)
    elsewhere = await tc.settled_deal(client, db, actors=(op, other_seller, buyer, outsider))
    completed = await tc.settled_deal(client, db, actors=actors)
    await tc.set_deal_status(db, completed.id, "completed")

    async def ids(**params: str) -> set[str]:
        r = await client.get(f"{API}/exports/deals.csv", params=params, headers=op.headers)
        return {row["deal_id"] for row in _table(r)}

    assert await ids() == {old.id, signing.id, elsewhere.id, completed.id}
    # SPEC §18.1: completed counts as settled.
    assert await ids(status="settled") == {old.id, elsewhere.id, completed.id}
    assert await ids(status="completed") == {completed.id}
    assert await ids(status="awaiting_signatures") == {signing.id}
    assert await ids(seller_org_id=other_seller.org_id or "") == {elsewhere.id}
    assert await ids(seller_org_id=str(uuid.uuid4())) == set()
    assert await ids(**{"from": today}) == {signing.id, elsewhere.id, completed.id}
    yesterday = (await t.now(client)).astimezone(SHANGHAI).date().toordinal() - 1
    assert await ids(to=date.fromordinal(yesterday).isoformat()) == {old.id}
    assert await ids(**{"from": today, "to": today}, status="settled", seller_org_id=seller.org_id or "") == {
        completed.id
    }
    for bad in (
        {"from": today, "to": "2000-01-01"},
        {"status": "sold"},
        {"seller_org_id": "x"},
        {"from": "2026-02-30"},
        {"to": "9999-12-31"},
    ):
        r = await client.get(f"{API}/exports/deals.csv", params=bad, headers=op.headers)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_patents_csv_has_the_columns_formats_and_filters(
    client: httpx.AsyncClient, db: Database
) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, kind="university", verified_by=op)
    bank = await f.organization(client, kind="financial_institution", verified_by=op)
    other = await f.organization(client, verified_by=op)
    granted = await f.patent(
        client,
        owner,
        title='一种电池, 含 "引号"',
        ipc_codes=["H01M 10/0525", "G06F 16/30"],
        inventors=["张三", "李四"],
        filing_date="2020-03-15",
        grant_date="2022-06-01",
    )
    pending = await f.patent(client, owner, grant_date=None, ipc_codes=[], inventors=[])
    licensed = await licensing.declared(client, op, owner)
    pledged = await f.patent(client, owner)
    r = await client.post(
        f"{API}/patents/{pledged['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "2000000.00", "ends_on": "2030-12-31"},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    assert (
        await client.post(f"{API}/pledges/{r.json()['id']}/confirm", headers=bank.headers)
    ).status_code == 200
    preserved = await f.patent(client, owner)
    await licensing.set_preservation(client, op, preserved["id"], True)
    elsewhere = await f.patent(client, other)
    formulas = [await f.patent(client, other) for _ in range(4)]
    for patent, title in zip(formulas, ("@SUM(A1)", "+1 电池", "\t=1+2", "-负极\r\n=2+3"), strict=True):
        await _set_title(db, patent["id"], title)

    r = await client.get(f"{API}/exports/patents.csv", headers=op.headers)
    today = (await _today(client)).replace("-", "")
    assert r.headers["content-disposition"] == f'attachment; filename="patents-{today}.csv"'
    assert r.content.decode("utf-8").split("\r\n")[0] == "\ufeff" + ",".join(rules.PATENTS_COLUMNS)
    rows = {row["patent_id"]: row for row in _table(r)}
    assert list(rows)[:2] == [granted["id"], pending["id"]]  # oldest first
    assert rows[granted["id"]] == {
        "patent_id": granted["id"],
        "application_number": granted["application_number"],
        "patent_number": "ZL" + granted["application_number"],
        "kind": "invention",
        "title": '一种电池, 含 "引号"',
        "owner_name": owner.org["name"],  # type: ignore[index]
        "owner_credit_code": owner.org["credit_code"],  # type: ignore[index]
        "co_owners": "",
        "legal_status": "granted",
        "filing_date": "2020-03-15",
        "grant_date": "2022-06-01",
        "expires_on": granted["expires_on"],
        "pledged": "false",
        "preserved": "false",
        "open_license_status": "",
        "ipc_codes": "H01M 10/0525;G06F 16/30",
        "inventors": "张三;李四",
    }
    assert (rows[pending["id"]]["patent_number"], rows[pending["id"]]["grant_date"]) == ("", "")
    assert (rows[pending["id"]]["legal_status"], rows[pending["id"]]["ipc_codes"]) == ("pending", "")
    assert rows[licensed["patent_id"]]["open_license_status"] == "declared"
    assert rows[pledged["id"]]["pledged"] == "true"
    assert rows[preserved["id"]]["preserved"] == "true"
    titles = [rows[p["id"]]["title"] for p in formulas]
    assert titles == ["'@SUM(A1)", "'+1 电池", "'\t=1+2", "'-负极\r\n=2+3"]

    async def ids(**params: str) -> list[str]:
        r = await client.get(f"{API}/exports/patents.csv", params=params, headers=op.headers)
        return [row["patent_id"] for row in _table(r)]

    assert await ids(owner_org_id=other.org_id or "") == [elsewhere["id"]] + [p["id"] for p in formulas]
    assert await ids(owner_org_id=owner.org_id or "", legal_status="pending") == [pending["id"]]
    assert pending["id"] not in await ids(legal_status="granted")
    assert await ids(legal_status="lapsed") == []
    for bad in ({"legal_status": "alive"}, {"owner_org_id": "1"}):
        r = await client.get(f"{API}/exports/patents.csv", params=bad, headers=op.headers)
        assert r.status_code == 422, (bad, r.text)


@pytest.mark.parametrize("path", ["/exports/deals.csv", "/exports/patents.csv"])
async def test_exports_are_for_operators(client: httpx.AsyncClient, db: Database, path: str) -> None:
    op = await f.operator(client, db)
    member = await f.organization(client, verified_by=op)
    r = await client.get(API + path, headers=member.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.get(API + path)
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    empty = await client.get(API + path, headers=op.headers)
    assert _table(empty) == []  # the header row alone


async def test_exports_stream_every_page(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No row limit: with pages of two rows, every row comes once, in creation order."""
    monkeypatch.setattr(exports, "PAGE_SIZE", 2)
    actors = await h.parties(client, db)
    op, seller = actors[0], actors[1]
    patents = [await f.patent(client, seller) for _ in range(5)]
    deals = [await h.offer_deal(client, db, actors=actors) for _ in range(4)]
    r = await client.get(f"{API}/exports/patents.csv", headers=op.headers)
    listed = [row["patent_id"] for row in _table(r)]
    expected: list[Any] = [p["id"] for p in patents] + [p["id"] for d in deals for p in d.listing["patents"]]
    assert sorted(listed) == sorted(expected) and len(set(listed)) == len(listed) == 9
    assert listed[:5] == [p["id"] for p in patents]
    r = await client.get(f"{API}/exports/deals.csv", headers=op.headers)
    assert [row["deal_id"] for row in _table(r)] == [d.id for d in deals]


async def test_an_open_licence_deal_is_exported_with_its_patent_and_source(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A deal without a listing: its pricing mode is its source (as §15 groups it), its title empty, its
    patent the open licence's; and a licence deal is registered as technology licensing."""
    op = await f.operator(client, db)
    owner = await f.organization(client, kind="university", verified_by=op)
    company = await f.organization(client, verified_by=op)
    licence = await licensing.declared(client, op, owner, lump_sum="50000.00")
    await t.fund(client, op, company, "100000.00")
    r = await client.post(f"{API}/open-licenses/{licence['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    r = await client.get(f"{API}/deals", params={"role": "buyer"}, headers=company.headers)
    (deal,) = r.json()["items"]
    assert deal["status"] == "settled", deal
    r = await tc.file(client, owner, deal["id"], category="technology_transfer", technology_amount="1.00")
    assert tc.code_of(r) == (422, "invalid_contract_category")
    item = await tc.filed(
        client, owner, deal["id"], category="technology_licensing", technology_amount="50000.00"
    )
    assert (await tc.register(client, op, item["id"], registration_number="OL-1")).status_code == 200

    r = await client.get(f"{API}/exports/deals.csv", headers=op.headers)
    (row,) = _table(r)
    patent = (await client.get(f"{API}/patents/{licence['patent_id']}", headers=owner.headers)).json()
    assert {k: row[k] for k in ("deal_id", "pricing_mode", "source", "listing_title", "patent_numbers")} == {
        "deal_id": deal["id"],
        "pricing_mode": "open_license",
        "source": "open_license",
        "listing_title": "",
        "patent_numbers": patent["patent_number"],
    }
    assert (row["transaction_kind"], row["price"], row["tech_contract_registration_number"]) == (
        "nonexclusive_license",
        "50000.00",
        "OL-1",
    )


async def test_a_database_that_cannot_be_reached_is_a_503_not_a_cut_stream(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first page is read before the response starts, so the usual 503 with Retry-After answers."""
    op = await f.operator(client, db)

    async def unavailable(*_: Any) -> Any:
        raise DatabaseUnavailable()

    monkeypatch.setattr(exports, "deals_page", unavailable)
    monkeypatch.setattr(exports, "patents_page", unavailable)
    for path in ("/exports/deals.csv", "/exports/patents.csv"):
        r = await client.get(API + path, headers=op.headers)
        assert (r.status_code, r.json()["code"]) == (503, "database_unavailable"), r.text
        assert r.headers["retry-after"] == "2"
