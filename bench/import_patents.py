"""Benchmark: the stock-taking import (SPEC §4) against a bare executemany of the same rows.

    python bench/import_patents.py [--rows 100000] [--database-url URL]

(a) the full HTTP path: ``POST /api/v1/patents/import`` through ``httpx.ASGITransport`` as a verified
    organization's user (multipart parsing, CSV parsing, validation, lookups, inserts, IPC rows, audit events);
(b) the floor: the same normalised rows inserted into ``patents`` and ``patent_ipc`` with one driver-level
    ``executemany`` each (sqlite3 / asyncpg), in one transaction, into a fresh database of the same schema.

Both databases are built by Alembic. Without ``--database-url`` they are SQLite files in a temporary
directory. A PostgreSQL URL is used as an admin URL: two scratch databases are created and dropped.
Each is run ``--repeat`` times (fresh databases each time) and the best run counts, so a busy machine
disturbs the figures less. Prints rows/s of each and the ratio (a)/(b) in throughput (1.0 = as fast as the
bare insert).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
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

HEADER = list(COLUMNS)
IPC = ["H01M 10/0525", "G06F 16/30", "A61K 31/00", "C08L 23/06", "B01D 53/86", "H04L 9/32", "F24S 10/40"]
PASSWORD = "bench-password-123"


def generate(n: int) -> list[list[str]]:
    """N valid rows: distinct 12-digit numbers with correct check characters, Chinese text, 1–2 IPC codes."""
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
                "并输出估计结果。该方法精度高、计算量小，适用于车载电池管理系统。",
                ";".join(IPC[i % len(IPC) : i % len(IPC) + 1 + i % 2]),
                "张三;李四",
                filed.isoformat(),
                (filed + timedelta(days=700)).isoformat() if i % 3 else "",
                "",
            ]
        )
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


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


async def run_http(url: str, content: bytes, expected: int) -> float:
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

            started = time.perf_counter()
            r = await client.post(
                "/api/v1/patents/import", files={"file": ("stock.csv", content, "text/csv")}, headers=member
            )
            elapsed = time.perf_counter() - started
            r.raise_for_status()
            result = r.json()
            if result["created"] != expected or result["failed"]:
                raise SystemExit(
                    f"unexpected import result: created={result['created']} failed={result['failed'][:3]}"
                )
            return elapsed
    finally:
        await db.dispose()


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
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql+asyncpg://… admin URL (scratch databases are created); default SQLite",
    )
    args = parser.parse_args()
    base: str | None = args.database_url
    if base is not None and base.startswith("sqlite"):
        base = None  # SQLite always uses fresh files

    rows = generate(args.rows)
    content = to_csv(rows)
    print(
        f"{args.rows} rows, CSV {len(content) / 1e6:.1f} MB, backend {'postgresql' if base else 'sqlite'}, "
        f"best of {args.repeat}"
    )
    http_runs, bare_runs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for attempt in range(args.repeat):
            http_url = await fresh_database(base, Path(tmp), f"import_http_{attempt}")
            bare_url = await fresh_database(base, Path(tmp), f"import_bare_{attempt}")
            try:
                http_runs.append(await run_http(http_url, content, args.rows))
                bare_runs.append(await run_bare(bare_url, rows))
            finally:
                if base is not None:
                    await _pg_drop(base, f"bench_import_http_{attempt}")
                    await _pg_drop(base, f"bench_import_bare_{attempt}")
            print(f"  run {attempt + 1}: http {http_runs[-1]:.2f} s, bare {bare_runs[-1]:.2f} s")
    http_s, bare_s = min(http_runs), min(bare_runs)
    print(f"(a) HTTP import      : {http_s:7.2f} s  {args.rows / http_s:10,.0f} rows/s")
    print(f"(b) bare executemany : {bare_s:7.2f} s  {args.rows / bare_s:10,.0f} rows/s")
    print(f"ratio (a)/(b) throughput: {bare_s / http_s:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
