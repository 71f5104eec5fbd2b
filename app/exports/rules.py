"""Pure rules of the CSV exports (SPEC §18.7): RFC 4180 text that Excel opens as UTF-8, with formula cells
neutralised.

- The body starts with the UTF-8 byte order mark, which is how Excel knows the file is UTF-8 (Chinese names
  would otherwise open as mojibake); rows end with CRLF.
- RFC 4180 quoting: a cell with a comma, a double quote, CR or LF is quoted and its quotes doubled.
- CSV injection (OWASP): a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  leading ``'``, so a spreadsheet shows it as text instead of evaluating it.
- Money as the API writes it (yuan, two decimals), instants as ISO 8601 UTC (``Z``), days as ``YYYY-MM-DD``,
  booleans ``true``/``false``, lists joined by ``;``; a missing value is an empty cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from app.kit.money import format_fen

BOM = "\ufeff"
CRLF = "\r\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = (",", '"', "\r", "\n")

DEALS_COLUMNS = (
    "deal_id",
    "certificate_number",
    "status",
    "transaction_kind",
    "pricing_mode",
    "source",
    "listing_title",
    "seller_name",
    "seller_credit_code",
    "buyer_name",
    "buyer_credit_code",
    "patent_numbers",
    "price",
    "cash_price",
    "buyer_fee",
    "seller_fee",
    "created_at",
    "settled_at",
    "tech_contract_registration_number",
)
PATENTS_COLUMNS = (
    "patent_id",
    "application_number",
    "patent_number",
    "kind",
    "title",
    "owner_name",
    "owner_credit_code",
    "co_owners",
    "legal_status",
    "filing_date",
    "grant_date",
    "expires_on",
    "pledged",
    "preserved",
    "open_license_status",
    "ipc_codes",
    "inventors",
)


def cell(value: str) -> str:
    """One cell as it is written: escaped against formulas, then quoted as RFC 4180 needs."""
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    if any(c in value for c in _NEEDS_QUOTES):
        value = '"' + value.replace('"', '""') + '"'
    return value


def row(values: Sequence[str]) -> str:
    return ",".join(cell(v) for v in values) + CRLF


def rows(values: Iterable[Sequence[str]]) -> str:
    return "".join(row(v) for v in values)


def head(columns: Sequence[str]) -> str:
    """The start of a file: the byte order mark and the header row."""
    return BOM + row(columns)


def money(fen: int | None) -> str:
    return "" if fen is None else format_fen(fen)


def instant(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def boolean(value: bool) -> str:
    return "true" if value else "false"


def joined(values: Iterable[str]) -> str:
    return ";".join(values)


def text(value: str | None) -> str:
    return "" if value is None else str(value)


def filename(kind: str, today: date) -> str:
    """``deals-20261125.csv``: the export's kind and today's (Shanghai) date."""
    return f"{kind}-{today:%Y%m%d}.csv"
