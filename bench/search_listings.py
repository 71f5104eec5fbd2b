"""Benchmark of the public Chinese listing search (SPEC §5), through HTTP and as bare SQL.

    python bench/search_listings.py [--listings 100000] [--database-url URL] [--requests 200]

Without ``--database-url`` a fresh SQLite file under a temporary directory is used. For PostgreSQL pass an
admin URL; a fresh database ``bench_search_<pid>`` is created next to it and dropped afterwards.
The schema is built by Alembic (``app.kit.migrate.upgrade``); N published listings with realistic Chinese
titles and summaries, one patent each, are bulk-loaded with Core inserts (the FTS5 index fills through its
triggers on SQLite). Then, sequentially, each query runs ``--requests`` times through the app over
``httpx.ASGITransport`` and as the service's search SQL alone; p50/p95 are printed as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from app.kit.db import create_database
from app.kit.migrate import upgrade
from app.listings import repository, rules, search
from app.main import create_app
from app.models.accounts import Organization
from app.models.listings import Listing, ListingPatent, ListingSearch
from app.models.patents import Patent, PatentIpc

PREFIXES = ["一种", "新型", "高效", "基于深度学习的", "低成本", "高性能", "柔性", "便携式", "智能", "环保型"]
MATERIALS = ["石墨烯", "硅碳", "陶瓷", "聚合物", "纳米", "钙钛矿", "碳化硅", "氮化镓", "磷酸铁锂", "固态"]
OBJECTS = [
    "锂电池",
    "电池",
    "芯片",
    "隔膜",
    "传感器",
    "电解质",
    "正极材料",
    "负极材料",
    "光伏组件",
    "电机",
    "控制器",
    "图像识别系统",
    "医疗器械",
    "催化剂",
    "涂层",
    "封装结构",
    "散热装置",
    "储能系统",
]
SUFFIXES = ["的制备方法", "及其应用", "结构", "装置", "系统", "检测方法", "生产工艺", "控制方法"]
SUMMARY_BITS = [
    "本发明公开了",
    "具有成本低、效率高的优点",
    "适用于新能源汽车",
    "可用于工业化生产",
    "显著提高了循环寿命",
    "降低了能耗",
    "提升了安全性",
    "便于推广应用",
    "解决了现有技术中的问题",
    "采用模块化设计",
]
IPC = [
    "H01M 10/0525",
    "H01M 4/36",
    "H01L 23/367",
    "G01L 1/18",
    "G06V 10/82",
    "A61B 5/00",
    "B01J 23/00",
    "H02K 1/27",
    "C09D 5/00",
    "H01L 31/048",
]
QUERIES = [
    ("2-char 电池", {"q": "电池"}),
    ("4-char 制备方法", {"q": "制备方法"}),
    ("2-char 芯片 + auction", {"q": "芯片", "pricing_mode": "auction"}),
    ("4-char 磷酸铁锂 + auction", {"q": "磷酸铁锂", "pricing_mode": "auction"}),
    ("3-char 传感器", {"q": "传感器"}),
    ("rare 硅碳芯片的制备方法", {"q": "硅碳芯片的制备方法"}),
    ("1-char 膜", {"q": "膜"}),
    ("no q (newest)", {}),
]


def _title(rng: random.Random) -> str:
    return rng.choice(PREFIXES) + rng.choice(MATERIALS) + rng.choice(OBJECTS) + rng.choice(SUFFIXES)


def _summary(rng: random.Random, title: str) -> str:
    return "本发明公开了" + title + "，" + "，".join(rng.sample(SUMMARY_BITS, 3)) + "。"


async def load(url: str, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    engine = create_async_engine(url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    org_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Organization),
            [
                {
                    "id": org_id,
                    "name": "基准大学",
                    "kind": "university",
                    "credit_code": "91330000000000001X",
                    "status": "verified",
                    "is_public_institution": True,
                    "reward_rules": "zhejiang",
                    "verified_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    batch = 5000
    for start in range(0, n, batch):
        patents, ipcs, listings, links, docs = [], [], [], [], []
        for i in range(start, min(n, start + batch)):
            pid, lid = uuid.uuid4(), uuid.uuid4()
            ptitle = _title(rng)
            abstract = _summary(rng, ptitle)
            title = ptitle if rng.random() < 0.7 else _title(rng)
            summary = _summary(rng, title)
            mode = rng.choice(["negotiated", "listed", "auction"])
            price = rng.randrange(10_000, 5_000_000) * 100
            published = now - timedelta(minutes=i)
            patents.append(
                {
                    "id": pid,
                    "owner_org_id": org_id,
                    "application_number": f"2015{i:08d}",
                    "kind": "invention",
                    "title": ptitle,
                    "abstract": abstract,
                    "ipc_codes": [],
                    "inventors": [],
                    "filing_date": date(2015, 1, 1),
                    "grant_date": date(2017, 1, 1),
                    "annual_fee_paid_until": None,
                    "evaluation_report": False,
                    "expires_on": date(2035, 1, 1),
                    "status_override": None,
                    "preserved": False,
                    "preservation_reason": None,
                    "import_fingerprint": None,
                    "extra": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            ipcs.append({"patent_id": pid, "code": rng.choice(IPC)})
            listings.append(
                {
                    "id": lid,
                    "seller_org_id": org_id,
                    "title": title,
                    "summary": summary,
                    "transaction_kind": "assignment",
                    "pricing_mode": mode,
                    "price": None if mode == "negotiated" and rng.random() < 0.3 else price,
                    "deposit": None if mode == "negotiated" else price // 10,
                    "listing_days": 10,
                    "extension_days": 5,
                    "max_extensions": 1,
                    "min_bidders_for_auction": 2,
                    "requires_qualification_review": False,
                    "license_terms": None,
                    "auction_terms": rules.auction_defaults({"format": "english", "increment": 100_00})
                    if mode == "auction"
                    else None,
                    "status": "published",
                    "rejection_reason": None,
                    "status_reason": None,
                    "published_at": published,
                    "listing_ends_at": published + timedelta(days=14),
                    "suspended_at": None,
                    "extensions_used": 0,
                    "auction_id": None,
                    "version": 1,
                    "created_at": published,
                    "updated_at": published,
                }
            )
            links.append({"listing_id": lid, "patent_id": pid, "position": 0})
            t, body, terms = search.document(title, summary, [(ptitle, abstract)])
            docs.append(
                {
                    "listing_id": lid,
                    "title": t,
                    "body": body,
                    "terms": terms,
                    "title_terms": search.index_terms(t),
                }
            )
        async with engine.begin() as conn:
            await conn.execute(insert(Patent), patents)
            await conn.execute(insert(PatentIpc), ipcs)
            await conn.execute(insert(Listing), listings)
            await conn.execute(insert(ListingPatent), links)
            await conn.execute(insert(ListingSearch), docs)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in ("patents", "patent_ipc", "listings", "listing_patents", "listing_search"):
                await conn.execute(text(f"ANALYZE {table}"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.execute(text("INSERT INTO listing_fts(listing_fts) VALUES ('optimize')"))
    await engine.dispose()


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, requests: int) -> list[tuple[str, float, float, float, float, int]]:
    settings = Settings(
        env="test",
        database_url=url,
        secret_key="bench-secret-key-long-enough-0123456789abcdef",
        sandbox=False,
        log_json=False,
        log_level="WARNING",
    )
    db = create_database(url)
    app = create_app(settings, db=db)
    results = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for name, params in QUERIES:
            for _ in range(10):  # warm-up
                r = await client.get("/api/v1/listings", params=params)
                assert r.status_code == 200, r.text
            found = len(r.json()["items"])
            http: list[float] = []
            for _ in range(requests):
                t0 = time.perf_counter()
                r = await client.get("/api/v1/listings", params=params)
                http.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            filters = repository.ListFilters(q=params.get("q"), pricing_mode=params.get("pricing_mode"))  # type: ignore[arg-type]
            bare: list[float] = []
            for _ in range(requests):
                async with db.read() as session:
                    t0 = time.perf_counter()
                    await repository.list_listings(session, None, filters, limit=20, cursor=None)
                    bare.append((time.perf_counter() - t0) * 1000)
            results.append((name, _pct(http, 50), _pct(http, 95), _pct(bare, 50), _pct(bare, 95), found))
    await db.dispose()
    return results


async def _pg_database(admin_url: str, name: str, drop_only: bool = False) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop_only:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database-url", help="postgresql+asyncpg:// admin URL (default: a temp SQLite file)"
    )
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-search-")
    pg_name = None
    if args.database_url and args.database_url.startswith("postgresql"):
        pg_name = f"bench_search_{__import__('os').getpid()}"
        url = await _pg_database(args.database_url, pg_name)
    else:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    try:
        await asyncio.to_thread(upgrade, url)
        t0 = time.perf_counter()
        await load(url, args.listings)
        print(
            f"{make_url(url).get_backend_name()}: loaded {args.listings} listings in "
            f"{time.perf_counter() - t0:.1f}s; {args.requests} sequential requests per query"
        )
        rows = await measure(url, args.requests)
        print(
            f"{'query':28} {'HTTP p50':>9} {'HTTP p95':>9} {'SQL p50':>8} {'SQL p95':>8} {'ratio':>6} {'items':>5}"
        )
        for name, hp50, hp95, sp50, sp95, found in rows:
            print(
                f"{name:28} {hp50:8.1f}ms {hp95:8.1f}ms {sp50:7.1f}ms {sp95:7.1f}ms {hp50 / sp50:5.1f}x {found:5d}"
            )
        print(f"median over queries of HTTP p95: {statistics.median(r[2] for r in rows):.1f} ms")
    finally:
        if pg_name and args.database_url:
            await _pg_database(args.database_url, pg_name, drop_only=True)
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
