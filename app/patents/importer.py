"""Stock-taking import: a CSV of patents in one upload (SPEC §4), built for 100,000 rows.

The file is read as a stream in chunks. Each chunk is parsed and validated in pure Python (in a worker
thread, so the event loop keeps serving), its numbers are looked up with one ``IN`` query, and new rows,
changed rows, their IPC rows and their audit events are written with Core ``executemany`` statements: no
ORM objects per row. Everything runs in the request's one transaction, so a file that turns out unreadable
half-way (bad UTF-8, broken quoting, an oversized cell) saves nothing.

Row outcomes: a new number → created; a number of the caller's organization whose descriptive fields differ
→ updated; identical → nothing (re-importing a file is a no-op); a number of another organization → failed
``patent_exists``. Each created or updated patent gets one ``imported`` audit event, chained like
``app.audit.service.record`` would (new patents start at seq 1 from GENESIS), computed here in bulk.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from anyio import to_thread
from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import GENESIS, event_hash
from app.kit.clock import Clock
from app.kit.errors import CodedValueError, Conflict, Unprocessable
from app.kit.security import Principal
from app.models.audit import AuditEvent
from app.models.patents import Patent, PatentIpc
from app.patents import rules
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


@dataclass(frozen=True)
class Row:
    """A valid data row, normalised; ``values`` are the descriptive fields (``rules.FINGERPRINT_FIELDS``)."""

    index: int
    values: dict[str, Any]
    kind: str
    expires_on: date
    fingerprint: str


def _invalid_csv(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="invalid_csv", errors=[{"loc": ["body", "file"], "msg": detail}])


def _date(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CodedValueError("invalid_date", f"{name} must be a date YYYY-MM-DD") from None


def validate_row(index: int, cells: dict[str, str]) -> Row:
    """One data row → a normalised ``Row``; raises ``CodedValueError`` with the row's failure code."""
    number = rules.parse_application_number(cells["application_number"])
    title = cells["title"].strip()
    if not title:
        raise CodedValueError("missing_value", "title is required")
    if len(title) > MAX_TITLE:
        raise CodedValueError("value_too_long", f"title is longer than {MAX_TITLE} characters")
    abstract = cells.get("abstract", "").strip()
    if len(abstract) > MAX_ABSTRACT:
        raise CodedValueError("value_too_long", f"abstract is longer than {MAX_ABSTRACT} characters")
    ipc_codes = rules.normalise_ipc_codes(rules.split_list(cells.get("ipc_codes", "")))
    if len(ipc_codes) > MAX_CODES:
        raise CodedValueError("value_too_long", f"more than {MAX_CODES} IPC codes")
    inventors = rules.normalise_names(rules.split_list(cells.get("inventors", "")))
    if len(inventors) > MAX_INVENTORS or any(len(n) > 200 for n in inventors):
        raise CodedValueError("value_too_long", "too many inventors or a name longer than 200 characters")
    filing_date = _date(cells["filing_date"].strip(), "filing_date")
    if filing_date is None:
        raise CodedValueError("missing_value", "filing_date is required")
    grant_date = _date(cells.get("grant_date", "").strip(), "grant_date")
    fee_date = _date(cells.get("annual_fee_paid_until", "").strip(), "annual_fee_paid_until")
    try:
        rules.check_dates(filing_date, grant_date)
    except ValueError as exc:
        raise CodedValueError("invalid_date", str(exc)) from None
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
        index=index,
        values=values,
        kind=number.kind.value,
        expires_on=rules.expires_on(number.kind, filing_date),
        fingerprint=rules.fingerprint(values),
    )


class CsvChunks:
    """Reads the upload as UTF-8 CSV (a BOM is allowed) and yields chunks of validated rows and failures.

    Raises ``Unprocessable(invalid_csv)`` for anything that makes the file as a whole unreadable.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")  # type: ignore[arg-type]
        self._reader = csv.reader(self._text, strict=True)
        self._positions: dict[str, int] = {}
        self._seen: set[str] = set()
        self._index = 0
        self._width = 0

    def read_header(self) -> None:
        header = self._next_record()
        if header is None:
            raise _invalid_csv("The file is empty: it needs a header row.")
        names = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise _invalid_csv(f"Missing required column(s): {', '.join(missing)}.")
        self._positions = {name: names.index(name) for name in COLUMNS if name in names}
        self._width = len(names)

    def _next_record(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError:
            raise _invalid_csv(f"The file is not UTF-8 text (near data row {self._index + 1}).") from None
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _invalid_csv(
                    f"Data row {self._index + 1} has a cell larger than {FIELD_LIMIT} characters."
                ) from None
            raise _invalid_csv(f"The file is not valid CSV near data row {self._index + 1}: {exc}.") from None

    def next_chunk(self) -> tuple[list[Row], list[Failure]] | None:
        rows: list[Row] = []
        failures: list[Failure] = []
        positions = self._positions
        while len(rows) + len(failures) < CHUNK_ROWS:
            record = self._next_record()
            if record is None:
                break
            if not any(cell.strip() for cell in record):
                continue  # blank lines are not rows
            self._index += 1
            index = self._index
            if len(record) != self._width:
                failures.append(
                    Failure(index, "invalid_row", f"expected {self._width} cells, found {len(record)}")
                )
                continue
            cells = {name: record[pos] for name, pos in positions.items()}
            try:
                row = validate_row(index, cells)
            except CodedValueError as exc:
                failures.append(Failure(index, exc.code, str(exc)))
                continue
            number = row.values["application_number"]
            if number in self._seen:
                failures.append(Failure(index, "duplicate_in_file", f"{number} appears earlier in the file"))
                continue
            self._seen.add(number)
            rows.append(row)
        if not rows and not failures:
            return None
        return rows, failures


def _patent_params(row: Row, patent_id: uuid.UUID, org_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    return {
        **row.values,
        "id": patent_id,
        "owner_org_id": org_id,
        "kind": row.kind,
        "expires_on": row.expires_on,
        "evaluation_report": False,
        "status_override": None,
        "preserved": False,
        "preservation_reason": None,
        "import_fingerprint": row.fingerprint,
        "extra": {},
        "created_at": now,
        "updated_at": now,
    }


def _audit_params(
    patent_id: uuid.UUID, row: Row, seq: int, prev_hash: str, change: str, actor: str, now: datetime
) -> dict[str, Any]:
    entity_id = str(patent_id)
    data = {
        "application_number": row.values["application_number"],
        "change": change,
        "fingerprint": row.fingerprint,
    }
    return {
        "id": uuid.uuid4(),
        "entity_type": ENTITY,
        "entity_id": entity_id,
        "seq": seq,
        "at": now,
        "actor": actor,
        "action": ACTION,
        "data": data,
        "prev_hash": prev_hash,
        "hash": event_hash(
            prev_hash=prev_hash,
            entity_type=ENTITY,
            entity_id=entity_id,
            seq=seq,
            at=now,
            actor=actor,
            action=ACTION,
            data=data,
        ),
    }


async def _executemany(session: AsyncSession, statement: Any, params: list[dict[str, Any]]) -> None:
    for start in range(0, len(params), INSERT_BATCH):
        await session.execute(statement, params[start : start + INSERT_BATCH])


async def _chain_heads(session: AsyncSession, entity_ids: list[str]) -> dict[str, tuple[int, str]]:
    """The last (seq, hash) of each patent's audit chain."""
    if not entity_ids:
        return {}
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


async def _write_chunk(
    session: AsyncSession, principal: Principal, rows: list[Row], now: datetime, report: ImportReport
) -> None:
    assert principal.organization_id is not None
    org_id = principal.organization_id
    numbers = [r.values["application_number"] for r in rows]
    existing = {
        e.application_number: e
        for e in await session.execute(
            select(Patent.id, Patent.application_number, Patent.owner_org_id, Patent.import_fingerprint)
            .where(Patent.application_number.in_(numbers))
            .with_for_update()
        )
    }
    created: list[tuple[uuid.UUID, Row]] = []
    changed: list[tuple[uuid.UUID, Row]] = []
    ipc_rows: list[dict[str, Any]] = []
    for row in rows:
        number = row.values["application_number"]
        found = existing.get(number)
        if found is None:
            patent_id = uuid.uuid4()
            created.append((patent_id, row))
            ipc_rows.extend(
                {"patent_id": patent_id, "code": k}
                for k in sorted({rules.ipc_key(c) for c in row.values["ipc_codes"]})
            )
        elif found.owner_org_id != org_id:
            report.failed.append(
                Failure(row.index, "patent_exists", f"{number} is registered by another organization")
            )
        elif found.import_fingerprint != row.fingerprint:
            changed.append((found.id, row))
            ipc_rows.extend(
                {"patent_id": found.id, "code": k}
                for k in sorted({rules.ipc_key(c) for c in row.values["ipc_codes"]})
            )

    actor = principal.label
    audit = [_audit_params(pid, row, 1, GENESIS, "created", actor, now) for pid, row in created]
    if changed:
        updates = [
            {
                **row.values,
                "b_id": pid,
                "expires_on": row.expires_on,
                "import_fingerprint": row.fingerprint,
                "updated_at": now,
            }
            for pid, row in changed
        ]
        stmt = (
            update(Patent.__table__)
            .where(Patent.__table__.c.id == bindparam("b_id"))
            .values(
                {
                    name: bindparam(name)
                    for name in (*rules.FINGERPRINT_FIELDS, "expires_on", "import_fingerprint", "updated_at")
                    if name != "application_number"
                }
            )
        )
        await _executemany(session, stmt, updates)
        await session.execute(delete(PatentIpc).where(PatentIpc.patent_id.in_([pid for pid, _ in changed])))
        heads = await _chain_heads(session, [str(pid) for pid, _ in changed])
        for pid, row in changed:
            seq, prev = heads.get(str(pid), (0, GENESIS))
            audit.append(_audit_params(pid, row, seq + 1, prev, "updated", actor, now))
    if created:
        patents = [_patent_params(row, pid, org_id, now) for pid, row in created]
        await _executemany(session, insert(Patent.__table__), patents)
    if ipc_rows:
        await _executemany(session, insert(PatentIpc.__table__), ipc_rows)
    if audit:
        await _executemany(session, insert(AuditEvent.__table__), audit)
    report.created += len(created)
    report.updated += len(changed)


async def import_csv(
    session: AsyncSession, principal: Principal, raw: IO[bytes], clock: Clock
) -> ImportReport:
    """Import the patents of the caller's organization from a CSV file (SPEC §4)."""
    chunks = CsvChunks(raw)
    await to_thread.run_sync(chunks.read_header)
    report = ImportReport()
    now = clock.now()
    try:
        while (chunk := await to_thread.run_sync(chunks.next_chunk)) is not None:
            rows, failures = chunk
            report.failed.extend(failures)
            if rows:
                await _write_chunk(session, principal, rows, now, report)
    except IntegrityError:
        # A concurrent request registered one of these numbers (or wrote a chain link) meanwhile; the whole
        # import rolls back, and retrying it is safe.
        raise Conflict(
            "Another request changed some of these patents at the same time; retry the import.",
            code="patent_exists",
        ) from None
    report.failed.sort(key=lambda f: f.row)
    return report
