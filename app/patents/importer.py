"""Stock-taking import: a CSV file or an .xlsx workbook of patents in one upload (SPEC §4, §21), built for
100,000 rows.

What the file is comes from its content, never its name: a ZIP archive is a workbook (openpyxl in read-only mode
streams the first sheet's rows; the header is its first non-empty row), anything else CSV text, UTF-8 if the
whole file is UTF-8 (a BOM allowed), else GB18030 (GBK, what Chinese Excel writes) if the whole file is that.
Both become the same records of cell strings (an Excel date cell reads ``YYYY-MM-DD``, a number as typed), so
one set of row rules serves both; dates may also be written ``YYYY/M/D``, ``YYYY.M.D`` or ``YYYYMMDD``
(``rules.parse_import_date``). At most ``MAX_ROWS`` data rows per upload.

The records are read as a stream in chunks of 1,000 rows. A worker thread parses and validates each chunk in pure
Python and prepares the driver parameters of its inserts (patent, IPC rows, audit event); then the chunk's
numbers are looked up with one ``IN`` query, new patents, their IPC rows and their audit events go in with
one driver ``executemany`` per table, and changed patents with a Core ``UPDATE`` executemany. No ORM objects per row. Everything runs in the request's one transaction, so a file
that turns out unreadable half-way (broken quoting, an oversized cell, a damaged sheet, too many rows) saves nothing.

Row outcomes: a new number → created; a number of the caller's organization whose descriptive fields differ
→ updated, unless the patent is locked (in an active listing, open-licence declaration or unsettled deal, SPEC
§20) → failed ``patent_locked``; identical → nothing (re-importing a file is a no-op); a number of another
organization → failed ``patent_exists``. Each created or updated patent gets one ``imported`` audit event, chained like
``app.audit.service.record`` would (new patents start at seq 1 from GENESIS), computed here in bulk.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import IO, Any

from anyio import to_thread
from sqlalchemy import Dialect, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import GENESIS, canonical_json
from app.kit import printing
from app.kit.clock import Clock
from app.kit.errors import CodedValueError, Conflict, Unprocessable
from app.kit.security import Principal
from app.models.audit import AuditEvent
from app.models.patents import Patent, PatentIpc
from app.patents import rules, service
from app.patents.schemas import MAX_ABSTRACT, MAX_CODES, MAX_INVENTORS, MAX_TITLE

COLUMNS = (
    "application_number",
    "title",
    "abstract",
    "ipc_codes",
    "inventors",
    "filing_date",
    "grant_date",
    "annual_fee_paid_until",
)
REQUIRED = ("application_number", "title", "filing_date")
CHUNK_ROWS = 1000  # rows parsed, looked up (IN of ≤1000) and written per step
INSERT_BATCH = 5000
ENTITY = "patent"
ACTION = "imported"

# csv's default field limit (128 KiB) is kept on purpose: it is process-wide state, and no real cell comes
# near it (an abstract is limited to 20,000 characters). A bigger cell makes the file unreadable → 422.
FIELD_LIMIT = csv.field_size_limit()


@dataclass
class Failure:
    row: int
    code: str
    detail: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    failed: list[Failure] = field(default_factory=list)


@dataclass(slots=True)
class Row:
    """A valid data row, normalised; ``values`` are the descriptive fields (``rules.FINGERPRINT_FIELDS``).
    The ``insert_*`` parameters are prepared in the parsing thread for the likely case of a new patent."""

    index: int
    values: dict[str, Any]
    kind: str
    expires_on: date
    fingerprint: str
    ipc_keys: list[str]
    patent_id: uuid.UUID | None = None
    insert_patent: tuple[Any, ...] = ()
    insert_ipc: list[tuple[Any, ...]] = field(default_factory=list)
    insert_event: tuple[Any, ...] = ()


# Control characters (Unicode category Cc: C0, DEL, C1) other than tab fail their row (SPEC §20): NUL cannot be
# stored in PostgreSQL text, and none of them belongs in a registry record, a search document or a contract.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _invalid_csv(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="invalid_csv", errors=[{"loc": ["body", "file"], "msg": detail}])


def validate_row(
    index: int,
    number_text: str,
    title: str,
    abstract: str,
    ipc_text: str,
    inventors_text: str,
    filing_text: str,
    grant_text: str,
    fee_text: str,
    *,
    today: date,
) -> Row:
    """One data row (its cells in ``COLUMNS`` order) → a normalised ``Row``; raises ``CodedValueError`` with
    the row's failure code. ``today`` (the business day in Shanghai) bounds the filing and grant dates."""
    cells = (number_text, title, abstract, ipc_text, inventors_text, filing_text, grant_text, fee_text)
    if _CONTROL.search("".join(cells)) is not None:
        name = next(n for n, cell in zip(COLUMNS, cells, strict=True) if _CONTROL.search(cell))
        raise CodedValueError("invalid_value", f"{name} contains a control character (only tab is allowed)")
    number = rules.parse_application_number(number_text)
    title = title.strip()
    if not title:
        raise CodedValueError("missing_value", "title is required")
    if len(title) > MAX_TITLE:
        raise CodedValueError("value_too_long", f"title is longer than {MAX_TITLE} characters")
    printing.check_printable(title)  # printed on contracts and certificates (SPEC §21)
    abstract = abstract.strip()
    if len(abstract) > MAX_ABSTRACT:
        raise CodedValueError("value_too_long", f"abstract is longer than {MAX_ABSTRACT} characters")
    ipc_codes, ipc_keys = _ipc_cell(ipc_text) if len(ipc_text) <= CACHED_CELL else _parse_ipc_cell(ipc_text)
    inventors = (
        _names_cell(inventors_text) if len(inventors_text) <= CACHED_CELL else _parse_names(inventors_text)
    )
    filing_date = rules.parse_import_date(filing_text, "filing_date")
    if filing_date is None:
        raise CodedValueError("missing_value", "filing_date is required")
    grant_date = rules.parse_import_date(grant_text, "grant_date")
    fee_date = rules.parse_import_date(fee_text, "annual_fee_paid_until")
    # The registry's own date rule (SPEC §20), so a row holds exactly what POST /patents would accept.
    rules.check_patent_dates(
        filing_date=filing_date, grant_date=grant_date, annual_fee_paid_until=fee_date, today=today
    )
    values = {
        "application_number": number.number,
        "title": title,
        "abstract": abstract,
        "ipc_codes": ipc_codes,
        "inventors": inventors,
        "filing_date": filing_date,
        "grant_date": grant_date,
        "annual_fee_paid_until": fee_date,
    }
    return Row(
        index,
        values,
        number.kind.value,
        rules.expires_on(number.kind, filing_date),
        rules.fingerprint(values),
        ipc_keys,
    )


def _parse_ipc_cell(cell: str) -> tuple[list[str], list[str]]:
    """IPC codes (display forms) and their index keys."""
    codes = rules.normalise_ipc_codes(rules.split_list(cell)) if cell else []
    if len(codes) > MAX_CODES:
        raise CodedValueError("value_too_long", f"more than {MAX_CODES} IPC codes")
    return codes, sorted({rules.ipc_key(c) for c in codes})


def _parse_names(cell: str) -> list[str]:
    names = rules.normalise_names(rules.split_list(cell)) if cell else []
    if len(names) > MAX_INVENTORS or any(len(n) > 200 for n in names):
        raise CodedValueError("value_too_long", "too many inventors or a name longer than 200 characters")
    return names


# A stock list repeats the same IPC and inventor cells over and over: parse each distinct short cell once.
# (Failures are not cached; results are shared, never mutated.)
CACHED_CELL = 200
_ipc_cell = lru_cache(maxsize=4096)(_parse_ipc_cell)
_names_cell = lru_cache(maxsize=4096)(_parse_names)


# --- reading the upload: CSV in UTF-8 or GB18030, or an .xlsx workbook (SPEC §4, §21) -------------------------

MAX_ROWS = 100_000  # data rows in one upload (SPEC §4's figure); bounds the work and the list of failures
# The upload limit counts compressed bytes: a workbook's parts, decompressed, may not exceed this (a zip bomb).
# openpyxl holds the shared strings (all text cells) in memory, so this also bounds the import's memory.
MAX_XLSX_EXPANDED = 256 * 1024 * 1024
# A 100,000-row sheet of 8 columns has at most 800,001 distinct texts; each costs ~60 bytes of memory however short.
MAX_SHARED_STRINGS = 1_000_000
MAX_SHEET_ROWS = 1_048_576  # Excel's own limit: a sheet claiming more rows was not made by a spreadsheet
MAX_COLUMNS = 256  # the header's width in a sheet: every data row is read (and padded) to it
HEADER_SEARCH_ROWS = 100  # empty rows above a sheet's header that are skipped
DECODE_BLOCK = 1 << 20
# Valid UTF-8 before the first bad byte, counted in bytes >= 0x80: from this much on the file is UTF-8 with a broken
# part (refused, naming the line), not GBK text, whose hanzi stop looking like UTF-8 within a few characters.
UTF8_EVIDENCE = 48

SAVE_ADVICE = (
    "Save it from Excel as “CSV UTF-8 (Comma delimited)” or as an Excel workbook (.xlsx) and upload that file; "
    "请在 Excel 中“另存为”“CSV UTF-8（逗号分隔）”或“Excel 工作簿（.xlsx）”后重新上传。"
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a ZIP archive (an empty one starts with its end record)
_OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # a compound file: an encrypted workbook, or a .xls
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_HIGH_BYTES = bytes(range(0x80, 0x100))
_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")  # <si>, <si/>, <x:si> (a namespace prefix)
# What zipfile and openpyxl raise on a damaged or hostile workbook: a bad archive or CRC, malformed XML
# (ParseError is a SyntaxError), DTD entities (refused by defusedxml, which openpyxl uses when it is installed,
# as it is here), missing parts, cell values that do not parse. Caught around those library calls only.
_WORKBOOK_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    LookupError,
    ValueError,
    TypeError,
    AttributeError,
    ArithmeticError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
)


class _Unreadable(Exception):
    """A record that makes the file unreadable as a whole, met while reading it (the reader adds where)."""


def open_records(raw: IO[bytes]) -> Iterator[list[str]]:
    """The upload's records, header first, as lists of cell strings. A ZIP archive is read as an .xlsx workbook
    whatever the file's name or content type (SPEC §21); anything else as CSV text in UTF-8 or GB18030.

    Raises ``Unprocessable(invalid_csv)`` when the file cannot be read at all; the records raise ``_Unreadable``
    when the file turns out unreadable further on."""
    head = raw.read(8)
    raw.seek(0)
    if head.startswith(_ZIP_MAGIC):
        return _xlsx_records(*_open_first_sheet(raw))
    if head.startswith(_OLE2_MAGIC):
        raise _invalid_csv(
            "The file is a password-protected workbook or an Excel 97-2003 (.xls) file, which cannot be read. "
            + SAVE_ADVICE
        )
    return _csv_records(raw, _text_encoding(raw))


def _text_encoding(raw: IO[bytes]) -> str:
    """UTF-8 (a BOM allowed) if the whole file is UTF-8, else GB18030 (a superset of GBK, which Chinese Excel's
    “CSV (逗号分隔)” writes) if the whole file is that. Decided on the whole file before any row is read (two fast
    passes of the codecs), so no file is read half-way in the wrong encoding."""
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(_WIDE_BOMS):
        raise _invalid_csv(
            "The file is UTF-16 or UTF-32 text (Excel's “Unicode text”), not CSV. " + SAVE_ADVICE
        )
    broken = _first_decode_error(raw, "utf-8")
    if broken is None:
        return "utf-8-sig"
    line, non_ascii = broken
    if non_ascii >= UTF8_EVIDENCE:
        raise _invalid_csv(
            f"The file is UTF-8 text up to line {line}, which holds bytes that are not UTF-8. " + SAVE_ADVICE
        )
    if _first_decode_error(raw, "gb18030") is None:
        return "gb18030"
    raise _invalid_csv("The file is neither UTF-8 nor GB18030 (GBK) text. " + SAVE_ADVICE)


def _first_decode_error(raw: IO[bytes], encoding: str) -> tuple[int, int] | None:
    """Decode the whole file in blocks: ``None`` if it is all ``encoding``, else the line of the first byte that
    is not, and how many bytes >= 0x80 decoded before it. Leaves the file at its start."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line, non_ascii = 1, 0
    raw.seek(0)
    try:
        while True:
            block = raw.read(DECODE_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # ``exc.object`` is what the decoder held: this block after at most a few pending bytes.
                good = bytes(exc.object[: exc.start])
                return line + good.count(b"\n"), non_ascii + len(good) - len(
                    good.translate(None, _HIGH_BYTES)
                )
            if not block:
                return None
            line += block.count(b"\n")
            non_ascii += len(block) - len(block.translate(None, _HIGH_BYTES))
    finally:
        raw.seek(0)


def _csv_records(raw: IO[bytes], encoding: str) -> Iterator[list[str]]:
    text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, strict=True)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise _Unreadable(f"it is not {encoding} text") from None
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _Unreadable(f"a cell is larger than {FIELD_LIMIT} characters") from None
            raise _Unreadable(f"it is not valid CSV: {exc}") from None
        yield record


def _open_first_sheet(raw: IO[bytes]) -> tuple[Any, Any]:
    """The workbook (read-only: its rows are streamed from the archive) and its first worksheet."""
    import openpyxl  # here, not at the top: importing it takes 0.4 s, which every process start would pay

    try:
        with zipfile.ZipFile(raw) as archive:
            parts = archive.infolist()
            if "[Content_Types].xml" not in {part.filename for part in parts}:
                raise _invalid_csv("The file is a ZIP archive but not an Excel workbook. " + SAVE_ADVICE)
            if sum(part.file_size for part in parts) > MAX_XLSX_EXPANDED:
                raise _invalid_csv(
                    f"The workbook expands to more than {MAX_XLSX_EXPANDED // (1024 * 1024)} MiB; "
                    "split it into several files or save it as CSV UTF-8."
                )
            if _shared_strings(archive, parts) > MAX_SHARED_STRINGS:
                raise _invalid_csv(
                    f"The workbook holds more than {MAX_SHARED_STRINGS:,} distinct texts; "
                    "split it into several files or save it as CSV UTF-8."
                )
    except _WORKBOOK_ERRORS:
        raise _invalid_csv(
            "The file is a damaged ZIP archive, not a readable workbook. " + SAVE_ADVICE
        ) from None
    raw.seek(0)
    try:
        workbook = openpyxl.load_workbook(raw, read_only=True, data_only=True)
        sheets = workbook.worksheets
        if sheets:
            sheets[0].reset_dimensions()  # a wrong <dimension> would pad every row to it
    except _WORKBOOK_ERRORS:
        raise _invalid_csv(
            "The workbook cannot be read: it is damaged or was not saved by a spreadsheet program. "
            + SAVE_ADVICE
        ) from None
    if not sheets:
        workbook.close()
        raise _invalid_csv("The workbook has no worksheet.")
    return workbook, sheets[0]


def _shared_strings(archive: zipfile.ZipFile, parts: list[zipfile.ZipInfo]) -> int:
    """How many shared strings (``<si>`` elements) the archive holds, counted on the stream before openpyxl
    loads them all into memory: bytes bound the table's text, this bounds its number of strings (tiny ones
    cost far more memory than their bytes). Every part is counted, whatever its name; no other part of a
    workbook has ``si`` elements. A match cut by a block boundary is missed, which does not matter here."""
    count = 0
    for part in parts:
        with archive.open(part) as stream:
            while block := stream.read(DECODE_BLOCK):
                count += sum(1 for _ in _SHARED_STRING.finditer(block))
    return count


def _xlsx_records(workbook: Any, sheet: Any) -> Iterator[list[str]]:
    """The sheet's first non-empty row is the header (empty cells at its end dropped); the data rows below it are
    read to the header's width: cells right of it are not the import's."""
    try:
        header: list[str] = []
        header_row = 0
        for values in _sheet_rows(sheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True)):
            header_row += 1
            header = [_cell_text(value) for value in values]
            while header and not header[-1].strip():
                header.pop()
            if header:
                break
        if not header:
            raise _invalid_csv(
                f"The workbook's first sheet is empty (no header row in its first {HEADER_SEARCH_ROWS} rows)."
            )
        if len(header) > MAX_COLUMNS:
            raise _invalid_csv(f"The header row has more than {MAX_COLUMNS} columns.")
        yield header
        rows = sheet.iter_rows(min_row=header_row + 1, max_col=len(header), values_only=True)
        for count, values in enumerate(_sheet_rows(rows), header_row + 1):
            if count > MAX_SHEET_ROWS:
                raise _Unreadable(f"the sheet has more than {MAX_SHEET_ROWS:,} rows, more than Excel allows")
            yield [value if type(value) is str else _cell_text(value) for value in values]
    finally:
        workbook.close()


def _sheet_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            values = next(rows)
        except StopIteration:
            return
        except _WORKBOOK_ERRORS:
            raise _Unreadable("the workbook's first sheet is damaged") from None
        yield values


def _cell_text(value: object) -> str:
    """A cell's value in the form a CSV cell would have: numbers as typed (an application number typed as a
    number keeps its digits), an Excel date cell as ``YYYY-MM-DD`` (with a time of day it is no date), empty
    as ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)  # int, float (shortest round-trip form), timedelta


class RowChunks:
    """Reads the upload (``open_records``) and yields chunks of validated rows and failures; ``prepare`` is
    called on every valid row (in the same thread).

    Raises ``Unprocessable(invalid_csv)`` for anything that makes the file as a whole unreadable.
    """

    def __init__(self, raw: IO[bytes], today: date, prepare: Callable[[Row], None] | None = None) -> None:
        self._today = today
        self._raw = raw
        self._records: Iterator[list[str]] = iter(())
        self._prepare = prepare
        self._positions: list[int] = []
        self._seen: set[str] = set()
        self._index = 0
        self._width = 0

    def read_header(self) -> None:
        self._records = open_records(self._raw)
        header = self._next_record()
        if header is None:
            raise _invalid_csv("The file is empty: it needs a header row.")
        if any("\x00" in cell for cell in header):
            # UTF-16 without a BOM reads as ASCII with a NUL after every letter.
            raise _invalid_csv(
                "The header row holds NUL characters: the file is not UTF-8 text. " + SAVE_ADVICE
            )
        names = [h.strip().lower() for h in header]
        if names:
            names[0] = names[0].lstrip("\ufeff").strip()  # GB18030's byte order mark decodes to U+FEFF
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise _invalid_csv(f"Missing required column(s): {', '.join(missing)}.")
        # Which of two cells would be the title? Neither: the file is ambiguous (SPEC §20). Columns the import
        # does not read are ignored, named twice or not.
        twice = [c for c in COLUMNS if names.count(c) > 1]
        if twice:
            raise _invalid_csv(f"Column(s) named more than once in the header: {', '.join(twice)}.")
        # A missing optional column reads as an empty cell: the extra "" at the end of every record.
        self._positions = [names.index(name) if name in names else len(names) for name in COLUMNS]
        self._width = len(names)

    def _next_record(self) -> list[str] | None:
        try:
            return next(self._records)
        except StopIteration:
            return None
        except _Unreadable as exc:
            where = f"data row {self._index + 1}" if self._width else "the header row"
            raise _invalid_csv(f"The file cannot be read at {where}: {exc}.") from None

    def next_chunk(self) -> tuple[list[Row], list[Failure]] | None:
        rows: list[Row] = []
        failures: list[Failure] = []
        positions, width, prepare, seen = self._positions, self._width, self._prepare, self._seen
        while len(rows) + len(failures) < CHUNK_ROWS:
            record = self._next_record()
            if record is None:
                break
            if not any(record) or not any(cell.strip() for cell in record):
                continue  # blank lines are not rows
            self._index += 1
            index = self._index
            if index > MAX_ROWS:
                raise _invalid_csv(
                    f"The file has more than {MAX_ROWS:,} data rows: split it into several uploads."
                )
            if len(record) != width:
                failures.append(Failure(index, "invalid_row", f"expected {width} cells, found {len(record)}"))
                continue
            record.append("")
            try:
                row = validate_row(index, *[record[p] for p in positions], today=self._today)
            except CodedValueError as exc:
                failures.append(Failure(index, exc.code, str(exc)))
                continue
            except (ValueError, ArithmeticError) as exc:
                # Whatever else a rule refuses is this row's failure too: one bad row never fails the upload.
                failures.append(Failure(index, "invalid_value", str(exc) or type(exc).__name__))
                continue
            number = row.values["application_number"]
            if number in seen:
                failures.append(Failure(index, "duplicate_in_file", f"{number} appears earlier in the file"))
                continue
            seen.add(number)
            if prepare is not None:
                prepare(row)
            rows.append(row)
        if not rows and not failures:
            return None
        return rows, failures


class BulkInsert:
    """``INSERT … VALUES`` run with the driver's own ``executemany``.

    Values go through the dialect's bind processors for their column types (the same conversions SQLAlchemy
    applies), but constant columns are converted once per import and the per-row work is one tuple per row:
    at 100,000 rows SQLAlchemy's generic per-row parameter handling would cost more than the inserts.
    Table and column names come from the models, never from input.
    """

    def __init__(
        self, table: Table, varying: Sequence[str], constants: dict[str, Any], dialect: Dialect
    ) -> None:
        names = [*varying, *constants]
        if dialect.paramstyle == "qmark":
            marks = ["?"] * len(names)
        elif dialect.paramstyle == "numeric_dollar":
            marks = [f"${i}" for i in range(1, len(names) + 1)]
        elif dialect.paramstyle == "format":
            marks = ["%s"] * len(names)
        else:  # pragma: no cover - the supported drivers use one of the above
            raise NotImplementedError(dialect.paramstyle)
        self.sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"  # noqa: S608
        self._all_procs = {name: _processor(table, name, dialect) for name in names}
        self._procs: list[tuple[int, Callable[[Any], Any]]] = [
            (i, proc) for i, name in enumerate(varying) if (proc := self._all_procs[name]) is not None
        ]
        self.constants = tuple(_convert(self._all_procs[n], v) for n, v in constants.items())

    def processor(self, name: str) -> Callable[[Any], Any]:
        """The conversion of one column's values (identity when the driver takes them as they are)."""
        return self._all_procs[name] or _identity

    def convert(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The driver parameters of one row (``values`` in ``varying`` order)."""
        params = [*values, *self.constants]
        for i, proc in self._procs:
            params[i] = proc(params[i])
        return tuple(params)

    async def execute(self, session: AsyncSession, params: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows whose parameters ``convert`` made."""
        if not params:
            return
        conn = await session.connection()
        for start in range(0, len(params), INSERT_BATCH):
            await conn.exec_driver_sql(self.sql, list(params[start : start + INSERT_BATCH]))


def _processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _identity(value: Any) -> Any:
    return value


def _convert(processor: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if processor is None else processor(value)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


PATENTS, PATENT_IPC, AUDIT_EVENTS = _table(Patent), _table(PatentIpc), _table(AuditEvent)
PATENT_VARYING = (
    "id",
    "application_number",
    "kind",
    "title",
    "abstract",
    "ipc_codes",
    "inventors",
    "filing_date",
    "grant_date",
    "annual_fee_paid_until",
    "expires_on",
    "import_fingerprint",
)


class _Writer:
    """Writes one import's chunks; holds what is the same for every row (organization, actor, time)."""

    def __init__(self, session: AsyncSession, principal: Principal, now: datetime) -> None:
        assert principal.organization_id is not None
        self.session = session
        self.org_id = principal.organization_id
        self.actor = principal.label
        self.now = now
        dialect = session.get_bind().dialect
        self.patents = BulkInsert(
            PATENTS,
            PATENT_VARYING,
            {
                "owner_org_id": self.org_id,
                "evaluation_report": False,
                "status_override": None,
                "preserved": False,
                "preservation_reason": None,
                "extra": {},
                "created_at": now,
                "updated_at": now,
            },
            dialect,
        )
        self.ipc = BulkInsert(PATENT_IPC, ("patent_id", "code"), {}, dialect)
        self.audit = BulkInsert(
            AUDIT_EVENTS,
            ("id", "entity_id", "seq", "data", "prev_hash", "hash"),
            {"entity_type": ENTITY, "at": now, "actor": self.actor, "action": ACTION},
            dialect,
        )
        # Column conversions for the hot path of prepare(), the same processors BulkInsert.convert applies.
        self._as_uuid = self.patents.processor("id")
        json_processor = self.patents.processor("ipc_codes")
        json_cache: dict[tuple[str, ...], Any] = {}

        def as_json(values: list[str]) -> Any:
            key = tuple(values)
            converted = json_cache.get(key)
            if converted is None:
                if len(json_cache) > 10_000:
                    json_cache.clear()
                converted = json_cache[key] = json_processor(values)
            return converted

        self._as_json = as_json
        date_processor = self.patents.processor("filing_date")
        date_cache: dict[date | None, Any] = {}

        def as_date(value: date | None) -> Any:
            converted = date_cache.get(value)
            if converted is None and value is not None:
                if len(date_cache) > 50_000:
                    date_cache.clear()
                converted = date_cache[value] = date_processor(value)
            return converted

        self._as_date = as_date
        # The audit data column takes JSON text on both drivers; when its processor is plain json.dumps, the
        # event's data text is written directly (it has no characters that need escaping).
        self._data_processor = self.audit.processor("data")
        self._data_as_text = self._data_processor({"k": "v"}) == json.dumps({"k": "v"})
        # The canonical JSON of an "imported" event (app.audit.chain.event_hash) up to its varying parts, which
        # (numbers, hex digests, UUIDs, literals) need no JSON escaping; a test checks it against event_hash.
        self._event_head = (
            f'{{"action":"{ACTION}","actor":{canonical_json(self.actor)},"at":{canonical_json(now)},"data":{{'
        )

    def event(self, patent_id: uuid.UUID, row: Row, seq: int, prev_hash: str, change: str) -> tuple[Any, ...]:
        """The audit event's column values (``id, entity_id, seq, data, prev_hash, hash``)."""
        entity_id = str(patent_id)
        number = row.values["application_number"]
        body = (
            f'{self._event_head}"application_number":"{number}","change":"{change}",'
            f'"fingerprint":"{row.fingerprint}"}},"entity_id":"{entity_id}","entity_type":"{ENTITY}","seq":{seq}}}'
        )
        data = {"application_number": number, "change": change, "fingerprint": row.fingerprint}
        digest = hashlib.sha256((prev_hash + body).encode()).hexdigest()
        return (uuid.uuid4(), entity_id, seq, data, prev_hash, digest)

    def event_params(
        self, patent_id: uuid.UUID, row: Row, seq: int, prev_hash: str, change: str
    ) -> tuple[Any, ...]:
        """``event`` as driver parameters of the audit insert."""
        event_id, entity_id, seq, data, prev_hash, digest = self.event(patent_id, row, seq, prev_hash, change)
        data_param = (
            f'{{"application_number": "{data["application_number"]}", "change": "{change}", '
            f'"fingerprint": "{data["fingerprint"]}"}}'
            if self._data_as_text
            else self._data_processor(data)
        )
        return (self._as_uuid(event_id), entity_id, seq, data_param, prev_hash, digest, *self.audit.constants)

    def prepare(self, row: Row) -> None:
        """Driver parameters for inserting the row as a new patent (runs in the parsing thread)."""
        pid = uuid.uuid4()
        values = row.values
        row.patent_id = pid
        as_uuid, as_date, as_json = self._as_uuid, self._as_date, self._as_json
        row.insert_patent = (
            as_uuid(pid),
            values["application_number"],
            row.kind,
            values["title"],
            values["abstract"],
            as_json(values["ipc_codes"]),
            as_json(values["inventors"]),
            as_date(values["filing_date"]),
            as_date(values["grant_date"]),
            as_date(values["annual_fee_paid_until"]),
            as_date(row.expires_on),
            row.fingerprint,
            *self.patents.constants,
        )
        row.insert_ipc = [self.ipc.convert((pid, key)) for key in row.ipc_keys]
        row.insert_event = self.event_params(pid, row, 1, GENESIS, "created")

    async def write(self, rows: list[Row], report: ImportReport) -> None:
        session = self.session
        existing = {
            e.application_number: e
            for e in await session.execute(
                select(
                    Patent.id,
                    Patent.application_number,
                    Patent.owner_org_id,
                    Patent.import_fingerprint,
                    *(getattr(Patent, field) for field in sorted(service.TEXT_FIELDS)),
                )
                .where(Patent.application_number.in_([r.values["application_number"] for r in rows]))
                .with_for_update()
            )
        }
        patents: list[tuple[Any, ...]] = []
        ipc: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        changed: list[tuple[uuid.UUID, Row]] = []
        retitled: set[uuid.UUID] = set()  # changed patents whose text (service.TEXT_FIELDS) changes
        for row in rows:
            found = existing.get(row.values["application_number"]) if existing else None
            if found is None:
                if row.patent_id is None:
                    self.prepare(row)
                patents.append(row.insert_patent)
                ipc.extend(row.insert_ipc)
                events.append(row.insert_event)
            elif found.owner_org_id != self.org_id:
                number = row.values["application_number"]
                report.failed.append(
                    Failure(row.index, "patent_exists", f"{number} is registered by another organization")
                )
            elif found.import_fingerprint != row.fingerprint:
                changed.append((found.id, row))
                if any(getattr(found, field) != row.values[field] for field in service.TEXT_FIELDS):
                    retitled.add(found.id)
        if changed:
            frozen = await service.locked(session, [pid for pid, _ in changed])
            for pid, row in changed:
                if pid in frozen:
                    report.failed.append(Failure(row.index, service.LOCKED, service.LOCKED_DETAIL))
            changed = [(pid, row) for pid, row in changed if pid not in frozen]
        for pid, row in changed:
            ipc.extend(self.ipc.convert((pid, key)) for key in row.ipc_keys)
        if changed:
            events.extend(await self._update(changed))
            await service.text_changed(session, [pid for pid, _ in changed if pid in retitled])
        await self.patents.execute(session, patents)
        await self.ipc.execute(session, ipc)
        await self.audit.execute(session, events)
        report.created += len(patents)
        report.updated += len(changed)

    async def _update(self, changed: list[tuple[uuid.UUID, Row]]) -> list[tuple[Any, ...]]:
        """Update changed patents, drop their IPC rows (re-inserted by the caller), return their audit events."""
        table = PATENTS
        columns = [n for n in rules.FINGERPRINT_FIELDS if n != "application_number"]
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                {
                    name: bindparam(name)
                    for name in (*columns, "expires_on", "import_fingerprint", "updated_at")
                }
            )
        )
        params = [
            {
                **{n: row.values[n] for n in columns},
                "b_id": pid,
                "expires_on": row.expires_on,
                "import_fingerprint": row.fingerprint,
                "updated_at": self.now,
            }
            for pid, row in changed
        ]
        await self.session.execute(stmt, params)
        ids = [pid for pid, _ in changed]
        await self.session.execute(delete(PatentIpc).where(PatentIpc.patent_id.in_(ids)))
        heads = await _chain_heads(self.session, [str(pid) for pid in ids])
        events = []
        for pid, row in changed:
            seq, prev = heads.get(str(pid), (0, GENESIS))
            events.append(self.event_params(pid, row, seq + 1, prev, "updated"))
        return events


async def _chain_heads(session: AsyncSession, entity_ids: list[str]) -> dict[str, tuple[int, str]]:
    """The last (seq, hash) of each patent's audit chain."""
    last = (
        select(AuditEvent.entity_id, func.max(AuditEvent.seq).label("seq"))
        .where(AuditEvent.entity_type == ENTITY, AuditEvent.entity_id.in_(entity_ids))
        .group_by(AuditEvent.entity_id)
        .subquery()
    )
    rows = await session.execute(
        select(AuditEvent.entity_id, AuditEvent.seq, AuditEvent.hash).join(
            last,
            and_(
                AuditEvent.entity_type == ENTITY,
                AuditEvent.entity_id == last.c.entity_id,
                AuditEvent.seq == last.c.seq,
            ),
        )
    )
    return {r.entity_id: (r.seq, r.hash) for r in rows}


async def import_patents(
    session: AsyncSession, principal: Principal, raw: IO[bytes], clock: Clock
) -> ImportReport:
    """Import the patents of the caller's organization from a CSV file or an .xlsx workbook (SPEC §4, §21)."""
    writer = _Writer(session, principal, clock.now())
    chunks = RowChunks(raw, service.business_today(clock), prepare=writer.prepare)
    await to_thread.run_sync(chunks.read_header)
    report = ImportReport()
    # Chunks are parsed in a worker thread so the event loop keeps serving other requests meanwhile. Parsing
    # the next chunk while this one is written was tried and is no faster: the parsing thread holds the GIL
    # that the SQLite driver must take back after every row it inserts.
    try:
        while (chunk := await to_thread.run_sync(chunks.next_chunk)) is not None:
            rows, failures = chunk
            report.failed.extend(failures)
            if rows:
                await writer.write(rows, report)
    except IntegrityError:
        # A concurrent request registered one of these numbers (or wrote a chain link) meanwhile; the whole
        # import rolls back, and retrying it is safe.
        raise Conflict(
            "Another request changed some of these patents at the same time; retry the import.",
            code="patent_exists",
        ) from None
    report.failed.sort(key=lambda f: f.row)
    return report
