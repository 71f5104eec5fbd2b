"""Benchmark: the stock-taking import (SPEC §4, §21) in each upload format against a bare executemany of the rows.

    python bench/import_patents.py [--rows 100000] [--format all|csv-utf8|csv-gb18030|xlsx] [--database-url URL]

(a) the full HTTP path: ``POST /api/v1/patents/import`` through ``httpx.ASGITransport`` as a verified
    organization's user (multipart parsing, decoding or unzipping, parsing, validation, lookups, inserts, IPC rows,
    audit events), once per format: CSV in UTF-8, the same CSV in GB18030 (what Chinese Excel writes), and an
    .xlsx workbook shaped like Excel's (dates as date cells, text in the shared string table; not timed);
(b) the floor: the same normalised rows inserted into ``patents`` and ``patent_ipc`` with one driver-level
    ``executemany`` each (sqlite3 / asyncpg), in one transaction, into a fresh database of the same schema.

Both databases are built by Alembic. Without ``--database-url`` they are SQLite files in a temporary
directory. A PostgreSQL URL is used as an admin URL: scratch databases are created and dropped.
Each is run ``--repeat`` times (fresh databases each time) and the best run counts, so a busy machine
disturbs the figures less. Prints rows/s of each, the ratio (a)/(b) in throughput (1.0 = as fast as the
bare insert), and the import's peak memory: how far the peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs`` just before the upload) of the process running (a) rose above its RSS at the start of
the upload. Each (a) runs in a fresh process; the file is uploaded from disk and streamed, so the figure is the
server side's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import multiprocessing
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import openpyxl
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from stdnum.cn import uscc

from app.accounts.service import create_operator
from app.config import Settings
from app.kit.clock import SystemClock
from app.kit.db import create_database
from app.kit.migrate import upgrade
from app.main import create_app
from app.patents import rules
from app.patents.importer import COLUMNS
from tests.patents.workbooks import with_shared_strings

HEADER = list(COLUMNS)
IPC = ["H01M 10/0525", "G06F 16/30", "A61K 31/00", "C08L 23/06", "B01D 53/86", "H04L 9/32", "F24S 10/40"]
PASSWORD = "bench-password-123"


def generate(n: int) -> list[list[str]]:
    """N valid rows: distinct 12-digit numbers with correct check characters, Chinese text (every title and
    abstract distinct, as in a real stock list: a workbook keeps each distinct text once), 1–2 IPC codes."""
    rows = []
    for i in range(n):
        year = 2010 + i // 10_000_000
        kind = "12"[i % 2]
        digits = f"{year}{kind}{i % 10_000_000:07d}"
        filed = date(year, 1, 1) + timedelta(days=i % 360)
        rows.append(
            [
                f"{digits}.{rules.check_character(digits)}",
                f"一种基于深度学习的电池健康状态估计方法及系统{i}",
                "本发明公开了一种电池健康状态估计方法，包括采集电压、电流和温度数据，提取特征，训练神经网络模型，"
                f"并输出估计结果。该方法精度高、计算量小，适用于车载电池管理系统（实施例{i}）。",
                ";".join(IPC[i % len(IPC) : i % len(IPC) + 1 + i % 2]),
                "张三;李四",
                filed.isoformat(),
                (filed + timedelta(days=700)).isoformat() if i % 3 else "",
                "",
            ]
        )
    return rows


def to_csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def write_xlsx(rows: list[list[str]], path: Path) -> None:
    """The rows as Excel saves them: dates as date cells, empty cells absent, text in the shared string table
    (openpyxl, write-only mode, writes inline strings: ``with_shared_strings`` moves them)."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("专利")
    sheet.append(HEADER)
    dates = (5, 6, 7)
    for cells in rows:
        sheet.append(
            [(date.fromisoformat(v) if i in dates else v) if v else None for i, v in enumerate(cells)]
        )
    out = io.BytesIO()
    workbook.save(out)
    path.write_bytes(with_shared_strings(out.getvalue()))


FORMATS = ("csv-utf8", "csv-gb18030", "xlsx")


def write_upload(fmt: str, rows: list[list[str]], tmp: Path) -> Path:
    path = tmp / {"csv-utf8": "stock.csv", "csv-gb18030": "stock-gbk.csv", "xlsx": "stock.xlsx"}[fmt]
    if fmt == "xlsx":
        write_xlsx(rows, path)
    else:
        path.write_bytes(to_csv(rows, "utf-8" if fmt == "csv-utf8" else "gb18030"))
    return path


# --- peak memory (Linux) -------------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> float:
    """Reset VmHWM to the current RSS; returns that RSS (MB)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


# --- databases ---------------------------------------------------------------------------------------------


async def _pg_create(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _pg_drop(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def fresh_database(base: str | None, tmp: Path, name: str) -> str:
    if base is None:
        url = f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
    else:
        url = await _pg_create(base, f"bench_{name}")
    await asyncio.to_thread(upgrade, url)
    return url


# --- (a) the HTTP path -------------------------------------------------------------------------------------


async def run_http(url: str, upload: Path, expected: int) -> tuple[float, float]:
    """Seconds of the import request and its peak memory growth (MB)."""
    settings = Settings(
        env="test",
        secret_key="bench-secret-key-long-enough-0123456789",
        database_url=url,
        fast_password_hashing=True,
        log_json=False,
        log_level="WARNING",
    )
    db = create_database(url)
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            async with db.transaction() as session:
                await create_operator(session, "op@bench.example.cn", PASSWORD, "Operator", SystemClock())
            op = await _login(client, "op@bench.example.cn")
            code = "91330000000000001" + uscc.calc_check_digit("91330000000000001")
            body = {
                "name": "基准大学",
                "kind": "university",
                "credit_code": code,
                "admin": {"email": "admin@bench.example.cn", "password": PASSWORD, "name": "管理员"},
            }
            r = await client.post("/api/v1/organizations", json=body)
            r.raise_for_status()
            org_id = r.json()["id"]
            (await client.post(f"/api/v1/organizations/{org_id}/verify", headers=op)).raise_for_status()
            member = await _login(client, "admin@bench.example.cn")

            with upload.open("rb") as file:
                before = reset_peak()
                started = time.perf_counter()
                r = await client.post(
                    "/api/v1/patents/import",
                    files={"file": (upload.name, file, "application/octet-stream")},
                    headers=member,
                )
                elapsed = time.perf_counter() - started
                peak = _status_mb("VmHWM") - before
            r.raise_for_status()
            result = r.json()
            if result["created"] != expected or result["failed"]:
                raise SystemExit(
                    f"unexpected import result: created={result['created']} failed={result['failed'][:3]}"
                )
            return elapsed, peak
    finally:
        await db.dispose()


def http_in_child(url: str, upload: Path, expected: int) -> tuple[float, float]:
    """``run_http`` in a fresh process, so that its memory figure is the import's alone (in this process the
    allocator would first reuse what generating the rows freed)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_run_http_sync, url, upload, expected).result()


def _run_http_sync(url: str, upload: Path, expected: int) -> tuple[float, float]:
    return asyncio.run(run_http(url, upload, expected))


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- (b) the bare executemany ------------------------------------------------------------------------------


def bare_rows(rows: list[list[str]], org_id: uuid.UUID) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The same rows as the import stores them (normalised), as plain driver parameters. Not timed."""
    now = datetime.now(UTC)
    patents, ipc = [], []
    for cells in rows:
        number = rules.parse_application_number(cells[0])
        codes = rules.normalise_ipc_codes(rules.split_list(cells[3]))
        filed = date.fromisoformat(cells[5])
        values = {
            "application_number": number.number,
            "title": cells[1],
            "abstract": cells[2],
            "ipc_codes": codes,
            "inventors": rules.normalise_names(rules.split_list(cells[4])),
            "filing_date": filed,
            "grant_date": date.fromisoformat(cells[6]) if cells[6] else None,
            "annual_fee_paid_until": None,
        }
        pid = uuid.uuid4()
        patents.append(
            {
                **values,
                "id": pid,
                "owner_org_id": org_id,
                "kind": number.kind.value,
                "expires_on": rules.expires_on(number.kind, filed),
                "evaluation_report": False,
                "status_override": None,
                "preserved": False,
                "preservation_reason": None,
                "import_fingerprint": rules.fingerprint(values),
                "extra": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        ipc.extend({"patent_id": pid, "code": rules.ipc_key(c)} for c in codes)
    return patents, ipc


PATENT_COLUMNS = [
    "id",
    "owner_org_id",
    "application_number",
    "kind",
    "title",
    "abstract",
    "ipc_codes",
    "inventors",
    "filing_date",
    "grant_date",
    "annual_fee_paid_until",
    "evaluation_report",
    "expires_on",
    "status_override",
    "preserved",
    "preservation_reason",
    "import_fingerprint",
    "extra",
    "created_at",
    "updated_at",
]


def _sqlite_value(value: Any) -> Any:
    # The representations SQLAlchemy stores on SQLite: hex UUIDs, ISO dates, naive UTC datetimes, JSON text.
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _pg_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


ORG_INSERT = (
    "INSERT INTO organizations (id, name, kind, credit_code, status, is_public_institution, reward_rules, "
    "verified_at, created_at, updated_at) VALUES ({})"
)


async def run_bare(url: str, rows: list[list[str]]) -> float:
    org_id = uuid.uuid4()
    patents, ipc = bare_rows(rows, org_id)
    now = datetime.now(UTC)
    org = [
        org_id,
        "基准大学",
        "university",
        "913300000000000000",
        "verified",
        True,
        "zhejiang",
        now,
        now,
        now,
    ]
    cols = ", ".join(PATENT_COLUMNS)
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path
        p_params = [tuple(_sqlite_value(p[c]) for c in PATENT_COLUMNS) for p in patents]
        i_params = [(_sqlite_value(i["patent_id"]), i["code"]) for i in ipc]
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(ORG_INSERT.format(", ".join("?" * 10)), [_sqlite_value(v) for v in org])
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT INTO patents ({cols}) VALUES ({', '.join('?' * len(PATENT_COLUMNS))})", p_params
        )
        conn.executemany("INSERT INTO patent_ipc (patent_id, code) VALUES (?, ?)", i_params)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed

    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(ORG_INSERT.format(", ".join(f"${i}" for i in range(1, 11))), *org)
        p_params = [tuple(_pg_value(p[c]) for c in PATENT_COLUMNS) for p in patents]
        i_params = [(i["patent_id"], i["code"]) for i in ipc]
        placeholders = ", ".join(f"${i}" for i in range(1, len(PATENT_COLUMNS) + 1))
        started = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(f"INSERT INTO patents ({cols}) VALUES ({placeholders})", p_params)
            await conn.executemany("INSERT INTO patent_ipc (patent_id, code) VALUES ($1, $2)", i_params)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each; the best is reported (default 3)"
    )
    parser.add_argument("--format", choices=["all", *FORMATS], default="all", help="upload format(s)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql+asyncpg://… admin URL (scratch databases are created); default SQLite",
    )
    args = parser.parse_args()
    base: str | None = args.database_url
    if base is not None and base.startswith("sqlite"):
        base = None  # SQLite always uses fresh files
    formats = FORMATS if args.format == "all" else (args.format,)

    rows = generate(args.rows)
    print(f"{args.rows} rows, backend {'postgresql' if base else 'sqlite'}, best of {args.repeat}")
    results: dict[str, tuple[float, float, float]] = {}
    bare_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        uploads = {fmt: write_upload(fmt, rows, Path(tmp)) for fmt in formats}
        for fmt in formats:
            runs: list[tuple[float, float]] = []
            for attempt in range(args.repeat):
                name = f"import_http_{fmt.replace('-', '_')}_{attempt}"
                url = await fresh_database(base, Path(tmp), name)
                try:
                    runs.append(await asyncio.to_thread(http_in_child, url, uploads[fmt], args.rows))
                finally:
                    if base is not None:
                        await _pg_drop(base, f"bench_{name}")
                print(f"  {fmt} run {attempt + 1}: {runs[-1][0]:.2f} s, peak +{runs[-1][1]:.0f} MB")
            best = min(runs)
            results[fmt] = (best[0], max(peak for _, peak in runs), uploads[fmt].stat().st_size / 1e6)
        for attempt in range(args.repeat):
            url = await fresh_database(base, Path(tmp), f"import_bare_{attempt}")
            try:
                bare_runs.append(await run_bare(url, rows))
            finally:
                if base is not None:
                    await _pg_drop(base, f"bench_import_bare_{attempt}")
            print(f"  bare run {attempt + 1}: {bare_runs[-1]:.2f} s")
    bare_s = min(bare_runs)
    print(f"{'':22} {'file MB':>8} {'seconds':>8} {'rows/s':>9} {'ratio':>6} {'peak MB':>8}")
    for fmt, (seconds, peak, size) in results.items():
        print(
            f"(a) HTTP {fmt:<13} {size:8.1f} {seconds:8.2f} {args.rows / seconds:9,.0f} "
            f"{bare_s / seconds:6.2f} {peak:8.0f}"
        )
    print(f"(b) bare executemany  {'':8} {bare_s:8.2f} {args.rows / bare_s:9,.0f}   1.00")
    print("ratio: (a)/(b) throughput; peak MB: the import's peak RSS above the process's RSS before it")


if __name__ == "__main__":
    asyncio.run(main())
