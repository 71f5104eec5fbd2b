"""Shared helpers of the trading benchmarks (``close_storm.py``, ``sse_fanout.py``).

- a fresh database: a SQLite file in a temporary directory, or a scratch PostgreSQL database created next to
  an admin URL (and dropped afterwards), with the schema built by Alembic;
- a market built through the app's own services, in-process and before any server starts: an operator, a
  seller, bidder organizations signed in (tokens are plain JWTs, valid for the server that shares the secret),
  funded by bank payments, patents by the CSV import, then per auction: create, submit and approve the
  listing, register the bidders (qualified, deposits held) and open the auction — in batches of one
  transaction each;
- a real uvicorn server (N workers) on 127.0.0.1, its worker processes' peak RSS (``VmHWM``, reset through
  ``/proc/<pid>/clear_refs``) and CPU time;
- a minimal keep-alive HTTP/1.1 client (asyncio streams), so that on a 2-core machine the load generator
  takes as little CPU from the server as possible (httpx costs several times more per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-long-enough-0123456789abcdef"
PASSWORD = "bench-password-123"
OPERATOR_EMAIL = "ops@bench.example.cn"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# --- databases -----------------------------------------------------------------------------------------------


async def _pg_admin(admin_url: str, sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def fresh_database(admin_url: str | None, tag: str) -> Iterator[str]:
    """A migrated, empty database: SQLite under a temp dir (``admin_url`` None or a sqlite URL's directory is
    ignored) or ``bench_<tag>_<pid>`` next to a PostgreSQL admin URL, dropped on exit."""
    from sqlalchemy.engine import make_url

    from app.kit.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix=f"bench-{tag}-") as tmp:
        if admin_url and admin_url.startswith("postgresql"):
            name = f"bench_{tag}_{os.getpid()}"
            asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            try:
                upgrade(url)
                yield url
            finally:
                asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            url = admin_url or f"sqlite+aiosqlite:///{tmp}/exchange.db"
            upgrade(url)
            yield url


def backend_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def server_env(url: str, *, sandbox: bool = True, **extra: str) -> dict[str, str]:
    """The server's environment; ``sandbox`` only where the benchmark moves the business clock (a
    production exchange runs without it, and in the sandbox every request reads the clock's offset)."""
    return {
        **os.environ,
        "EXCHANGE_DATABASE_URL": url,
        "EXCHANGE_ENV": "test",
        "EXCHANGE_SECRET_KEY": SECRET,
        "EXCHANGE_SANDBOX": "true" if sandbox else "false",
        "EXCHANGE_FAST_PASSWORD_HASHING": "true",
        "EXCHANGE_LOG_LEVEL": "WARNING",
        "EXCHANGE_ACCESS_TOKEN_MINUTES": "600",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


# --- the market ----------------------------------------------------------------------------------------------


@dataclass
class Bidder:
    index: int
    org_id: str
    user_id: str
    token: str


@dataclass
class AuctionPlan:
    """One English auction to build: ``registrants`` are bidder indexes (qualified, deposit held)."""

    registrants: list[int]
    price: int = 100_000_00  # fen
    increment: int = 100_00
    deposit: int = 1_000_00
    free_bidding_minutes: int = 0
    countdown_seconds: int = 3600
    reserve: int | None = None


@dataclass
class AuctionInfo:
    id: str
    listing_id: str
    start_price: int
    increment: int
    reserve: int | None
    ends_at: datetime
    # bidder index -> (registration id, bidder code)
    registrations: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Market:
    operator_token: str
    seller: Bidder
    bidders: list[Bidder]
    auctions: list[AuctionInfo]


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _credit_code(n: int) -> str:
    from stdnum.cn import uscc

    body = f"91330000{n:09d}"
    return body + uscc.calc_check_digit(body)


def _patent_csv(n: int) -> bytes:
    from app.patents import rules
    from app.patents.importer import COLUMNS

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(n):
        digits = f"20201{i:07d}"
        writer.writerow(
            [
                f"{digits}.{rules.check_character(digits)}",
                f"一种锂电池隔膜的制备方法{i}",
                "本发明公开了一种高孔隙率隔膜，适用于动力电池。",
                "H01M 10/0525",
                "张三;李四",
                "2020-03-15",
                "2022-06-01",
                "",
            ]
        )
    return out.getvalue().encode()


async def build_market(
    url: str,
    *,
    bidders: int,
    plans: list[AuctionPlan],
    starts_at: datetime | None = None,
    batch: int = 50,
    log: Callable[[str], None] = print,
) -> Market:
    """Build ``bidders`` funded organizations and one open English auction per plan (see the module doc).
    Every auction opens at ``starts_at`` (default: now), so auctions with the same terms end together."""
    import httpx
    from sqlalchemy import insert, select, text, update

    from app.accounts.service import create_operator
    from app.auctions import lifecycle
    from app.config import Settings
    from app.kit.clock import SystemClock
    from app.kit.db import create_database
    from app.kit.security import Principal
    from app.ledger.service import account_id
    from app.listings import service as listings
    from app.listings.schemas import ListingCreate
    from app.main import create_app
    from app.models.ledger import AccountKind, EntryKind, JournalEntry, JournalLine, LedgerAccount
    from app.models.listings import Listing, ListingPatent, ListingSearch, ListingStatus
    from app.models.patents import Patent
    from app.models.trading import Auction, Registration
    from app.registrations import service as registrations

    settings = Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        sandbox=True,
        fast_password_hashing=True,
        access_token_minutes=600,
        log_json=False,
        log_level="WARNING",
    )
    db = create_database(url)
    app = create_app(settings, db=db)
    clock = SystemClock()
    calendar = app.state.calendar
    t0 = time.perf_counter()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
        ) as client:

            async def login(email: str) -> str:
                r = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
                r.raise_for_status()
                return str(r.json()["access_token"])

            async with db.transaction() as session:
                op_user = await create_operator(session, OPERATOR_EMAIL, PASSWORD, "Operator", clock)
            op_token = await login(OPERATOR_EMAIL)
            op_headers = {"Authorization": f"Bearer {op_token}"}

            async def organization(n: int, kind: str) -> Bidder:
                email = f"admin{n}@org{n}.bench.example.cn"
                body = {
                    "name": f"基准机构{n}",
                    "kind": kind,
                    "credit_code": _credit_code(n),
                    "admin": {"email": email, "password": PASSWORD, "name": f"管理员{n}"},
                }
                r = await client.post("/api/v1/organizations", json=body)
                assert r.status_code == 201, r.text
                org_id = r.json()["id"]
                r = await client.post(f"/api/v1/organizations/{org_id}/verify", headers=op_headers)
                assert r.status_code == 200, r.text
                token = await login(email)
                me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
                return Bidder(n - 1, org_id, me["id"], token)

            seller = await organization(10_000, "university")
            seller.index = -1
            people = [await organization(i + 1, "enterprise") for i in range(bidders)]
            needs = [0] * bidders
            for plan in plans:
                for i in plan.registrants:
                    needs[i] += plan.deposit
            for person, need in zip(people, needs, strict=True):
                if not need:
                    continue
                r = await client.post(
                    "/api/v1/ledger/payments",
                    json={
                        "organization_id": person.org_id,
                        "amount": _yuan(need),
                        "bank_reference": f"BENCH-{person.org_id}",
                    },
                    headers=op_headers,
                )
                assert r.status_code in (200, 201), r.text
            r = await client.post(
                "/api/v1/patents/import",
                files={"file": ("stock.csv", _patent_csv(len(plans)), "text/csv")},
                headers={"Authorization": f"Bearer {seller.token}"},
            )
            assert r.status_code in (200, 201) and r.json()["created"] == len(plans), r.text[:500]
        log(
            f"  setup: {bidders} bidder organizations, {len(plans)} patents in {time.perf_counter() - t0:.1f}s"
        )

        async with db.read() as session:
            patent_ids = list(
                (
                    await session.scalars(
                        select(Patent.id)
                        .where(Patent.owner_org_id == uuid.UUID(seller.org_id))
                        .order_by(Patent.application_number)
                    )
                ).all()
            )
        op = Principal(user_id=op_user.id, role="operator")
        seller_p = Principal(
            user_id=uuid.UUID(seller.user_id),
            role="admin",
            organization_id=uuid.UUID(seller.org_id),
            org_verified=True,
            org_kind="university",
        )
        buyer_p = [
            Principal(
                user_id=uuid.UUID(b.user_id),
                role="admin",
                organization_id=uuid.UUID(b.org_id),
                org_verified=True,
                org_kind="enterprise",
            )
            for b in people
        ]
        opened_at = starts_at or clock.now()
        # The first auction goes through the services (create, submit, approve, register, open); the others
        # are its clones, bulk-inserted row for row (listing, patent link, search document, auction,
        # registrations, deposit-hold journal entries, balances), without their audit events.
        template = plans[0]
        async with db.transaction() as session:
            terms: dict[str, Any] = {
                "format": "english",
                "increment": _yuan(template.increment),
                "free_bidding_minutes": template.free_bidding_minutes,
                "countdown_seconds": template.countdown_seconds,
            }
            if template.reserve is not None:
                terms["reserve_price"] = _yuan(template.reserve)
            data = ListingCreate.model_validate(
                {
                    "title": "一种锂电池隔膜的制备方法（基准拍卖0）",
                    "summary": "高孔隙率隔膜，适用于动力电池。",
                    "patent_ids": [str(patent_ids[0])],
                    "transaction_kind": "assignment",
                    "pricing_mode": "auction",
                    "price": _yuan(template.price),
                    "deposit": _yuan(template.deposit),
                    "auction": terms,
                }
            )
            listing = await listings.create_listing(session, seller_p, data, clock)
            await listings.submit_listing(session, seller_p, listing.id, clock)
            listing = await listings.approve_listing(session, op, listing.id, clock, calendar)
            regs: dict[int, tuple[str, str]] = {}
            for i in template.registrants:
                reg = await registrations.register(session, buyer_p[i], listing.id, clock)
                regs[i] = (str(reg.id), reg.bidder_code)
            auction = await session.get(Auction, listing.auction_id)
            assert auction is not None
            await lifecycle.open_auction(session, auction, starts_at=opened_at, actor="system")
            assert auction.ends_at is not None
            await listings.set_status(
                session,
                listing,
                ListingStatus.in_auction,
                actor="system",
                action="auction_opened",
                at=opened_at,
            )
            infos = [
                AuctionInfo(
                    str(auction.id),
                    str(listing.id),
                    auction.start_price,
                    auction.increment,
                    template.reserve,
                    auction.ends_at,
                    regs,
                )
            ]
            accounts = {
                (b.org_id, kind): await account_id(session, kind, uuid.UUID(b.org_id))
                for b in people
                for kind in (AccountKind.available, AccountKind.held)
            }
        async with db.read() as session:
            listing_row = dict(
                (await session.execute(select(Listing).where(Listing.id == listing.id))).scalar_one().__dict__
            )
            auction_row = dict(
                (await session.execute(select(Auction).where(Auction.id == auction.id))).scalar_one().__dict__
            )
            search_row = dict(
                (await session.execute(select(ListingSearch).where(ListingSearch.listing_id == listing.id)))
                .scalar_one()
                .__dict__
            )
        for row in (listing_row, auction_row, search_row):
            row.pop("_sa_instance_state", None)
        for plan in plans[1:]:
            same = (
                plan.price,
                plan.increment,
                plan.deposit,
                plan.free_bidding_minutes,
                plan.countdown_seconds,
            )
            assert same == (
                template.price,
                template.increment,
                template.deposit,
                template.free_bidding_minutes,
                template.countdown_seconds,
            ), "every plan shares the template's terms (the reserve may differ)"
        moved: dict[uuid.UUID, int] = {}
        for first in range(1, len(plans), batch):
            rows: dict[str, list[dict[str, Any]]] = {
                "listings": [],
                "links": [],
                "search": [],
                "auctions": [],
                "regs": [],
                "entries": [],
                "lines": [],
            }
            for k in range(first, min(first + batch, len(plans))):
                plan = plans[k]
                lid, aid = uuid.uuid4(), uuid.uuid4()
                listing_terms = dict(listing_row["auction_terms"])
                listing_terms["reserve_price"] = plan.reserve
                rows["listings"].append(
                    {
                        **listing_row,
                        "id": lid,
                        "title": f"一种锂电池隔膜的制备方法（基准拍卖{k}）",
                        "auction_terms": listing_terms,
                        "auction_id": aid,
                    }
                )
                rows["links"].append({"listing_id": lid, "patent_id": patent_ids[k], "position": 0})
                rows["search"].append({**search_row, "listing_id": lid})
                rows["auctions"].append(
                    {**auction_row, "id": aid, "listing_id": lid, "reserve_price": plan.reserve}
                )
                regs = {}
                for position, i in enumerate(plan.registrants, start=1):
                    rid, eid = uuid.uuid4(), uuid.uuid4()
                    code = registrations.bidder_code(position)
                    org = uuid.UUID(people[i].org_id)
                    rows["regs"].append(
                        {
                            "id": rid,
                            "listing_id": lid,
                            "organization_id": org,
                            "status": "qualified",
                            "bidder_code": code,
                            "deposit": plan.deposit,
                            "deposit_status": "held",
                            "deposit_resolved_at": None,
                            "reason": None,
                            "created_at": opened_at,
                            "updated_at": opened_at,
                        }
                    )
                    rows["entries"].append(
                        {
                            "id": eid,
                            "kind": EntryKind.deposit_hold,
                            "at": opened_at,
                            "reference": None,
                            "memo": "deposit held",
                            "actor": buyer_p[i].label,
                            "amount": plan.deposit,
                            "organization_id": org,
                            "deal_id": None,
                            "registration_id": rid,
                        }
                    )
                    source = accounts[(people[i].org_id, AccountKind.available)]
                    target = accounts[(people[i].org_id, AccountKind.held)]
                    for account, amount in ((source, -plan.deposit), (target, plan.deposit)):
                        rows["lines"].append(
                            {"id": uuid.uuid4(), "entry_id": eid, "account_id": account, "amount": amount}
                        )
                        moved[account] = moved.get(account, 0) + amount
                    regs[i] = (str(rid), code)
                infos.append(
                    AuctionInfo(
                        str(aid), str(lid), plan.price, plan.increment, plan.reserve, auction.ends_at, regs
                    )
                )
            async with db.transaction() as session:
                await session.execute(insert(Listing), rows["listings"])
                await session.execute(insert(ListingPatent), rows["links"])
                await session.execute(insert(ListingSearch), rows["search"])
                await session.execute(insert(Auction), rows["auctions"])
                await session.execute(insert(Registration), rows["regs"])
                await session.execute(insert(JournalEntry), rows["entries"])
                await session.execute(insert(JournalLine), rows["lines"])
        async with db.transaction() as session:
            for account, amount in sorted(moved.items()):
                await session.execute(
                    update(LedgerAccount)
                    .where(LedgerAccount.id == account)
                    .values(balance=LedgerAccount.balance + amount)
                )
            if db.dialect == "postgresql":
                for table in ("listings", "auctions", "registrations", "journal_entries", "journal_lines"):
                    await session.execute(text(f"ANALYZE {table}"))
        registered = sum(len(p.registrants) for p in plans)
        log(
            f"  setup: {len(plans)} auctions opened, {registered} registrations (deposits held) "
            f"in {time.perf_counter() - t0:.1f}s total"
        )
        return Market(op_token, seller, people, infos)
    finally:
        await db.dispose()


# --- servers -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"resource_tracker" not in cmd:
            found.append(int(entry))
    return sorted(found)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/<pid>/clear_refs``); ignored where not allowed."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Server:
    base: str
    port: int
    proc: subprocess.Popen[bytes]
    workers: list[int]


@contextlib.contextmanager
def uvicorn_server(
    target: str,
    env: dict[str, str],
    *,
    workers: int,
    app_dir: Path = ROOT,
    ready: str = "/readyz",
    log: Path | None = None,
) -> Iterator[Server]:
    """``python -m uvicorn <target> --workers N`` on 127.0.0.1 (uvicorn's defaults otherwise: uvloop and
    httptools when installed), waiting for ``ready`` to answer 200 in every worker. ``log``: a file for the
    server's stderr (its error log)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--app-dir",
            str(app_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stderr=log.open("ab") if log is not None else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        ok = 0
        while ok < 3 * workers:  # several answers in a row: every worker has started
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server {target} did not start")
            try:
                status, _ = asyncio.run(_get_once(port, ready))
                ok = ok + 1 if status == 200 else 0
            except HttpError:
                ok = 0
                time.sleep(0.1)
        kids = _children(proc.pid)
        while len(kids) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
            kids = _children(proc.pid)
        yield Server(base, port, proc, kids if workers > 1 else [proc.pid])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _get_once(port: int, path: str) -> tuple[int, bytes]:
    conn = HttpConn("127.0.0.1", port)
    try:
        return await conn.request("GET", path)
    finally:
        await conn.close()


# --- a small HTTP/1.1 client ---------------------------------------------------------------------------------


class HttpError(Exception):
    """A transport failure: connection refused or reset, timeout, malformed response."""


class HttpConn:
    """One keep-alive HTTP/1.1 connection; reconnects after a failure. Not for concurrent use."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._request(method, path, body, headers or {})
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        for name, value in headers.items():
            head += f"{name}: {value}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        self._writer.write(head.encode() + payload)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            data = await self._reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await self._reader.readuntil(b"\r\n")
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self._reader.read()
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, data


@contextlib.asynccontextmanager
async def connection(base: str, limit: float = 60.0) -> AsyncIterator[HttpConn]:
    host, port = base.removeprefix("http://").split(":")
    conn = HttpConn(host, int(port), limit)
    try:
        yield conn
    finally:
        await conn.close()


# --- figures -------------------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fen(yuan: str | None) -> int | None:
    if yuan is None:
        return None
    whole, _, cents = yuan.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def yuan(amount: int) -> str:
    return _yuan(amount)


def seconds_until(instant: datetime, now: datetime) -> float:
    return (instant - now) / timedelta(seconds=1)
