"""Stock-taking from Excel (SPEC §21): CSV in UTF-8 (BOM or not) or GB18030/GBK, ``.xlsx`` workbooks recognised by
their content, the Chinese date forms, and the files that are neither (422 ``invalid_csv`` saying how to save)."""

from __future__ import annotations

import codecs
import csv
import io
import random
import zipfile
from datetime import date, datetime
from typing import Any

import httpx
import openpyxl
import pytest

from app.kit.db import Database
from app.patents import importer
from tests import factories as f
from tests.patents.test_import import HEADER, count, csv_bytes, row, upload
from tests.patents.workbooks import with_shared_strings

SAVE_ADVICE = ("CSV UTF-8", ".xlsx")


def encoded_csv(rows: list[list[str]], encoding: str, header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], header: list[Any] | None = None, *, shared: bool = True) -> bytes:
    """A workbook with the header on the first row of the first sheet, its text in a shared string table as
    Excel saves it (``shared=False``: inline strings, as openpyxl and some other programs write them)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "专利清单"
    sheet.append(HEADER if header is None else header)
    for values in rows:
        sheet.append(values)
    notes = workbook.create_sheet("说明")
    notes.append(["application_number", "title", "filing_date"])  # a second sheet is not read
    notes.append([f.application_number(999, year=2019), "不应导入", "2019-01-01"])
    out = io.BytesIO()
    workbook.save(out)
    if not shared:
        return out.getvalue()
    content = with_shared_strings(out.getvalue())
    assert b'"inlineStr"' not in zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")
    return content


async def find(client: httpx.AsyncClient, actor: f.Actor, number: str) -> dict[str, Any]:
    items = (await client.get("/api/v1/patents", params={"q": number}, headers=actor.headers)).json()["items"]
    assert len(items) == 1, (number, items)
    found: dict[str, Any] = items[0]
    return found


def _assert_save_advice(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "invalid_csv", problem
    assert all(word in problem["detail"] for word in SAVE_ADVICE), problem["detail"]
    assert "另存为" in problem["detail"], problem["detail"]


# --- CSV encodings -------------------------------------------------------------------------------------------


async def test_gb18030_csv_as_chinese_excel_saves_it(client: httpx.AsyncClient, db: Database) -> None:
    """Chinese Excel's "CSV (逗号分隔)" is GBK (code page 936): titles and inventors arrive intact."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [
        row(
            1, title="一种锂电池隔膜的制备方法", inventors="张明;王小红", abstract="“高孔隙率”隔膜——低成本。"
        ),
        row(2, title="基于深度学习的电池健康状态估计方法", inventors="欧阳·娜娜", filing_date="2019/4/1"),
        row(3, title="", inventors="李四"),  # a bad row among good ones
        row(4, title="一种导热硅脂及其制备方法", grant_date="2021.5.6"),
    ]
    content = encoded_csv(rows, "gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    r = await upload(client, org, content)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"]) == (3, 0)
    assert [(x["row"], x["code"]) for x in result["failed"]] == [(3, "missing_value")]

    first = await find(client, org, f.application_number(1, year=2019))
    assert first["title"] == "一种锂电池隔膜的制备方法"
    assert first["inventors"] == ["张明", "王小红"]
    assert first["abstract"] == "“高孔隙率”隔膜——低成本。"
    second = await find(client, org, f.application_number(2, year=2019))
    assert second["inventors"] == ["欧阳·娜娜"] and second["filing_date"] == "2019-04-01"
    fourth = await find(client, org, f.application_number(4, year=2019))
    assert fourth["grant_date"] == "2021-05-06"

    # The same rows saved as UTF-8 are the same patents: nothing new.
    r = await upload(client, org, csv_bytes(rows))
    assert r.json()["created"] == 0 and r.json()["updated"] == 0
    # GB18030 proper (four-byte sequences) is read too.
    content = encoded_csv([row(5, title="一种测试方法€", inventors="张三")], "gb18030")
    assert (await upload(client, org, content)).json() == {"created": 1, "updated": 0, "failed": []}
    assert (await find(client, org, f.application_number(5, year=2019)))["title"] == "一种测试方法€"


async def test_utf8_with_and_without_bom(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    r = await upload(client, org, csv_bytes([row(1, title="带BOM的文件")], bom=True))
    assert r.json() == {"created": 1, "updated": 0, "failed": []}
    r = await upload(client, org, csv_bytes([row(2, title="无BOM的文件")]))
    assert r.json() == {"created": 1, "updated": 0, "failed": []}
    assert (await find(client, org, f.application_number(1, year=2019)))["title"] == "带BOM的文件"
    # A pure-ASCII file is UTF-8 (and GB18030): read once, the same either way.
    r = await upload(client, org, csv_bytes([row(3, title="A method", inventors="Li Si", abstract="")]))
    assert r.json() == {"created": 1, "updated": 0, "failed": []}


async def test_files_in_neither_encoding_say_how_to_save(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    text = "\r\n".join([",".join(HEADER), ",".join(row(1))]) + "\r\n"
    cases = {
        "random bytes": random.Random(7).randbytes(4096),
        "UTF-16 with BOM (Excel's Unicode text)": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "UTF-16 big-endian with BOM": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "UTF-16 without BOM": text.encode("utf-16-le"),
        "UTF-32 with BOM": text.encode("utf-32"),
        "Latin-1 with no UTF-8 before it": csv_bytes([row(1, title="A", abstract="", inventors="")])
        + ",".join(row(2, title="Café", abstract="", inventors="José")).encode("latin-1"),
    }
    for name, content in cases.items():
        r = await upload(client, org, content)
        assert r.status_code == 422, (name, r.text)
        _assert_save_advice(r)
        assert await count(client, org) == 0, name


async def test_utf8_file_broken_later_is_not_read_as_gb18030(client: httpx.AsyncClient, db: Database) -> None:
    """A UTF-8 file (plenty of Chinese in it) with one stray byte is refused naming the line, not decoded as GBK
    into nonsense."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    good = csv_bytes([row(n) for n in range(1, 30)])
    content = (
        good + ",".join(row(30, title="Café", abstract="", inventors="Müller")).encode("latin-1") + b"\r\n"
    )
    r = await upload(client, org, content)
    _assert_save_advice(r)
    assert "UTF-8" in r.json()["detail"] and "line 31" in r.json()["detail"], r.json()["detail"]
    assert await count(client, org) == 0


# --- dates in CSV --------------------------------------------------------------------------------------------


async def test_chinese_date_forms_in_csv(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [
        row(1, filing_date="2019/1/2", grant_date="2021/5/6", annual_fee_paid_until="2027.1.2"),
        row(2, filing_date="2019.1.2", grant_date="20210506"),
        row(3, filing_date="20190102", grant_date="2021-5-6"),
        row(4, filing_date="2019/13/1"),
        row(5, filing_date="2019/2/30"),
        row(6, filing_date="20190230"),
        row(7, filing_date="19/1/2"),
        row(8, filing_date=" ", grant_date=""),
        row(9, grant_date="2021年5月6日"),
    ]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 3
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (4, "invalid_date"),
        (5, "invalid_date"),
        (6, "invalid_date"),
        (7, "invalid_date"),
        (8, "missing_value"),
        (9, "invalid_date"),
    ]
    assert "filing_date" in result["failed"][0]["detail"] and "grant_date" in result["failed"][5]["detail"]
    for n in (1, 2, 3):
        patent = await find(client, org, f.application_number(n, year=2019))
        assert (patent["filing_date"], patent["grant_date"]) == ("2019-01-02", "2021-05-06"), patent
    patent = await find(client, org, f.application_number(1, year=2019))
    assert patent["annual_fee_paid_until"] == "2027-01-02"
    # The same patents with their dates written the ISO way are no change.
    iso = [row(n, filing_date="2019-01-02", grant_date="2021-05-06") for n in (2, 3)]
    assert (await upload(client, org, csv_bytes(iso))).json() == {"created": 0, "updated": 0, "failed": []}


async def test_the_api_keeps_iso_dates(client: httpx.AsyncClient, db: Database) -> None:
    """The import's date forms are for the import only: ``POST /patents`` takes ISO dates."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    body = {"application_number": f.application_number(1), "title": "一种方法", "filing_date": "2019/1/2"}
    r = await client.post("/api/v1/patents", json=body, headers=org.headers)
    assert r.status_code == 422, r.text


# --- .xlsx ---------------------------------------------------------------------------------------------------


def _numeric_number(n: int) -> tuple[int, str]:
    """An application number typed into Excel as a number (no dot): its cell value and its normal form."""
    normal = f.application_number(n, year=2019)
    assert not normal.endswith("X")
    return int(normal.replace(".", "")), normal


async def test_xlsx_workbook(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, kind="university", verified_by=op)
    numeric, numeric_normal = _numeric_number(2)
    as_float = float(f.application_number(5, year=2019))  # 201910000005.x typed as a decimal number
    rows: list[list[Any]] = [
        # 1: Excel date cells (a date and a datetime at midnight)
        [
            f.application_number(1, year=2019),
            "一种锂电池隔膜的制备方法",
            "高孔隙率隔膜。",
            "H01M 50/403",
            "张明;王小红",
            date(2019, 4, 1),
            datetime(2021, 5, 6),
            None,
        ],
        # 2: a numeric application number, dates typed as text the Chinese way
        [numeric, "一种导热材料", None, None, "李四", "2019/1/2", "2021.5.6", "20270102"],
        [],  # an empty row is not a row
        # 3: a bad row between good ones
        [f.application_number(3, year=2019), "日期错误", None, None, None, "2019/2/30", None, None],
        # 4: a date cell with a time of day is not a date
        [
            f.application_number(4, year=2019),
            "带时间",
            None,
            None,
            None,
            datetime(2019, 4, 1, 13, 30),
            None,
            None,
        ],
        [None, "  ", None, None, None, None, None, None],  # blank cells only: not a row either
        # 5: a decimal application number, a number as a date (YYYYMMDD), a numeric title
        [as_float, 2019, None, "G06F16/30", None, 20190401, None, None],
        # 6: no title
        [f.application_number(6, year=2019), None, None, None, None, date(2019, 4, 1), None, None],
    ]
    content = xlsx_bytes(rows)
    r = await upload(client, org, content, name="盘点.xlsx")
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"]) == (3, 0), result
    assert [(x["row"], x["code"]) for x in result["failed"]] == [
        (3, "invalid_date"),
        (4, "invalid_date"),
        (6, "missing_value"),
    ]

    first = await find(client, org, f.application_number(1, year=2019))
    assert (first["filing_date"], first["grant_date"]) == ("2019-04-01", "2021-05-06")
    assert first["inventors"] == ["张明", "王小红"] and first["ipc_codes"] == ["H01M 50/403"]
    second = await find(client, org, numeric_normal)
    assert second["title"] == "一种导热材料" and second["abstract"] == ""
    assert (second["filing_date"], second["grant_date"]) == ("2019-01-02", "2021-05-06")
    assert second["annual_fee_paid_until"] == "2027-01-02"
    fifth = await find(client, org, f.application_number(5, year=2019))
    assert fifth["title"] == "2019" and fifth["filing_date"] == "2019-04-01"
    assert await count(client, org) == 3  # the second sheet was not read

    # Re-importing the same workbook creates nothing new.
    again = (await upload(client, org, content, name="盘点.xlsx")).json()
    assert (again["created"], again["updated"], len(again["failed"])) == (0, 0, 3)
    # The same patents from a CSV with ISO dates are the same records: no change.
    same = [
        row(
            1,
            title="一种锂电池隔膜的制备方法",
            abstract="高孔隙率隔膜。",
            ipc_codes="H01M 50/403",
            inventors="张明;王小红",
            filing_date="2019-04-01",
            grant_date="2021-05-06",
        )
    ]
    assert (await upload(client, org, csv_bytes(same))).json() == {"created": 0, "updated": 0, "failed": []}
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True


async def test_xlsx_is_recognised_by_content_not_name(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    content = xlsx_bytes(
        [[f.application_number(1, year=2019), "一种方法", None, None, None, date(2019, 4, 1)]], shared=False
    )
    r = await client.post(
        "/api/v1/patents/import", files={"file": ("stock.csv", content, "text/csv")}, headers=org.headers
    )
    assert r.json() == {"created": 1, "updated": 0, "failed": []}, r.text
    # …and a CSV named like a workbook is read as CSV.
    xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    r = await client.post(
        "/api/v1/patents/import",
        files={"file": ("stock.xlsx", csv_bytes([row(2)]), xlsx_type)},
        headers=org.headers,
    )
    assert r.json() == {"created": 1, "updated": 0, "failed": []}, r.text


async def test_xlsx_header_variants(client: httpx.AsyncClient, db: Database) -> None:
    """The same header rules as CSV: any order, case and spaces, extra columns ignored, optional columns may be
    missing, a column named twice → 422; leading empty rows before the header are skipped; cells right of the
    header are ignored."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    header = [" Title ", "备注", "FILING_DATE", "application_number"]
    content = xlsx_bytes(
        [["一种方法", "内部备注", date(2019, 4, 1), f.application_number(1, year=2019), None, "表外的字"]],
        header=header,
    )
    assert (await upload(client, org, content)).json() == {"created": 1, "updated": 0, "failed": []}

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([])
    sheet.append([None, None])
    sheet.append(HEADER)
    sheet.append(row(2))
    out = io.BytesIO()
    workbook.save(out)
    assert (await upload(client, org, out.getvalue())).json() == {"created": 1, "updated": 0, "failed": []}

    twice = xlsx_bytes([[*row(3), "x"]], header=[*HEADER, "title"])
    r = await upload(client, org, twice)
    assert r.status_code == 422 and r.json()["code"] == "invalid_csv", r.text
    wide = xlsx_bytes([row(3)], header=[*HEADER, *(f"备注{n}" for n in range(300))])
    r = await upload(client, org, wide)
    assert r.status_code == 422 and "256 columns" in r.json()["detail"], r.text
    missing = xlsx_bytes([["一种方法", "2019-04-01"]], header=["title", "filing_date"])
    r = await upload(client, org, missing)
    assert r.status_code == 422 and "application_number" in r.json()["detail"], r.text
    assert await count(client, org) == 2


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _replace_member(content: bytes, name: str, data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    return _zip({n: (data if n == name else source.read(n)) for n in source.namelist()})


def _sheet_xml(content: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")


def _cut_sheet(content: bytes) -> bytes:
    """The first sheet's XML cut inside its last row: the workbook opens, its rows break on the way."""
    sheet = _sheet_xml(content)
    assert b"<dimension" in sheet  # openpyxl reads the dimension when it opens the sheet, then stops
    return sheet[: sheet.rindex(b"<row") + 20]


async def test_unreadable_workbooks_are_invalid_csv(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    good = xlsx_bytes([row(n) for n in range(1, 4)])
    empty = io.BytesIO()
    openpyxl.Workbook().save(empty)
    cases = {
        "truncated": good[: len(good) // 2],
        "a zip that is not a workbook": _zip({"hello.txt": b"hello"}),
        "an empty zip": _zip({}),
        "workbook part missing": _zip({"[Content_Types].xml": b"<Types/>"}),
        "broken workbook XML": _replace_member(good, "xl/workbook.xml", b"<workbook><sheets><sheet"),
        "broken sheet XML": _replace_member(
            good, "xl/worksheets/sheet1.xml", b'<worksheet><sheetData><row r="1"><c r="A1"'
        ),
        "a sheet cut short after its header": _replace_member(
            good, "xl/worksheets/sheet1.xml", _cut_sheet(good)
        ),
        "a shared string that is not there": _replace_member(
            good,
            "xl/worksheets/sheet1.xml",
            _sheet_xml(good).replace(
                b"</sheetData>", b'<row r="9"><c r="A9" t="s"><v>99999</v></c></row></sheetData>'
            ),
        ),
        "an XML entity bomb": _replace_member(
            good,
            "xl/worksheets/sheet1.xml",
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            b'<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>',
        ),
        "an empty sheet": empty.getvalue(),
        "encrypted or Excel 97-2003 (OLE2)": bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504) + b"\xff" * 512,
    }
    for name, content in cases.items():
        r = await upload(client, org, content, name="p.xlsx")
        assert r.status_code == 422, (name, r.text)
        problem = r.json()
        assert problem["code"] == "invalid_csv", (name, problem)
        assert problem["detail"] and "Traceback" not in problem["detail"], (name, problem)
        assert await count(client, org) == 0, name
    assert "另存为" in r.json()["detail"]  # the OLE2 case says how to save it
    # openpyxl parses with defusedxml (DTD entities refused) only when it is installed: it must be.
    assert openpyxl.DEFUSEDXML is True


async def test_xlsx_that_expands_too_far_is_refused(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb: the upload limit counts compressed bytes, so the workbook's expanded size is bounded too."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows = [row(n, abstract="相同的摘要" * 200) for n in range(1, 200)]
    content = xlsx_bytes(rows)
    expanded = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(content)).infolist())
    monkeypatch.setattr(importer, "MAX_XLSX_EXPANDED", expanded - 1)
    r = await upload(client, org, content)
    assert r.status_code == 422 and r.json()["code"] == "invalid_csv", r.text
    assert await count(client, org) == 0
    monkeypatch.setattr(importer, "MAX_XLSX_EXPANDED", expanded)
    # Tiny strings cost far more memory than their bytes: their number is bounded too.
    strings = zipfile.ZipFile(io.BytesIO(content)).read("xl/sharedStrings.xml").count(b"<si>")
    assert strings > 2 * 199  # each row's number and title
    monkeypatch.setattr(importer, "MAX_SHARED_STRINGS", strings - 1)
    r = await upload(client, org, content)
    assert r.status_code == 422 and "distinct texts" in r.json()["detail"], r.text
    monkeypatch.setattr(importer, "MAX_SHARED_STRINGS", strings)
    assert (await upload(client, org, content)).json()["created"] == 199


async def test_row_limit_for_both_formats(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One upload holds at most ``MAX_ROWS`` data rows (100,000): more → 422 and nothing saved, so a flood of
    bad rows cannot grow the failure list without bound. Blank rows do not count."""
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    monkeypatch.setattr(importer, "MAX_ROWS", 5)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    for make in (csv_bytes, xlsx_bytes):
        r = await upload(client, org, make([row(n) for n in range(1, 7)]))
        assert r.status_code == 422 and r.json()["code"] == "invalid_csv", r.text
        assert "5" in r.json()["detail"]
        assert await count(client, org) == 0
    rows = [row(1), ["", "", "", "", "", "", "", ""], row(2), row(3), row(4), ["x"]]
    r = await upload(client, org, csv_bytes(rows))
    assert r.status_code == 200 and r.json()["created"] == 4, r.text
    xlsx_rows: list[list[Any]] = [row(5), [], [], row(6), row(7), row(8), row(9)]
    r = await upload(client, org, xlsx_bytes(xlsx_rows))
    assert r.status_code == 200 and r.json()["created"] == 5, r.text


async def test_thousands_of_xlsx_rows_in_chunks(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    rows: list[list[Any]] = [row(n) for n in range(1, 2201)]
    rows[1500][5] = "2019/2/30"
    r = await upload(client, org, xlsx_bytes(rows))
    result = r.json()
    assert result["created"] == 2199, r.text
    assert [(x["row"], x["code"]) for x in result["failed"]] == [(1501, "invalid_date")]


async def test_openapi_names_the_formats_and_date_forms(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/patents/import"]["post"]
    text = operation["description"]
    for word in ("UTF-8", "GB18030", ".xlsx", "2019/1/2", "2019.1.2", "20190102", "invalid_csv", "100,000"):
        assert word in text, word
