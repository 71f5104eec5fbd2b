"""The CSV text of the exports (SPEC §18.7), as pure functions: RFC 4180 quoting, CRLF, the byte order mark,
formula cells escaped (OWASP CSV injection), the formats of money, instants, days, booleans and lists."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.exports import rules


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x.example")', '"\'=HYPERLINK(""http://x.example"")"'),
        ("+86 571", "'+86 571"),
        ("-1", "'-1"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+2", "'\t=1+2"),
        ("\r=1+2", '"\'\r=1+2"'),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
        ("一种方法", "一种方法"),
    ],
)
def test_a_cell_that_starts_like_a_formula_gets_a_leading_quote(value: str, written: str) -> None:
    assert rules.cell(value) == written


@pytest.mark.parametrize("value", ["a,b", 'say "hi"', "line\nbreak", "cr\rhere", "crlf\r\nhere", '"', ","])
def test_cells_with_commas_quotes_or_line_breaks_are_quoted(value: str) -> None:
    written = rules.cell(value)
    assert written.startswith('"') and written.endswith('"')
    assert written[1:-1].replace('""', "").count('"') == 0  # every inner quote doubled
    assert _parse(rules.row([value, "next"])) == [[value, "next"]]


def test_rows_end_with_crlf_and_the_head_starts_with_the_bom() -> None:
    assert rules.row(["a", "b,c", ""]) == 'a,"b,c",\r\n'
    head = rules.head(rules.DEALS_COLUMNS)
    assert head.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert head == "\ufeff" + ",".join(rules.DEALS_COLUMNS) + "\r\n"
    text = rules.rows([["1", "x\ny"], ["2", "z"]])
    assert text == '1,"x\ny"\r\n2,z\r\n'
    assert _parse(text) == [["1", "x\ny"], ["2", "z"]]


def test_the_formats_of_values() -> None:
    assert rules.money(123456789) == "1234567.89"
    assert rules.money(5) == "0.05"
    assert rules.money(None) == ""
    shanghai = timezone(timedelta(hours=8))
    assert rules.instant(datetime(2026, 11, 25, 10, 0, tzinfo=shanghai)) == "2026-11-25T02:00:00Z"
    assert rules.instant(datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)) == "2026-11-25T02:00:00.123456Z"
    assert rules.instant(None) == ""
    assert rules.day(date(2026, 2, 28)) == "2026-02-28"
    assert rules.day(None) == ""
    assert (rules.boolean(True), rules.boolean(False)) == ("true", "false")
    assert rules.joined(["H01M 10/0525", "G06F 16/30"]) == "H01M 10/0525;G06F 16/30"
    assert rules.joined([]) == ""
    assert rules.filename("deals", date(2026, 1, 5)) == "deals-20260105.csv"
    assert rules.filename("patents", date(2026, 12, 31)) == "patents-20261231.csv"


def test_the_columns_are_the_specs_in_its_order() -> None:
    assert ",".join(rules.DEALS_COLUMNS) == (
        "deal_id,certificate_number,status,transaction_kind,pricing_mode,source,listing_title,seller_name,"
        "seller_credit_code,buyer_name,buyer_credit_code,patent_numbers,price,cash_price,buyer_fee,seller_fee,"
        "created_at,settled_at,tech_contract_registration_number"
    )
    assert ",".join(rules.PATENTS_COLUMNS) == (
        "patent_id,application_number,patent_number,kind,title,owner_name,owner_credit_code,co_owners,"
        "legal_status,filing_date,grant_date,expires_on,pledged,preserved,open_license_status,ipc_codes,inventors"
    )
